/** Pool and call options: good values normalise, bad ones are rejected with errors that name them. */

import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { FanoutError, Pool } from '../src/index.js';
import { MAX_WORKERS_PER_CORE } from '../src/options/checks.js';
import tasks, { probes } from './fixtures/tasks.js';

function throwsNamed(make: () => unknown, kind: typeof RangeError | typeof TypeError, name: string) {
  assert.throws(make, (error: unknown) => {
    assert.ok(error instanceof kind, `expected ${kind.name}, got ${error}`);
    assert.ok(error instanceof FanoutError, 'option errors are FanoutErrors too');
    assert.equal(
      (error as { code: string }).code,
      kind === RangeError ? 'ERR_INVALID_ARG_VALUE' : 'ERR_INVALID_ARG_TYPE',
    );
    assert.match((error as Error).message, new RegExp(name));
    return true;
  });
}

describe('workers', () => {
  const cores = availableParallelism();

  it('accepts positive integers, auto and joblib negatives', () => {
    assert.equal(new Pool({ workers: 3 }).workers, 3);
    assert.equal(new Pool({ workers: 'auto' }).workers, cores);
    assert.equal(new Pool().workers, cores);
    assert.equal(new Pool({ workers: -1 }).workers, cores);
    if (cores > 1) assert.equal(new Pool({ workers: -2 }).workers, cores - 1);
  });

  it('rejects 0, NaN, fractions, too-negative numbers and junk, naming `workers`', () => {
    for (const bad of [0, Number.NaN, 1.5, -0.5, Number.POSITIVE_INFINITY, -(cores + 1)]) {
      throwsNamed(() => new Pool({ workers: bad }), RangeError, '`workers`');
    }
    for (const bad of ['4', null, {}, true]) {
      throwsNamed(() => new Pool({ workers: bad as never }), TypeError, '`workers`');
    }
  });

  it('shows what it received', () => {
    assert.throws(() => new Pool({ workers: 0 }), /got 0/);
    assert.throws(() => new Pool({ workers: '4' as never }), /got "4"/);
  });

  it(`refuses more than ${MAX_WORKERS_PER_CORE} workers per core, naming the limit`, () => {
    const limit = MAX_WORKERS_PER_CORE * cores;
    assert.equal(new Pool({ workers: limit }).workers, limit);
    for (const absurd of [limit + 1, 1e9]) {
      throwsNamed(() => new Pool({ workers: absurd }), RangeError, '`workers`');
      assert.throws(
        () => new Pool({ workers: absurd }),
        new RegExp(`more than ${limit} \\(${MAX_WORKERS_PER_CORE} per core`),
      );
      throwsNamed(() => new Pool({ backend: 'processes', workers: absurd }), RangeError, '`workers`');
    }
  });
});

describe('other pool options', () => {
  it('rejects bad values, naming the option', () => {
    const cases: [object, typeof RangeError | typeof TypeError, string][] = [
      [{ backend: 'gpu' }, RangeError, 'backend'],
      [{ backend: 3 }, TypeError, 'backend'],
      [{ batchSize: 0 }, RangeError, 'batchSize'],
      [{ batchSize: 'big' }, TypeError, 'batchSize'],
      [{ preDispatch: -1 }, RangeError, 'preDispatch'],
      [{ timeout: 0 }, RangeError, 'timeout'],
      [{ timeout: '1s' }, TypeError, 'timeout'],
      [{ retries: -1 }, RangeError, 'retries'],
      [{ retries: 1.5 }, RangeError, 'retries'],
      [{ retryOn: 'always' }, RangeError, 'retryOn'],
      [{ seed: 1.5 }, RangeError, 'seed'],
      [{ maxTasksPerWorker: 0 }, RangeError, 'maxTasksPerWorker'],
      [{ maxWorkerMemory: -5 }, RangeError, 'maxWorkerMemory'],
      [{ idleTimeout: Number.NaN }, RangeError, 'idleTimeout'],
      [{ abortGrace: 0 }, RangeError, 'abortGrace'],
      [{ loadTimeout: -1 }, RangeError, 'loadTimeout'],
      [{ execArgv: '--foo' }, TypeError, 'execArgv'],
      [{ resourceLimits: 5 }, TypeError, 'resourceLimits'],
      [{ wrokers: 2 }, RangeError, 'Unknown option `wrokers`'],
      [{ backend: 'inline', workers: 2 }, RangeError, 'concurrency'],
      [{ backend: 'threads', concurrency: 2 }, RangeError, 'concurrency'],
      [{ backend: 'inline', concurrency: 0 }, RangeError, 'concurrency'],
    ];
    for (const [options, kind, name] of cases) throwsNamed(() => new Pool(options as never), kind, name);
  });

  it('an unknown key names the nearest known one, when one is near', async () => {
    assert.throws(() => new Pool({ wrokers: 2 } as never), {
      message: /^Unknown option `wrokers` in the Pool options: did you mean `workers`, how many workers/,
    });
    assert.throws(() => new Pool({ backend: { redis: 'redis://localhost', queues: 'a' } } as never), {
      message: /Unknown option `queues` in the redis backend options: did you mean `queue`/,
    });
    await using pool = new Pool({ backend: 'inline' });
    await assert.rejects(pool.map(tasks.square, [1], { batchsize: 2 } as never), {
      message: /Unknown option `batchsize` in the call options: did you mean `batchSize`/,
    });
    // Nothing near: no guess, only the list.
    assert.throws(
      () => new Pool({ colour: 'red' } as never),
      (error: Error) => {
        assert.doesNotMatch(error.message, /did you mean/);
        assert.match(error.message, /known: .*workers/);
        return true;
      },
    );
  });

  it('rejects bad call options and tasks at the call', async () => {
    const pool = new Pool({ backend: 'inline' });
    await assert.rejects(pool.map(tasks.square, [1], { ordered: 'yes' as never }), /`ordered`/);
    await assert.rejects(pool.map(tasks.square, [1], { errors: 'ignore' as never }), /`errors`/);
    await assert.rejects(pool.map(tasks.square, [1], { signal: {} as never }), /`signal`/);
    await assert.rejects(pool.map(tasks.square, [1], { bogus: 1 } as never), /Unknown option `bogus`/);
    await assert.rejects(pool.map(tasks.square, 5 as never), /`items` to be an array, an iterable/);
    await assert.rejects(pool.map('square' as never, [1]), /`task` to be a task reference/);
    assert.throws(() => pool.imap(tasks.square, [1], { ordered: 1 as never }), /Unknown|`ordered`/);
    await pool.close();
  });
});

