/** joblib's spelling: parallel()(delayed(...)), parallelConfig, reuse of one pool. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callSeed, delayed, Pool, parallel, parallelConfig, randomStream } from '../src/index.js';
import tasks, { randomTasks } from './fixtures/tasks.js';
import { range, rejectsWith } from './helpers.js';

describe('parallel()(delayed(...))', () => {
  it('runs delayed calls from an array and returns results in order', async () => {
    const out = await parallel({ nJobs: 2 })(range(50).map((x) => delayed(tasks.square)(x)));
    assert.deepEqual(
      out,
      range(50).map((x) => x * x),
    );
  });

  it('reads a generator lazily, like joblib over a generator expression', async () => {
    let read = 0;
    function* calls() {
      for (let i = 0; i < 2000; i++) {
        read++;
        yield delayed(tasks.add)(i, 1);
      }
    }
    const out = await parallel({ nJobs: 2 })(calls());
    assert.equal(out.length, 2000);
    assert.equal(out[1999], 2000);
    assert.equal(read, 2000);
  });

  it('accepts calls of several tasks in one run, each with its own arguments', async () => {
    const calls = range(30).map((x) => (x % 3 === 0 ? delayed(tasks.add)(x, 100) : delayed(tasks.square)(x)));
    const out = await parallel({ nJobs: 2, backend: 'processes' })(calls);
    assert.deepEqual(
      out,
      range(30).map((x) => (x % 3 === 0 ? x + 100 : x * x)),
    );
  });

  it("returnAs: 'generator' streams in order, 'generatorUnordered' in completion order", async () => {
    const calls = () => [5, 1, 3].map((x) => delayed(tasks.slowSquare)(x, x * 10));
    const ordered: number[] = [];
    for await (const v of parallel({ nJobs: 3, returnAs: 'generator' })(calls())) ordered.push(v);
    assert.deepEqual(ordered, [25, 1, 9]);
    const unordered: number[] = [];
    for await (const v of parallel({ nJobs: 3, returnAs: 'generatorUnordered', batchSize: 1 })(calls())) {
      unordered.push(v);
    }
    assert.deepEqual(
      [...unordered].sort((a, b) => a - b),
      [1, 9, 25],
    );
  });

  it('names the failing call like the pool does', async () => {
    const error = await rejectsWith(
      parallel({ nJobs: 2 })([delayed(tasks.square)(1), delayed(tasks.failOn)(7, 7)]),
      'ERR_TASK_FAILED',
    );
    assert.equal(error.task, 'failOn');
    assert.equal(error.index, 1);
  });

  it('rejects bad options and non-delayed items with clear errors', async () => {
    assert.throws(() => parallel({ nJobs: 0 }), /`nJobs` is 0/);
    assert.throws(() => parallel({ nJobs: 1.5 }), /`nJobs`/);
    assert.throws(() => parallel({ returnAs: 'list' as never }), /`returnAs`/);
    assert.throws(() => parallel({ bogus: true } as never), /Unknown option `bogus`/);
    await assert.rejects(parallel({ nJobs: 1 })([tasks.square as never]), /expects delayed calls/);
  });

  it('reuses one pool across calls when given one (joblib’s `with Parallel(...) as p`)', async () => {
    await using pool = new Pool({ workers: 2 });
    const p = parallel({ pool });
    const first = await p([delayed(tasks.where)()]);
    const second = await p([delayed(tasks.where)()]);
    assert.equal(pool.closed, false, 'parallel() does not close a pool it was given');
    assert.deepEqual(
      [first[0]?.pid, second[0]?.pid],
      [process.pid, process.pid],
      'threads: same process, reused workers',
    );
    assert.ok(pool.liveWorkers > 0);
  });
});

describe('parallelConfig', () => {
  it('sets defaults for parallel() calls inside it, across await, nested and restored', async () => {
    const backendOf = async () => {
      const [w] = await parallel()([delayed(tasks.where)()]);
      return w?.pid === process.pid ? 'threads' : 'processes';
    };
    const seen = await parallelConfig({ backend: 'processes', nJobs: 1 }, async () => {
      const outer1 = await backendOf();
      await new Promise((resolve) => setTimeout(resolve, 5));
      const inner = await parallelConfig({ backend: 'threads' }, () => backendOf());
      const outer2 = await backendOf();
      return [outer1, inner, outer2];
    });
    assert.deepEqual(seen, ['processes', 'threads', 'processes']);
    assert.equal(await backendOf(), 'threads', 'outside, the default again');
  });

  it('explicit options win over the ambient ones; a shared pool can come from the config', async () => {
    await using pool = new Pool({ workers: 1 });
    const out = await parallelConfig({ pool, nJobs: 2 }, () =>
      parallel({ seed: 5 })([delayed(tasks.random)(0), delayed(tasks.random)(1)]),
    );
    const again = await parallel({ seed: 5, nJobs: 2 })([delayed(tasks.random)(0), delayed(tasks.random)(1)]);
    assert.deepEqual(out, again, 'same seed, same streams, whichever pool');
  });
});

describe('parallel() seeds', () => {
  const draws = (n: number) => range(n).map(() => delayed(randomTasks.draw)());
  const serial = (seed: number, call: number, n: number) =>
    range(n).map((i) => randomStream(callSeed(seed, call), i).random());

  it('a runner with a seed numbers its calls like a pool: each call draws fresh streams', async () => {
    const runner = parallel({ seed: 9, nJobs: 2 });
    const first = (await runner(draws(8))).map((d) => d.value);
    const second = (await runner(draws(8))).map((d) => d.value);
    assert.deepEqual(first, serial(9, 0, 8));
    assert.deepEqual(second, serial(9, 1, 8));
    const again = parallel({ seed: 9, nJobs: 1, backend: 'inline' });
    assert.deepEqual(
      [(await again(draws(8))).map((d) => d.value), (await again(draws(8))).map((d) => d.value)],
      [first, second],
      'a new runner with the same seed reproduces the sequence, on any backend',
    );
  });

  it('calls inside parallelConfig({ seed }) are numbered together, nested scopes included', async () => {
    const values = await parallelConfig({ seed: 11, backend: 'inline' }, async () => {
      const a = await parallel()(draws(4));
      const b = await parallelConfig({ nJobs: 1 }, () => parallel()(draws(4)));
      return [a, b].map((run) => run.map((d) => d.value));
    });
    assert.deepEqual(values, [serial(11, 0, 4), serial(11, 1, 4)]);
  });

  it("without a seed, the calls on a shared pool follow the pool's sequence", async () => {
    await using pool = new Pool({ backend: 'inline', seed: 13 });
    const p = parallel({ pool });
    await pool.map(randomTasks.draw, [0]);
    const next = (await p(draws(3))).map((d) => d.value);
    assert.deepEqual(next, serial(13, 1, 3));
  });
});

describe('parallel() settings are checked when given', () => {
  it('a bad backend, nJobs or call default fails at parallel() and at parallelConfig(), not later', () => {
    for (const bad of [
      { backend: 'unit-testing' },
      { nJobs: 0 },
      { timeout: 2 ** 31 },
      { seed: Number.NaN },
      { verbose: -1 },
    ]) {
      assert.throws(() => parallel(bad as never), { code: 'ERR_INVALID_ARG_VALUE' }, JSON.stringify(bad));
      assert.throws(
        () => parallelConfig(bad as never, () => 0),
        { code: 'ERR_INVALID_ARG_VALUE' },
        JSON.stringify(bad),
      );
    }
    assert.throws(() => parallelConfig({ pool: {} as never }, () => 0), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('calls that are not an iterable are a coded error', async () => {
    await rejectsWith((async () => parallel({ backend: 'inline' })(5 as never))(), 'ERR_INVALID_ARG_TYPE');
  });
});
