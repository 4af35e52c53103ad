/**
 * The conformance suite: the same behaviour, asserted the same way, on every backend. Each
 * backend's test file calls `conformanceSuite(backend)`; optional parts are skipped (never left
 * out) according to what the backend supports, so every backend registers the same tests and
 * `registeredTests` can prove the suite did not shrink for one of them.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it as nodeIt } from 'node:test';
import {
  AbortError,
  defineTasks,
  FanoutError,
  NotCloneableError,
  type Pool,
  TaskError,
  WorkerCrashedError,
} from '../../src/index.js';
import tasks, { WithPrivateState } from '../fixtures/tasks.js';
import { type BackendCase, eventually, isAlive, osThreadCount, range, rejectsWith } from '../helpers.js';

const broken = (name: string) => new URL(`../fixtures/broken/${name}`, import.meta.url).href;

/** How many conformance tests each backend registered (skipped ones included). */
export const registeredTests = new Map<string, number>();

/**
 * The size of the suite. Every backend's file checks that it registered exactly this many
 * tests, so the suite cannot shrink for one backend without someone changing this number.
 */
export const CONFORMANCE_TEST_COUNT = 30;

export function conformanceSuite(backend: BackendCase): void {
  const it: typeof nodeIt = ((...args: Parameters<typeof nodeIt>) => {
    registeredTests.set(backend.name, (registeredTests.get(backend.name) ?? 0) + 1);
    return nodeIt(...args);
  }) as typeof nodeIt;
  const crossing = {
    skip: backend.crossesBoundary ? false : 'values do not cross a boundary on this backend',
  };

  describe(`${backend.name}: results`, () => {
    let pool: Pool;
    before(() => {
      pool = backend.pool({ seed: 7 });
    });
    after(() => pool.close());

    it('run returns the value of one task', async () => {
      assert.equal(await pool.run(tasks.add, 2, 3), 5);
    });

    it('run awaits async tasks', async () => {
      assert.equal(await pool.run(tasks.slowSquare, 7, 1), 49);
    });

    it('map keeps input order', async () => {
      const xs = range(2000);
      assert.deepEqual(
        await pool.map(tasks.square, xs),
        xs.map((x) => x * x),
      );
    });

    it('map of nothing is an empty array', async () => {
      assert.deepEqual(await pool.map(tasks.square, []), []);
    });

    it('starmap spreads each tuple into arguments', async () => {
      assert.deepEqual(
        await pool.starmap(tasks.add, [
          [1, 2],
          [3, 4],
          [5, 6],
        ]),
        [3, 7, 11],
      );
    });

    it('accepts any iterable and async iterable', async () => {
      assert.deepEqual(await pool.map(tasks.square, new Set([1, 2, 3])), [1, 4, 9]);
      function* gen() {
        yield* [4, 5];
      }
      assert.deepEqual(await pool.map(tasks.square, gen()), [16, 25]);
      async function* agen() {
        yield 6;
        yield 7;
      }
      assert.deepEqual(await pool.map(tasks.square, agen()), [36, 49]);
    });

    it('keeps values of every plain kind intact', async () => {
      const values = [
        -0,
        Number.NaN,
        2 ** 53,
        'text',
        null,
        undefined,
        true,
        10n,
        { nested: { list: [1, 'a'] } },
        new Date(0),
        new Map([[1, 'one']]),
        new Set(['x']),
        new Float32Array([1.5, 2.5]),
      ];
      const back = await pool.map(tasks.identity, values);
      assert.equal(back.length, values.length);
      assert.ok(Object.is(back[0], -0));
      assert.ok(Number.isNaN(back[1]));
      assert.deepEqual(back.slice(2), values.slice(2));
      // Batches of plain numbers travel packed both ways; a batch that mixes kinds does not.
      const numbers = [-0, Number.NaN, 2 ** 53, -1.5e-300, Number.NEGATIVE_INFINITY, ...range(27)];
      const mixed = [...numbers, 'text', ...numbers];
      assert.deepEqual(await pool.map(tasks.identity, numbers, { batchSize: 16 }), numbers);
      assert.deepEqual(await pool.map(tasks.identity, mixed, { batchSize: 16 }), mixed);
    });

    it('imap streams results in input order', async () => {
      const seen: number[] = [];
      for await (const v of pool.imap(tasks.slowSquare, [5, 1, 4, 2, 3])) seen.push(v);
      assert.deepEqual(seen, [25, 1, 16, 4, 9]);
    });

    it('imap with ordered: false yields every result once, in completion order', async () => {
      const seen: number[] = [];
      for await (const v of pool.imap(tasks.square, range(300), { ordered: false })) seen.push(v);
      assert.deepEqual(
        seen.sort((a, b) => a - b),
        range(300).map((x) => x * x),
      );
    });

    it('istarmap streams tuples', async () => {
      const seen: number[] = [];
      for await (const v of pool.istarmap(tasks.add, [
        [1, 1],
        [2, 2],
      ]))
        seen.push(v);
      assert.deepEqual(seen, [2, 4]);
    });

    it('gives each item its index in taskContext()', async () => {
      assert.deepEqual(await pool.map(tasks.index, range(500)), range(500));
    });

    it('module-level state lives where the task runs', async () => {
      const states = await pool.map(tasks.moduleState, range(50), { batchSize: 1 });
      // Every call increments the counter of the module instance it ran in.
      const perInstance = new Map<number, number[]>();
      for (const s of states) perInstance.set(s.loadedAt, [...(perInstance.get(s.loadedAt) ?? []), s.calls]);
      for (const calls of perInstance.values()) {
        assert.deepEqual(
          calls.sort((a, b) => a - b),
          calls.map((_, i) => (calls[0] as number) + i),
        );
      }
      if (backend.crossesBoundary) assert.ok(states.every((s) => s.pid !== process.pid || s.threadId !== 0));
    });

    it('random streams are reproducible per (seed, index)', async () => {
      const a = await pool.map(tasks.random, range(200));
      const b = await pool.map(tasks.random, range(200), { batchSize: 1 });
      const c = await pool.map(tasks.random, range(200), { seed: 8 });
      assert.deepEqual(a, b);
      assert.notDeepEqual(a, c);
      assert.ok(a.every((x) => x >= 0 && x < 1));
    });

    it('reads the input lazily: breaking out of imap over an endless generator stops it', async () => {
      let read = 0;
      let closed = false;
      function* endless() {
        try {
          for (let i = 0; ; i++) {
            read++;
            yield i;
          }
        } finally {
          closed = true;
        }
      }
      let taken = 0;
      for await (const _ of pool.imap(tasks.square, endless())) {
        if (++taken === 100) break;
      }
      assert.equal(taken, 100);
      assert.ok(closed, 'the generator was closed');
      assert.ok(read < 100_000, `read ${read} items for 100 results`);
    });
  });

  describe(`${backend.name}: errors`, () => {
    let pool: Pool;
    before(() => {
      pool = backend.pool();
    });
    after(() => pool.close());

    it('a task that throws rejects with TaskError carrying the rebuilt cause', async () => {
      const error = await rejectsWith(pool.map(tasks.fail, ['a']), 'ERR_TASK_FAILED');
      assert.ok(error instanceof TaskError && error instanceof FanoutError);
      assert.equal(error.task, 'fail');
      assert.equal(error.index, 0);
      assert.match(error.message, /Task "fail" failed on item 0: RangeError: a/);
      const cause = error.cause as RangeError & { code: string; detail: unknown; cause: unknown };
      assert.ok(cause instanceof RangeError);
      assert.equal(cause.message, 'a');
      assert.equal(cause.code, 'E_CUSTOM');
      assert.deepEqual(cause.detail, { why: 'because' });
      assert.ok(cause.cause instanceof TypeError);
      assert.equal((cause.cause as Error).message, 'root cause');
      assert.match(cause.stack ?? '', /fixtures[/\\]tasks\.ts/);
    });

    it('names the failing item', async () => {
      const error = await rejectsWith(
        pool.starmap(
          tasks.failOn,
          range(1000).map((x) => [x, 500] as [number, number]),
        ),
        'ERR_TASK_FAILED',
      );
      assert.equal(error.index, 500);
    });

    it('an async rejection and a thrown non-error are rebuilt too', async () => {
      const rejected = await rejectsWith(pool.run(tasks.rejectAsync, 'late'), 'ERR_TASK_FAILED');
      assert.ok(rejected.cause instanceof SyntaxError);
      const thrown = await rejectsWith(pool.run(tasks.throwString), 'ERR_TASK_FAILED');
      assert.equal(thrown.cause, 'just a string');
    });

    it("errors: 'collect' settles every item", async () => {
      const settled = await pool.starmap(
        tasks.failOn,
        range(20).map((x) => [x, 13] as [number, number]),
        { errors: 'collect' },
      );
      assert.equal(settled.length, 20);
      settled.forEach((s, i) => {
        if (i === 13) {
          assert.equal(s.status, 'rejected');
          assert.equal((s as { reason: TaskError }).reason.index, 13);
        } else assert.deepEqual(s, { status: 'fulfilled', value: i });
      });
    });

    it('the pool still works after task errors', async () => {
      assert.deepEqual(await pool.map(tasks.square, [3]), [9]);
    });

    it('an argument that cannot cross names its position', crossing, async () => {
      const fn = await rejectsWith(
        pool.run(tasks.identity, () => 1),
        'ERR_NOT_CLONEABLE',
      );
      assert.ok(fn instanceof NotCloneableError);
      assert.match(fn.message, /argument 0 of item 0 is a function/);
      const nested = await rejectsWith(
        pool.starmap(tasks.add, [
          [1, 2],
          [3, { deep: [Symbol('s')] } as unknown as number],
        ]),
        'ERR_NOT_CLONEABLE',
      );
      assert.match(nested.message, /argument 1 of item 1 is a symbol at \.deep\[0\]/);
      const instance = await rejectsWith(
        pool.map(tasks.identity, [new WithPrivateState()]),
        'ERR_NOT_CLONEABLE',
      );
      assert.match(instance.message, /argument of item 0 is an instance of class WithPrivateState/);
    });

    it('a result that cannot cross is ERR_NOT_CLONEABLE naming the result', crossing, async () => {
      const fn = await rejectsWith(pool.run(tasks.returnFunction), 'ERR_NOT_CLONEABLE');
      assert.match(fn.message, /result of item 0 is a function/);
      const instance = await rejectsWith(pool.run(tasks.returnClassInstance), 'ERR_NOT_CLONEABLE');
      assert.match(instance.message, /result of item 0 is an instance of class WithPrivateState/);
    });

    it('a module that fails to import is ERR_TASK_MODULE_LOAD with the cause', crossing, async () => {
      for (const [file, pattern] of [
        ['bad-syntax.mjs', /SyntaxError|Parse error/],
        ['throws-at-load.mjs', /boom at load/],
        ['does-not-exist.mjs', /Cannot find module|ERR_MODULE_NOT_FOUND/],
      ] as const) {
        const ref = defineTasks(broken(file), { f: (x: number) => x });
        if (file === 'does-not-exist.mjs' && backend.registeredModulesOnly) {
          // Its workers could not have been started with a module that does not exist.
          await rejectsWith(pool.map(ref.f, [1, 2]), 'ERR_TASK_NOT_FOUND');
          continue;
        }
        const error = await rejectsWith(pool.map(ref.f, [1, 2]), 'ERR_TASK_MODULE_LOAD');
        assert.match(error.message, pattern);
        assert.ok(error.cause instanceof Error);
      }
    });

    it('an unknown task is ERR_TASK_NOT_FOUND', crossing, async () => {
      const ghost = defineTasks(broken('no-tasks.mjs'), { ghost: () => 0 });
      const unregistered = await rejectsWith(pool.run(ghost.ghost), 'ERR_TASK_NOT_FOUND');
      assert.match(unregistered.message, /registered no tasks/);
      const fake = defineTasks(new URL('../fixtures/tasks.ts', import.meta.url).href, {
        nosuchtask: () => 0,
      });
      const missing = await rejectsWith(pool.run(fake.nosuchtask), 'ERR_TASK_NOT_FOUND');
      assert.match(missing.message, /has no task "nosuchtask" \(it defines: square, add/);
    });
  });

  describe(`${backend.name}: futures`, () => {
    it('cancel() drops a task that has not started', {
      skip:
        backend.knowsStart === false &&
        'a task starts when a worker takes its job, which the caller learns later',
    }, async () => {
      const pool = backend.pool({ workers: 1 });
      try {
        const first = pool.run(tasks.slowSquare, 2, 300);
        const second = pool.run(tasks.square, 3);
        assert.equal(first.running, false, 'not running before a worker has it');
        await eventually(() => first.running, 30_000, 'the first task to start');
        assert.equal(second.running, false);
        assert.equal(second.cancel(), true);
        assert.equal(second.cancelled, true);
        assert.equal(second.done, true);
        const error = await rejectsWith(second, 'ABORT_ERR');
        assert.ok(error instanceof AbortError);
        assert.equal(first.cancel(), false);
        assert.equal(await first, 4);
        assert.equal(first.done, true);
      } finally {
        await pool.close();
      }
    });
  });

  describe(`${backend.name}: lifecycle`, () => {
    it('close() waits for work in progress, then refuses new work', async () => {
      const pool = backend.pool();
      const running = pool.map(tasks.slowSquare, range(20));
      const closing = pool.close();
      assert.deepEqual(
        await running,
        range(20).map((x) => x * x),
      );
      await closing;
      assert.equal(pool.closed, true);
      await rejectsWith(pool.map(tasks.square, [1]), 'ERR_POOL_CLOSED');
      await rejectsWith(pool.run(tasks.square, 1), 'ERR_POOL_CLOSED');
      const iterator = pool.imap(tasks.square, [1])[Symbol.asyncIterator]();
      await rejectsWith(iterator.next(), 'ERR_POOL_CLOSED');
      assert.equal(pool.liveWorkers, 0);
    });

    it('terminate() stops at once: work in progress rejects with ERR_POOL_CLOSED', async () => {
      const pool = backend.pool();
      const running = pool.starmap(
        tasks.slowSquare,
        [1, 2, 3, 4].map((x) => [x, 2000] as [number, number]),
      );
      const rejected = rejectsWith(running, 'ERR_POOL_CLOSED');
      await new Promise((resolve) => setTimeout(resolve, 20));
      await pool.terminate();
      await rejected;
      assert.equal(pool.liveWorkers, 0);
    });

    it('await using closes the pool at the end of the scope', async () => {
      let escaped: Pool;
      {
        await using pool = backend.pool();
        escaped = pool;
        assert.equal(await pool.run(tasks.square, 4), 16);
      }
      assert.equal(escaped.closed, true);
      assert.equal(escaped.liveWorkers, 0);
    });

    it('no worker outlives close() or terminate()', {
      skip:
        (backend.name === 'inline' && 'no workers') ||
        (backend.ownsWorkers === false &&
          'its workers are separate processes, started and stopped by their owner'),
    }, async () => {
      for (const stop of ['close', 'terminate'] as const) {
        const threadsBefore = osThreadCount();
        const pool = backend.pool({ workers: 2 });
        const where = await pool.map(tasks.where, range(8), { batchSize: 1 });
        if (backend.name === 'threads') assert.ok(osThreadCount() >= threadsBefore + 2);
        await pool[stop]();
        if (backend.name === 'threads')
          assert.equal(osThreadCount(), threadsBefore, `threads left after ${stop}`);
        else {
          const pids = [...new Set(where.map((w) => w.pid))];
          assert.ok(pids.length >= 1 && !pids.includes(process.pid));
          for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} left after ${stop}`);
        }
      }
    });
  });

  describe(`${backend.name}: cancellation`, () => {
    it('an aborted signal rejects the call with ABORT_ERR and stops it', async () => {
      await using pool = backend.pool();
      const controller = new AbortController();
      let finished = 0;
      const error = await rejectsWith(
        pool.map(tasks.slowSquare, range(200), {
          signal: controller.signal,
          batchSize: 1,
          onProgress: ({ done }) => {
            finished = done;
            if (done === 3) controller.abort(new Error('enough'));
          },
        }),
        'ABORT_ERR',
      );
      assert.ok(error instanceof AbortError);
      assert.equal((error.cause as Error).message, 'enough');
      assert.ok(finished < 200, `${finished} items finished after the abort`);
      await rejectsWith(pool.map(tasks.square, [1], { signal: AbortSignal.abort() }), 'ABORT_ERR');
      assert.deepEqual(await pool.map(tasks.square, [4]), [16], 'the pool still works');
    });
  });

  describe(`${backend.name}: crashes`, () => {
    const killable = { skip: backend.killable ? false : 'a worker on this backend cannot be killed' };
    it(
      'a worker that exits mid-task fails that task with ERR_WORKER_CRASHED; the others complete',
      killable,
      async () => {
        await using pool = backend.pool();
        const crash = await rejectsWith(pool.run(tasks.exit, 3), 'ERR_WORKER_CRASHED');
        assert.ok(crash instanceof WorkerCrashedError);
        assert.match(crash.message, /exited with code 3/);
        assert.deepEqual(
          await pool.map(tasks.square, range(10)),
          range(10).map((x) => x * x),
        );
      },
    );
  });
}