describe('durations', () => {
  const LIMIT = 2 ** 31 - 1;

  it('every duration past the timer limit (2^31 − 1 ms) is refused, naming the limit', () => {
    const pools: [string, (ms: number) => unknown][] = [
      ['timeout', (ms) => new Pool({ timeout: ms })],
      ['idleTimeout', (ms) => new Pool({ idleTimeout: ms })],
      ['abortGrace', (ms) => new Pool({ abortGrace: ms })],
      ['loadTimeout', (ms) => new Pool({ loadTimeout: ms })],
      [
        'backend.unavailableTimeout',
        (ms) => new Pool({ backend: { redis: 'redis://localhost', unavailableTimeout: ms } }),
      ],
      [
        'backend.checkInterval',
        (ms) => new Pool({ backend: { redis: 'redis://localhost', checkInterval: ms } }),
      ],
    ];
    for (const [name, make] of pools) {
      for (const ms of [2 ** 31, 1e12]) {
        throwsNamed(() => make(ms), RangeError, `\`${name}\` is ${ms} ms, past the limit of 2147483647 ms`);
      }
    }
    // The limit itself is accepted (it is what a timer can wait), and `idleTimeout` takes Infinity.
    for (const option of ['timeout', 'idleTimeout', 'abortGrace', 'loadTimeout']) {
      assert.ok(new Pool({ [option]: LIMIT }));
    }
    assert.ok(new Pool({ idleTimeout: Number.POSITIVE_INFINITY }));
    throwsNamed(() => new Pool({ idleTimeout: 2 ** 31 }), RangeError, 'use Infinity for no limit');
    throwsNamed(() => new Pool({ timeout: Number.POSITIVE_INFINITY }), RangeError, '`timeout`');
  });

  it('a call timeout past the limit is refused at the call', async () => {
    await using pool = new Pool({ backend: 'inline' });
    await assert.rejects(pool.map(tasks.square, [1], { timeout: 2 ** 31 }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /`timeout` is 2147483648 ms, past the limit/,
    });
  });

  it('maxWorkerMemory is megabytes, and its error says so', () => {
    throwsNamed(
      () => new Pool({ maxWorkerMemory: 0 }),
      RangeError,
      'positive number of megabytes or Infinity',
    );
    assert.ok(new Pool({ maxWorkerMemory: 2 ** 40 }), 'a size is not a timer: no 2^31 limit');
  });
});

describe('resourceLimits and execArgv, per backend', () => {
  it('threads take every ResourceLimits key; processes only maxOldGenerationSizeMb; inline none', () => {
    const all = {
      maxOldGenerationSizeMb: 64,
      maxYoungGenerationSizeMb: 8,
      codeRangeSizeMb: 16,
      stackSizeMb: 4,
    };
    assert.ok(new Pool({ backend: 'threads', resourceLimits: all }));
    assert.ok(new Pool({ backend: 'processes', resourceLimits: { maxOldGenerationSizeMb: 64 } }));
    for (const key of ['maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const) {
      throwsNamed(
        () => new Pool({ backend: 'processes', resourceLimits: { [key]: 8 } }),
        RangeError,
        `\`resourceLimits.${key}\` cannot be applied to the processes backend`,
      );
    }
    throwsNamed(
      () => new Pool({ backend: 'inline', resourceLimits: { maxOldGenerationSizeMb: 64 } }),
      RangeError,
      'does not apply to the inline backend',
    );
    throwsNamed(
      () => new Pool({ resourceLimits: { maxOldSpaceMb: 64 } as never }),
      RangeError,
      'Unknown key `maxOldSpaceMb`',
    );
    throwsNamed(
      () => new Pool({ resourceLimits: { stackSizeMb: -1 } }),
      RangeError,
      'positive number of megabytes',
    );
    throwsNamed(
      () => new Pool({ backend: 'inline', execArgv: ['--no-warnings'] }),
      RangeError,
      '`execArgv` does not apply to the inline backend',
    );
  });
});

describe('inline backend', () => {
  it('overlaps async tasks up to `concurrency`, on the main thread', async () => {
    await using pool = new Pool({ backend: 'inline', concurrency: 4 });
    const maxima = await pool.map(probes.overlap, Array(12).fill(20), { batchSize: 1 });
    assert.equal(Math.max(...maxima), 4);
  });
});
