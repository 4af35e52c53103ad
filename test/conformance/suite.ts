/**
 * The conformance suite: the same behaviour, asserted the same way, on every backend. Each
 * backend's test file calls `conformanceSuite(backend)`; optional parts are skipped (never left
 * out) according to what the backend supports, so every backend registers the same tests and
 * `registeredTests` can prove the suite did not shrink for one of them.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AbortError,
  ActorDiedError,
  callSeed,
  chunks,
  type Delayed,
  DependencyFailedError,
  defineTasks,
  delayed,
  FanoutError,
  NotCloneableError,
  type Pool,
  parallel,
  randomStream,
  type Settled,
  TaskError,
  WorkerCrashedError,
} from '../../src/index.js';
import actors, { workerTasks } from '../fixtures/actors.js';
import faults from '../fixtures/faults.js';
import spmdTasks from '../fixtures/spmd-tasks.js';
import tasks, {
  hostileTasks,
  nestedTasks,
  overlapTasks,
  pieceTasks,
  randomTasks,
  WithPrivateState,
} from '../fixtures/tasks.js';
import {
  type BackendCase,
  eventually,
  Gate,
  isAlive,
  osThreadCount,
  range,
  rejectsWith,
  runScript,
} from '../helpers.js';
import { gate, type Gate as TestGate } from '../requirements.js';
import { SYNC_TEST_COUNT, syncSection } from './sync-suite.js';

const broken = (name: string) => new URL(`../fixtures/broken/${name}`, import.meta.url).href;
const openPoolScript = fileURLToPath(new URL('../fixtures/open-pool.ts', import.meta.url));
const abandonedStreamScript = fileURLToPath(new URL('../fixtures/abandoned-stream.ts', import.meta.url));

/**
 * Run `body` with a pool and a gate a task can wait on. The gate is opened when `body` ends,
 * however it ends, before the pool closes (which waits for that task); it is removed after.
 */
async function withGate(
  backend: BackendCase,
  body: (gate: Gate, pool: Pool) => Promise<void>,
): Promise<void> {
  const gate = new Gate();
  try {
    const pool = backend.pool();
    try {
      await body(gate, pool);
    } finally {
      gate.open();
      await pool.close();
    }
  } finally {
    gate.remove();
  }
}

export const registeredTests = new Map<string, number>();

/**
 * The size of the suite. Every backend's file checks that it registered exactly this many
 * tests, so the suite cannot shrink for one backend without someone changing this number.
 */
export const CONFORMANCE_TEST_COUNT = 80 + SYNC_TEST_COUNT;

/**
 * Register the suite for `backend`. `tests` are the node:test functions to register with: a
 * closed gate (the backend's server is missing) registers every test as skipped.
 */
export function conformanceSuite(backend: BackendCase, tests: TestGate = gate(false)): void {
  const { describe, before, after, it: nodeIt } = tests;
  const it: typeof nodeIt = ((...args: Parameters<typeof nodeIt>) => {
    registeredTests.set(backend.name, (registeredTests.get(backend.name) ?? 0) + 1);
    return nodeIt(...args);
  }) as typeof nodeIt;
  const crossing = {
    skip: backend.crossesBoundary ? false : 'values do not cross a boundary on this backend',
  };

  syncSection(backend, it, describe);

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

  describe(`${backend.name}: values`, () => {
    type Draw = { value: number; seed: number; index: number };
    /** Item `index` of call `call` on a pool seeded with `seed`, drawn serially. */
    const serialDraw = (seed: number, call: number, index: number) =>
      randomStream(callSeed(seed, call), index).random();

    it('every call draws fresh random streams; the same seed and calls reproduce them', async () => {
      const seed = 2024;
      const calls = async (pool: Pool, batchSize: number | 'auto') => {
        // Calls 0-4 start in this order, at once; the maps are calls 5 and 6.
        const runs = await Promise.all(range(5).map(() => pool.run(randomTasks.draw)));
        const first = await pool.map(randomTasks.draw, range(40), { batchSize });
        const second = await pool.map(randomTasks.draw, range(40), { batchSize });
        return { runs, first, second };
      };
      let one: Awaited<ReturnType<typeof calls>>;
      {
        await using pool = backend.pool({ seed });
        assert.equal(pool.seed, seed);
        one = await calls(pool, 'auto');
      }
      assert.equal(new Set(one.runs.map((r) => r.value)).size, 5, 'five runs, five different values');
      assert.notDeepEqual(
        one.first.map((r) => r.value),
        one.second.map((r) => r.value),
        'two identical maps draw different values',
      );
      const expected = (draws: Draw[], call: number) =>
        draws.map((d) => ({
          value: serialDraw(seed, call, d.index),
          seed: callSeed(seed, call),
          index: d.index,
        }));
      for (const [k, run] of one.runs.entries()) assert.deepEqual(run, expected([run], k)[0], `run ${k}`);
      assert.deepEqual(one.first, expected(one.first, 5), 'call 5, replayed serially');
      assert.deepEqual(one.second, expected(one.second, 6), 'call 6, replayed serially');
      // Another pool with the same seed, other worker count and batch sizes: the same numbers.
      await using again = backend.pool({ seed, workers: 1 });
      assert.deepEqual(await calls(again, 3), one);
    });

    it('parallel() and reduceChunks calls draw fresh streams too, reproducibly', async () => {
      const seed = 77;
      const calls = async (pool: Pool) => {
        const p = parallel({ pool });
        const a = await p(range(10).map(() => delayed(randomTasks.draw)()));
        const b = await p(range(10).map(() => delayed(randomTasks.draw)()));
        const reduce = () =>
          pool.reduceChunks(chunks.fromIterable(range(6), { size: 2 }), {
            map: randomTasks.drawChunk,
            combine: (all: number[], part: number[]) => [...all, ...part],
            initial: [] as number[],
          });
        return { a, b, c: await reduce(), d: await reduce() };
      };
      await using pool = backend.pool({ seed });
      const one = await calls(pool);
      assert.deepEqual(
        one.a.map((d) => d.value),
        range(10).map((i) => serialDraw(seed, 0, i)),
      );
      assert.deepEqual(
        one.b.map((d) => d.value),
        range(10).map((i) => serialDraw(seed, 1, i)),
      );
      assert.deepEqual(
        one.c,
        range(3).map((i) => serialDraw(seed, 2, i)),
      );
      assert.deepEqual(
        one.d,
        range(3).map((i) => serialDraw(seed, 3, i)),
      );
      assert.notDeepEqual(one.c, one.d);
      await using again = backend.pool({ seed });
      assert.deepEqual(await calls(again), one);
    });

    it('a task that throws a value whose reading throws fails with ERR_TASK_FAILED, described', async () => {
      // retries would re-run a crash: a task error is not one, and must not be reported as one.
      await using pool = backend.pool({ retries: 2 });
      for (const [task, pattern] of [
        [hostileTasks.throwTrappedProxy, /failed on item 0: Error: Non-error value thrown: a Proxy$/],
        [hostileTasks.throwRevokedProxy, /Non-error value thrown: a Proxy$/],
        [hostileTasks.throwErrorWithThrowingGetters, /Error: \(its message could not be read: a Proxy\)$/],
        [hostileTasks.throwUnprintable, /Non-error value thrown: an object that cannot be described$/],
        [hostileTasks.rejectWithTrappedProxy, /Non-error value thrown: a Proxy$/],
      ] as const) {
        const error = await rejectsWith(pool.run(task), 'ERR_TASK_FAILED');
        assert.match(error.message, pattern, task.taskName);
        assert.ok(error.cause instanceof Error, task.taskName);
      }
      const settled = await pool.map(hostileTasks.throwTrappedProxy, [1, 2], { errors: 'collect' });
      assert.deepEqual(
        settled.map((s) => s.status),
        ['rejected', 'rejected'],
      );
      assert.deepEqual(await pool.map(tasks.square, [3]), [9], 'the pool still works');
    });

    it('a timeout past the timer limit (2^31 − 1 ms) is refused; the limit itself is honoured', async () => {
      assert.throws(
        () => backend.pool({ timeout: 2 ** 31 }),
        (error: Error & { code?: string }) =>
          error.code === 'ERR_INVALID_ARG_VALUE' && /2147483647 ms/.test(error.message),
      );
      await using pool = backend.pool();
      // Node would clamp such a timer to 1 ms: the item would time out at once.
      const refused = await rejectsWith(
        pool.map(tasks.slowSquare, [3], { timeout: 2 ** 31 }),
        'ERR_INVALID_ARG_VALUE',
      );
      assert.match(refused.message, /`timeout` is 2147483648 ms, past the limit of 2147483647 ms/);
      assert.deepEqual(await pool.map(tasks.slowSquare, [3], { timeout: 2 ** 31 - 1 }), [9]);
    });
  });

  describe(`${backend.name}: futures`, () => {
    it('cancel() drops a task that has not started', {
      skip:
        backend.knowsStart === false &&
        'a task starts when a worker takes its job, which the caller learns later',
    }, async () => {
      // One task at a time per worker: the second cannot start while the first awaits.
      const oneAtATime =
        backend.name === 'threads' || backend.name === 'processes' ? { concurrentTasksPerWorker: 1 } : {};
      const pool = backend.pool({ workers: 1, ...oneAtATime });
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

    it('an abort reaches tasks already running: each sees its signal abort', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fanout-conformance-'));
      try {
        await using pool = backend.pool();
        const marks = [join(dir, 'a'), join(dir, 'b')];
        const controller = new AbortController();
        const rejected = rejectsWith(
          pool.map(faults.markOnAbort, marks, { signal: controller.signal, batchSize: 1 }),
          'ABORT_ERR',
        );
        await eventually(() => marks.every((m) => existsSync(`${m}.started`)), 30_000, 'both tasks to start');
        controller.abort(new Error('stop'));
        await rejected;
        // On redis the tasks run on other machines: the caller tells their workers to stop them.
        await eventually(() => marks.every((m) => existsSync(m)), 30_000, 'both tasks to see their signal');
        assert.deepEqual(await pool.map(tasks.square, [4]), [16], 'the pool still works');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
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

    const ownThread = {
      skip: backend.killable
        ? false
        : "on this backend a task's stray rejection is the caller's own: nothing dies but the program",
    };
    it(
      'a worker that dies just after its item returned fails no item: every result is kept',
      ownThread,
      async () => {
        await using pool = backend.pool();
        const items = range(12).map((x) => [x, x % 3 === 1 ? 'stray' : null] as [number, 'stray' | null]);
        assert.deepEqual(await pool.starmap(tasks.returnThenDie, items), range(12));
        assert.deepEqual(
          await pool.starmap(tasks.returnThenDie, items, { errors: 'collect' }),
          range(12).map((value) => ({ status: 'fulfilled', value })),
        );
      },
    );

    it(
      "among workers dying between items, only the item that crashes one fails, named (errors: 'collect')",
      ownThread,
      async () => {
        await using pool = backend.pool();
        const how = (x: number) => (x === 7 ? 'exit' : x % 3 === 1 ? 'stray' : null);
        const settled = await pool.starmap(
          tasks.returnThenDie,
          range(12).map((x) => [x, how(x)] as [number, 'stray' | 'exit' | null]),
          { errors: 'collect' },
        );
        for (const [i, s] of settled.entries()) {
          if (i !== 7) {
            assert.deepEqual(s, { status: 'fulfilled', value: i }, `item ${i}`);
            continue;
          }
          assert.equal(s.status, 'rejected');
          const reason = (s as { reason: WorkerCrashedError }).reason;
          assert.ok(reason instanceof WorkerCrashedError, String(reason));
          assert.equal(reason.index, 7);
        }
      },
    );
  });

  describe(`${backend.name}: async tasks overlap in a worker`, () => {
    /**
     * One worker that keeps `n` async items in flight (inline: `n` tasks in progress; redis: its
     * `fanout worker`s' own limit, 16 by default, over the pool's `n` batches in flight).
     */
    const overlapping = (n: number, options: Record<string, unknown> = {}) =>
      backend.name === 'threads' || backend.name === 'processes'
        ? backend.pool({ workers: 1, concurrentTasksPerWorker: n, ...options })
        : backend.pool({ workers: n, ...options });
    /** A directory for markers, removed after `body`. */
    const withMarkers = async (body: (dir: string) => Promise<void>) => {
      const dir = mkdtempSync(join(tmpdir(), 'fanout-overlap-'));
      try {
        await body(dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };

    it('each of three async items finishes only after the others started: they overlap; each keeps its own taskContext()', async () => {
      await withMarkers(async (dir) => {
        await using pool = overlapping(3);
        const names = ['a', 'b', 'c'];
        const rows = (tag: string) =>
          names.map(
            (n) =>
              [dir, `${tag}${n}`, names.filter((o) => o !== n).map((o) => `${tag}${o}`)] as [
                string,
                string,
                string[],
              ],
          );
        // One item per batch, then all three in one batch: items overlap across batches and within
        // one (not on inline, where each of the `concurrency` tasks in progress is a batch's).
        assert.deepEqual(await pool.starmap(overlapTasks.rendezvous, rows('x'), { batchSize: 1 }), [
          [0, 0],
          [1, 1],
          [2, 2],
        ]);
        if (backend.name === 'inline') return;
        assert.deepEqual(await pool.starmap(overlapTasks.rendezvous, rows('y'), { batchSize: 3 }), [
          [0, 0],
          [1, 1],
          [2, 2],
        ]);
      });
    });

    const killable = { skip: backend.killable ? false : 'a worker on this backend cannot be killed' };
    it(
      'a worker that exits with several items in flight fails only the item that killed it',
      killable,
      async () => {
        await withMarkers(async (dir) => {
          await using pool = overlapping(3);
          // a and b wait for each other and for the marker the third leaves just before it exits.
          const a = pool.run(overlapTasks.rendezvous, dir, 'a', ['b', 'exiting']);
          const b = pool.run(overlapTasks.rendezvous, dir, 'b', ['a', 'exiting']);
          const exit = pool.run(overlapTasks.exitWhenMet, dir, ['a', 'b']);
          const crash = await rejectsWith(exit, 'ERR_WORKER_CRASHED');
          assert.match(crash.message, /exited with code 4/);
          assert.deepEqual(await Promise.all([a, b]), [
            [0, 0],
            [0, 0],
          ]);
        });
      },
    );

    it(
      'an item run again alone after its worker died does not wait behind items in flight that await it',
      killable,
      async () => {
        await withMarkers(async (dir) => {
          await using pool = backend.pool({ workers: 2 });
          // Two workers: two items that block their worker until the other one has started.
          const both = await pool.starmap(
            overlapTasks.rendezvousBlocking,
            [
              [dir, 'w0', ['w1']],
              [dir, 'w1', ['w0']],
            ],
            { batchSize: 1 },
          );
          assert.notDeepEqual(both[0], both[1], 'they ran on two workers');
          // b awaits a on one worker; a's first attempt ends the other. Which of a's items killed
          // it is not known there, so a runs again alone (nothing else in flight on its worker):
          // behind b, it would wait for b, which waits for it.
          const b = pool.starmap(overlapTasks.rendezvous, [[dir, 'b', ['a']]]);
          await eventually(() => existsSync(join(dir, 'b')), 30_000, 'b to start');
          const a = pool.starmap(overlapTasks.exitOnceThenRendezvous, [[dir, 'a', ['b']]]);
          assert.deepEqual(await Promise.all([a, b]), [[[0, 0]], [[0, 0]]]);
          assert.ok(existsSync(join(dir, 'a.exited')), "a's first attempt ended its worker");
        });
      },
    );

    it("an awaiting item's time limit runs while others start beside it", killable, async () => {
      await withMarkers(async (dir) => {
        await using pool = overlapping(3);
        const hang = pool.map(overlapTasks.hang, [0], { timeout: 300 });
        const met = pool.starmap(overlapTasks.rendezvous, [
          [dir, 'a', ['b']],
          [dir, 'b', ['a']],
        ]);
        const error = await rejectsWith(hang, 'ERR_TASK_TIMEOUT');
        assert.equal(error.index, 0);
        assert.deepEqual(await met, [
          [0, 0],
          [1, 1],
        ]);
      });
    });
  });

  describe(`${backend.name}: nested parallelism`, () => {
    it('a chain of 25 tasks, each awaiting its child, runs on 2 workers without deadlock', async () => {
      // One async task at a time per worker: a parent awaiting its child must not count.
      const oneAtATime =
        backend.name === 'threads' || backend.name === 'processes' ? { concurrentTasksPerWorker: 1 } : {};
      await using pool = backend.pool({ workers: 2, ...oneAtATime });
      assert.equal(await pool.run(nestedTasks.chain, 25), 25);
      // And as its local call, where children are direct calls.
      assert.equal(await nestedTasks.chain(25), 25);
    });

    it('tasks fan out to children and combine their values (fib, a map of children)', async () => {
      await using pool = backend.pool({ workers: 2 });
      assert.deepEqual(await pool.map(nestedTasks.fib, [0, 1, 2, 10]), [0, 1, 1, 55]);
      assert.equal(
        await pool.run(nestedTasks.sumOfSquares, 20),
        range(20).reduce((a, x) => a + x * x, 0),
      );
    });

    it("a child that fails rejects its parent's await with the child's coded error", async () => {
      await using pool = backend.pool({ workers: 2 });
      assert.match(
        await pool.run(nestedTasks.childFails, 'boom'),
        /^ERR_TASK_FAILED: Task "fail" failed on item 0: .*boom/,
      );
    });

    it('cancelling the parent cancels its children', {
      skip: backend.knowsStart === false && 'a started batch cannot be cancelled on this backend',
    }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fanout-nested-'));
      try {
        await using pool = backend.pool({ workers: 2 });
        const controller = new AbortController();
        const parent = pool.runWith(nestedTasks.parentOfWatcher, [dir], { signal: controller.signal });
        await eventually(() => existsSync(join(dir, 'started')), 30_000, 'the child to start');
        controller.abort();
        await rejectsWith(parent, 'ABORT_ERR');
        await eventually(() => existsSync(join(dir, 'aborted')), 30_000, "the child's signal to abort");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe(`${backend.name}: child calls with a signal`, () => {
    it('a child aborted in the deque never starts; one aborted while it runs sees its signal abort', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fanout-child-signal-'));
      try {
        await using pool = backend.pool({ workers: 2 });
        assert.deepEqual(await pool.run(nestedTasks.cancelledChildren, dir), [
          'ABORT_ERR',
          'ABORT_ERR',
          'ABORT_ERR',
          'ERR_INVALID_ARG_VALUE',
          'no cancelled child ran',
        ]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe(`${backend.name}: fair dispatch`, () => {
    // Each slow task here waits for a file, blocking its thread; on the inline backend, where that
    // thread is the caller's, it waits without blocking it.
    const wait = backend.name === 'inline' ? 'yield' : 'block';
    type Gated = [gate: string | null, x: number, wait: 'block' | 'yield', ms?: number];

    it('a task that runs until released does not hold up other work: a small map completes meanwhile', async () => {
      await withGate(backend, async (gate, pool) => {
        const blocked = pool.starmap(tasks.gated, [[gate.path, 7, wait]]);
        await eventually(() => gate.started, 30_000, 'the gated task to start');
        // Nothing waits behind the task that never ends by itself: every item runs elsewhere.
        assert.deepEqual(
          await pool.map(tasks.square, range(8)),
          range(8).map((x) => x * x),
        );
        assert.equal(gate.opened, false);
        gate.open();
        assert.deepEqual(await blocked, [49]);
      });
    });

    it('imap with ordered: false yields the fast items while the first one is still running', async () => {
      await withGate(backend, async (gate, pool) => {
        const items: Gated[] = [[gate.path, 100, wait], ...range(5).map((x): Gated => [null, x, wait])];
        const seen: number[] = [];
        for await (const value of pool.istarmap(tasks.gated, items, { ordered: false })) {
          seen.push(value);
          // The gate opens only once every fast item has arrived: a fast item held behind the
          // slow one would hang here.
          if (seen.length === 5) gate.open();
        }
        assert.deepEqual(
          seen.slice(0, 5).sort((a, b) => a - b),
          [0, 1, 4, 9, 16],
        );
        assert.equal(seen[5], 10_000);
      });
    });

    it('a task that runs long in the middle of a call does not hold the batches queued behind it', async () => {
      // Without claim cells (processes) a batch queued behind a task is taken back only once that
      // task lets its worker's thread go: there the slow task waits without blocking it.
      const slowWait = backend.takesBackFromBlocked === false ? 'yield' : wait;
      await withGate(backend, async (gate, pool) => {
        // One item per batch, quick ones first: by the time the slow one starts, the call knows
        // its items are short, and queues some behind it. (Each takes 0.5 ms: a worker holds
        // back the results of shorter batches, up to 1 ms, to send them together, and those a
        // task that blocks its thread would delay until it ends.)
        const items = range(61).map(
          (x): Gated => (x === 30 ? [gate.path, x, slowWait, 0] : [null, x, wait, 0.5]),
        );
        const seen: number[] = [];
        for await (const value of pool.istarmap(tasks.gated, items, { ordered: false, batchSize: 1 })) {
          seen.push(value);
          if (seen.length === 60) gate.open();
        }
        assert.equal(seen.length, 61);
        assert.equal(seen[60], 900, 'the slow item came last');
        assert.deepEqual(
          [...seen].sort((a, b) => a - b),
          range(61)
            .map((x) => x * x)
            .sort((a, b) => a - b),
        );
      });
    });

    it('starts workers only for work that waits: one task, one worker', {
      skip: backend.ownsWorkers === false && 'its workers are separate processes, started by their owner',
    }, async () => {
      await using pool = backend.pool({ workers: 4 });
      assert.equal(pool.liveWorkers, 0);
      assert.deepEqual(await pool.map(tasks.square, []), []);
      assert.equal(pool.liveWorkers, 0, 'a call with no items starts no worker');
      assert.equal(await pool.run(tasks.square, 3), 9);
      assert.equal(pool.liveWorkers, 1);
      await pool.map(tasks.square, [1, 2], { batchSize: 1 });
      assert.ok(pool.liveWorkers <= 2, `${pool.liveWorkers} workers for 2 batches`);
    });
  });

  describe(`${backend.name}: task graphs`, () => {
    let pool: Pool;
    before(() => {
      pool = backend.pool({ workers: 2 });
    });
    after(() => pool.close());

    it('a future in the arguments is a dependency: top level, inside arrays and plain objects', async () => {
      const a = pool.run(tasks.add, 1, 2);
      const b = pool.run(tasks.add, a, 10);
      const c = pool.run(tasks.identity, { pair: [a, b], label: 'x', deep: { b } });
      assert.deepEqual(await c, { pair: [3, 13], label: 'x', deep: { b: 13 } });
      // A delayed call in a run's arguments runs first, once for every run that uses it.
      const shared = delayed(tasks.square)(4);
      const [d, e] = await Promise.all([pool.run(tasks.add, shared, 1), pool.run(tasks.add, shared, 2)]);
      assert.deepEqual([d, e], [17, 18]);
    });

    it('parallel(): nested delayed calls are computed first, a shared one once', async () => {
      const leaf = (x: number) => delayed(tasks.leaf)(x);
      assert.deepEqual(await parallel({ pool })([delayed(tasks.add)(leaf(1), leaf(2)), leaf(3)]), [3, 3]);
      const shared = delayed(tasks.square)(5);
      let ran = 0;
      const results = await pool.compute(
        { sums: [delayed(tasks.add)(shared, 1), delayed(tasks.add)(shared, 2)], same: shared },
        { onBatch: (batch) => (ran += batch.count) },
      );
      assert.deepEqual(results, { sums: [26, 27], same: 25 });
      assert.equal(ran, 3, 'three nodes ran: the shared square once, and two adds');
    });

    it('a failed dependency fails its dependents with ERR_DEPENDENCY_FAILED, cause the root failure', async () => {
      const failing = pool.run(tasks.fail, 'root');
      const dependent = pool.run(tasks.add, failing, 1);
      const further = pool.run(tasks.identity, [dependent]);
      for (const future of [dependent, further]) {
        const error = await rejectsWith(future, 'ERR_DEPENDENCY_FAILED');
        assert.ok(error instanceof DependencyFailedError);
        assert.ok(error.cause instanceof TaskError, 'the cause is the root TaskError');
        assert.equal((error.cause as TaskError).task, 'fail');
        assert.equal(error.dependency, 'fail');
        assert.match(error.message, /dependency "fail".*root/);
      }
      await rejectsWith(failing, 'ERR_TASK_FAILED');
      // In a graph, fail-fast rejects with the root failure itself.
      const graph = delayed(tasks.add)(delayed(tasks.fail)('in a graph'), 1);
      const error = await rejectsWith(pool.compute(graph), 'ERR_TASK_FAILED');
      assert.match(error.message, /in a graph/);
    });

    it("errors: 'collect' settles every node: the failure, its dependents, and the others", async () => {
      const bad = delayed(tasks.fail)('collected');
      const settled = await parallel({ pool, errors: 'collect' })([
        bad,
        delayed(tasks.add)(bad, 1),
        delayed(tasks.add)(delayed(tasks.add)(bad, 1), 2),
        delayed(tasks.add)(delayed(tasks.square)(3), 1),
      ]);
      assert.equal(settled.length, 4);
      const [root, child, grandchild, fine] = settled as unknown as Settled<number>[];
      assert.equal(
        root?.status === 'rejected' && (root.reason as Error & { code: string }).code,
        'ERR_TASK_FAILED',
      );
      for (const record of [child, grandchild]) {
        assert.ok(record?.status === 'rejected');
        assert.ok(record.reason instanceof DependencyFailedError);
        assert.ok(record.reason.cause instanceof TaskError);
        assert.equal(record.reason.dependency, 'fail');
        assert.equal(record.reason.dependencyIndex, 0, 'the failed node is named by its number');
      }
      assert.deepEqual(fine, { status: 'fulfilled', value: 10 });
    });

    it('cancelling a dependent leaves a dependency others need; a cancelled dependency fails its dependents', async () => {
      const shared = delayed(tasks.square)(3);
      const cancelled = pool.run(tasks.add, shared, 1);
      const kept = pool.run(tasks.add, shared, 2);
      assert.equal(cancelled.cancel(), true, 'a run waiting for its dependencies can be cancelled');
      await rejectsWith(cancelled, 'ABORT_ERR');
      assert.equal(await kept, 11, 'the shared dependency still ran for the other run');
      const gate = pool.run(tasks.slowSquare, 2, 1);
      const waiting = pool.run(tasks.add, gate, 1);
      const controller = new AbortController();
      const aborted = pool.runWith(tasks.add, [waiting, 1], { signal: controller.signal });
      const after = pool.run(tasks.add, aborted, 1);
      controller.abort();
      await rejectsWith(aborted, 'ABORT_ERR');
      const error = await rejectsWith(after, 'ERR_DEPENDENCY_FAILED');
      assert.ok(error.cause instanceof AbortError, 'the cause is the cancellation');
      assert.match(error.message, /was cancelled/);
      assert.equal(await waiting, 5, 'an aborted dependent does not cancel a future it was given');
    });

    it('a wide graph: load → transform → one reduce over 3,000 items, batched', async () => {
      const n = 3000;
      const transforms = range(n).map((i) => delayed(tasks.add)(delayed(tasks.leaf)(i), i));
      let batches = 0;
      const total = await pool.compute(delayed(tasks.sum)(transforms), { onBatch: () => batches++ });
      assert.equal(total, n * (n - 1));
      assert.ok(batches < 2 * n, `ready nodes were batched (${batches} batches for ${2 * n + 1} nodes)`);
    });

    it('a deep graph: a chain of 400 dependent calls', async () => {
      let node: Delayed<number> = delayed(tasks.leaf)(0);
      for (let i = 0; i < 400; i++) node = delayed(tasks.add)(node, 1);
      assert.equal(await pool.compute(node), 400);
    });

    /** A balanced tree over `leaves`, each inner node `join(left, right)`. */
    function tree<T>(leaves: Delayed<T>[], join: (a: Delayed<T>, b: Delayed<T>) => Delayed<T>): Delayed<T> {
      let level = leaves;
      while (level.length > 1) {
        const next: Delayed<T>[] = [];
        for (let i = 0; i + 1 < level.length; i += 2)
          next.push(join(level[i] as Delayed<T>, level[i + 1] as Delayed<T>));
        if (level.length % 2 === 1) next.push(level.at(-1) as Delayed<T>);
        level = next;
      }
      return level[0] as Delayed<T>;
    }

    const fuses = {
      skip:
        backend.name === 'redis' &&
        "a redis worker runs only the task modules it was started with, not fanout's piece task: graphs run node by node",
    };
    it(
      'a subtree runs as one piece on its worker: inner values stay there (they need not cross), the root comes back',
      fuses,
      async () => {
        // 16 nodes whose inner values are functions: only the root's number crosses to the caller.
        const adders = range(8).map((i) => delayed(pieceTasks.adder)(i + 1));
        const composed = tree(adders, (f, g) => delayed(pieceTasks.compose)(f as never, g as never));
        let count = 0;
        const total = await pool.compute(delayed(pieceTasks.apply)(composed as never, 0), {
          onBatch: (batch) => (count += batch.count),
        });
        assert.equal(total, 36);
        assert.ok(count < 16, `the nodes ran in fewer items than nodes (${count})`);
        // A function the caller awaits still has to cross (the inline backend has no boundary).
        if (backend.name === 'inline') assert.equal(typeof (await pool.compute(composed)), 'function');
        else await rejectsWith(pool.compute(composed), 'ERR_NOT_CLONEABLE');
      },
    );

    it(
      'a node in a piece sees its node number as its index: its draws are randomStream(seed, node)',
      fuses,
      async () => {
        type Draw = { value: number; seed: number; index: number };
        const drawTree = () =>
          tree(
            range(8).map(() => delayed(randomTasks.draw)() as Delayed<unknown>),
            (a, b) => delayed(pieceTasks.pair)(a, b) as Delayed<unknown>,
          );
        const flat = (value: unknown): Draw[] =>
          Array.isArray(value) ? value.flatMap(flat) : [value as Draw];
        const first = flat(await pool.compute(drawTree(), { seed: 7 }));
        const again = flat(await pool.compute(drawTree(), { seed: 7 }));
        assert.equal(first.length, 8);
        assert.deepEqual(again, first, 'the same graph and seed draw the same');
        // The root is node 0, the 8 draws the last nodes (numbered breadth first: 7 to 14).
        assert.deepEqual(
          first.map((d) => d.index).sort((a, b) => a - b),
          range(8).map((i) => 7 + i),
        );
        for (const draw of first) assert.equal(draw.value, randomStream(7, draw.index).random());
      },
    );

    it('every node draws from randomStream(seed, its node number), whatever the batch sizes or workers', async () => {
      type Draw = { value: number; seed: number; index: number };
      // Roots 0–23 alternate draws and leaves, so the draws' node numbers (0, 2, 4, …) are not
      // contiguous in their batches; roots 24–35 draw once their own leaf (nodes 36–47) is done.
      // No subtree of 8 nodes: nothing is fused, every node runs on its own in some batch.
      const graph = () => [
        ...range(12).flatMap((i) => [delayed(randomTasks.draw)(i), delayed(tasks.leaf)(i)]),
        ...range(12).map((i) => delayed(randomTasks.draw)([delayed(tasks.leaf)(i)])),
      ];
      const draws = (values: unknown[]): [number, Draw][] =>
        values.flatMap((value, node) => (typeof value === 'object' ? [[node, value as Draw]] : []));
      const seed = 11;
      const one = backend.pool({ workers: 1 });
      try {
        const runs = [
          draws(await pool.compute(graph(), { seed, batchSize: 1 })),
          draws(await pool.compute(graph(), { seed, batchSize: 5 })),
          draws(await pool.compute(graph(), { seed })),
          draws(await one.compute(graph(), { seed, batchSize: 7 })),
        ];
        const [first] = runs as [[number, Draw][]];
        assert.equal(first.length, 24);
        for (const [node, draw] of first) {
          assert.equal(draw.index, node, 'a node sees its node number as its index');
          assert.equal(
            draw.value,
            randomStream(seed, node).random(),
            `node ${node} drew from its own stream`,
          );
        }
        for (const run of runs) assert.deepEqual(run, first, 'the same graph and seed draw the same');
      } finally {
        await one.close();
      }
    });

    it('a failure inside a piece: the node that threw fails, its readers with ERR_DEPENDENCY_FAILED naming it', async () => {
      const leaves = range(16).map((i) => delayed(tasks.failOn)(i, 5));
      const sum = tree(leaves, (a, b) => delayed(tasks.add)(a, b));
      const fine = tree(
        range(16).map((i) => delayed(tasks.leaf)(i)),
        (a, b) => delayed(tasks.add)(a, b),
      );
      const error = await rejectsWith(pool.compute(sum), 'ERR_TASK_FAILED');
      assert.equal(error.task, 'failOn');
      const [bad, good] = (await parallel({ pool, errors: 'collect' })([
        sum,
        fine,
      ])) as unknown as Settled<number>[];
      assert.deepEqual(good, { status: 'fulfilled', value: 120 });
      assert.ok(bad?.status === 'rejected' && bad.reason instanceof DependencyFailedError);
      assert.equal(bad.reason.dependency, 'failOn');
      assert.equal(typeof bad.reason.dependencyIndex, 'number', 'the failed node is named by its number');
      assert.ok(bad.reason.cause instanceof TaskError, 'the cause is the root failure');
      assert.equal((bad.reason.cause as TaskError).task, 'failOn');
      assert.equal((bad.reason.cause as TaskError).index, bad.reason.dependencyIndex);
    });
  });

  describe(`${backend.name}: actors, runOnEach, initializer`, () => {
    const addressable = {
      skip: backend.addressable === false && 'its workers cannot be addressed one by one (see the next test)',
    };
    const killableActor = {
      skip:
        backend.addressable === false
          ? 'its workers cannot be addressed one by one'
          : !backend.killable &&
            'a worker on this backend cannot be killed (the actor lives on the main thread)',
    };
    let pool: Pool;
    before(() => {
      if (backend.addressable !== false) pool = backend.pool();
    });
    after(() => pool?.close());

    it(
      'an actor keeps its state across calls; its handle has the methods only (inherited ones too)',
      addressable,
      async () => {
        await using c = await pool.actor(actors.Counter, 10);
        assert.equal(await c.add(5), 15);
        assert.equal(await c.add(-3), 12);
        assert.equal(await c.get(), 12);
        assert.equal(await c.hello(), 'hello', 'an inherited method');
        assert.equal('doubled' in c, false, 'a getter is not on the handle');
        assert.equal('n' in c, false, 'a field is not on the handle');
        assert.ok(Number.isInteger(c.worker) && c.worker >= 0);
        const other = await pool.actor(actors.Counter, 100);
        assert.equal(await other.add(1), 101, 'another instance, with state of its own');
        assert.equal(await c.get(), 12);
        await other.release();
      },
    );

    it('10 calls issued without awaiting run and return in call order', addressable, async () => {
      await using c = await pool.actor(actors.Counter, 0);
      const calls = range(10).map(() => c.add(1));
      assert.deepEqual(
        await Promise.all(calls),
        range(10).map((i) => i + 1),
      );
    });

    it(
      'async methods run one at a time: each starts when the previous one settled',
      addressable,
      async () => {
        await using c = await pool.actor(actors.Counter, 0);
        // Shorter waits later: calls that overlapped would record in reverse order.
        const calls = range(6).map((i) => c.record(i, 12 - 2 * i));
        const logs = await Promise.all(calls);
        assert.deepEqual(logs.at(-1), range(6));
        for (const [i, log] of logs.entries()) assert.deepEqual(log, range(i + 1), `call ${i}`);
      },
    );

    it(
      'a method that throws rejects that call with ERR_TASK_FAILED; the actor lives on; a bad constructor fails pool.actor',
      addressable,
      async () => {
        await using c = await pool.actor(actors.Counter, 1);
        const failed = await rejectsWith(c.fail('nope'), 'ERR_TASK_FAILED');
        assert.equal((failed.cause as Error).message, 'nope');
        assert.equal(await c.add(1), 2);
        const bad = await rejectsWith(pool.actor(actors.Faulty, 'no instance'), 'ERR_TASK_FAILED');
        assert.equal((bad.cause as Error).message, 'no instance');
        await c.release();
        await rejectsWith(c.add(1), 'ERR_ACTOR_DIED');
      },
    );

    it(
      'an actor whose worker dies rejects the call, the pending ones and later ones with ERR_ACTOR_DIED',
      killableActor,
      async () => {
        await using own = backend.pool();
        const c = await own.actor(actors.Counter, 1);
        const crash = c.exit(4);
        const pending = [c.add(1), c.get()];
        const died = await rejectsWith(crash, 'ERR_ACTOR_DIED');
        assert.ok(died instanceof ActorDiedError);
        assert.ok(died.cause instanceof WorkerCrashedError, String(died.cause));
        for (const call of pending) await rejectsWith(call, 'ERR_ACTOR_DIED');
        await rejectsWith(c.add(1), 'ERR_ACTOR_DIED');
        assert.equal(await own.run(tasks.square, 3), 9, 'the pool works on');
      },
    );

    it(
      'with maxRestarts the actor is rebuilt on a live worker, its state reset; later calls work',
      killableActor,
      async () => {
        await using own = backend.pool();
        const c = await own.actorWith(actors.Counter, [10], { maxRestarts: 1 });
        assert.equal(await c.add(5), 15);
        const first = await c.where();
        await rejectsWith(c.exit(4), 'ERR_ACTOR_DIED');
        assert.equal(await c.get(), 10, 'rebuilt from its constructor: the state is lost');
        assert.equal(c.restarts, 1);
        assert.notDeepEqual(await c.where(), first, 'on another worker');
        await rejectsWith(c.exit(4), 'ERR_ACTOR_DIED');
        await rejectsWith(c.get(), 'ERR_ACTOR_DIED');
      },
    );

    it(
      'runOnEach runs a task once on every worker, starting them, one result per worker',
      addressable,
      async () => {
        await using own = backend.pool({ workers: 2 });
        const results = await own.runOnEach(workerTasks.echo, 7);
        assert.deepEqual(results, [7, 7]);
        assert.equal(own.liveWorkers, 2);
        const where = await own.runOnEach(workerTasks.state);
        if (backend.crossesBoundary) {
          assert.equal(new Set(where.map((w) => `${w.pid}:${w.threadId}`)).size, 2, 'two distinct workers');
        }
      },
    );

    it(
      'the initializer runs once on every worker before its first task, replacements included',
      addressable,
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'fanout-init-'));
        try {
          const file = join(dir, 'starts');
          const lines = () => readFileSync(file, 'utf8').trim().split('\n').length;
          await using own = backend.pool({
            workers: 2,
            initializer: { task: workerTasks.init, args: ['ready', file] },
          });
          const states = await own.runOnEach(workerTasks.state);
          assert.deepEqual(
            states.map((s) => s.tag),
            ['ready', 'ready'],
            'every worker was initialized before its first task',
          );
          assert.equal(lines(), 2);
          if (backend.killable) {
            await rejectsWith(own.run(workerTasks.exit, 3), 'ERR_WORKER_CRASHED');
            const after = await own.runOnEach(workerTasks.state);
            assert.deepEqual(
              after.map((s) => [s.tag, s.initCount]),
              [
                ['ready', 1],
                ['ready', 1],
              ],
            );
            assert.equal(lines(), 3, 'the replacement ran the initializer too');
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );

    it(
      'an initializer that throws: the worker does not start; after the start back-off, ERR_WORKER_CRASHED naming it',
      addressable,
      async () => {
        await using own = backend.pool({
          workers: 1,
          initializer: { task: workerTasks.failingInit, args: ['no db'] },
        });
        const error = await rejectsWith(own.run(tasks.square, 2), 'ERR_WORKER_CRASHED');
        assert.match(error.message, /failed to start 3 times in a row/);
        assert.match(error.message, /initializer/);
        const cause = error.cause as Error & { code?: string };
        assert.equal(cause.code, 'ERR_TASK_FAILED');
        assert.equal((cause.cause as Error).message, 'no db');
      },
    );

    it('where workers cannot be addressed: actors, runOnEach and initializer are refused with ERR_INVALID_ARG_VALUE', {
      skip: backend.addressable !== false && 'its workers can be addressed (the tests above)',
    }, async () => {
      await using own = backend.pool();
      await rejectsWith(own.actor(actors.Counter, 1), 'ERR_INVALID_ARG_VALUE');
      await rejectsWith(own.runOnEach(tasks.square, 2), 'ERR_INVALID_ARG_VALUE');
      assert.throws(
        () => backend.pool({ initializer: { task: tasks.square, args: [1] } }),
        (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_VALUE' && /initializer/.test(e.message),
      );
    });
  });

  describe(`${backend.name}: spmd`, () => {
    const addressable = {
      skip: backend.addressable === false && 'its workers cannot be addressed one by one (see the last test)',
    };
    let pool: Pool;
    before(() => {
      if (backend.addressable !== false) pool = backend.pool({ workers: 2 });
    });
    after(() => pool?.close());

    it(
      'point to point: messages taken by tag and source, typed arrays moved; no comm outside spmd',
      addressable,
      async () => {
        assert.deepEqual(await pool.spmd(spmdTasks.tags, { ranks: 2 }), [
          { rank: 0, size: 2 },
          { rank: 1, size: 2, first: 'first', second: 'second', array: [1, 2, 3] },
        ]);
        assert.equal(await pool.run(spmdTasks.commOutside), 'undefined');
      },
    );

    it('every collective gives the hand-computed answer on every rank', addressable, async () => {
      const common = { allgather: [1, 2], sum: 3, min: 1, max: 2, elementwise: [1, 10], custom: '01' };
      assert.deepEqual(await pool.spmd(spmdTasks.collectives, {}), [
        { ...common, bcast: 'from 1', scatter: 'a', gather: undefined, reduce: 6 },
        { ...common, bcast: 'from 1', scatter: 'b', gather: [0, 10], reduce: undefined },
      ]);
    });

    it('a ring exchange with sendrecv', addressable, async () => {
      assert.deepEqual(await pool.spmd(spmdTasks.ring, { ranks: 2 }, 3), [
        [1, 0, 1],
        [0, 1, 0],
      ]);
    });

    it(
      'a failing rank aborts a rank blocked in recv: ERR_TASK_FAILED naming rank 0; the pool goes on',
      addressable,
      async () => {
        const before = await pool.runOnEach(spmdTasks.whoAmI);
        const error = await rejectsWith(pool.spmd(spmdTasks.failOne, {}), 'ERR_TASK_FAILED');
        assert.equal(error.rank, 0);
        assert.match(error.message, /^SPMD rank 0 of 2: .*rank zero gave up/);
        // Rank 1's recv rejected, so its task ended and its worker lives on (a rank left blocked
        // would hold its worker until killed for ignoring its signal, or forever inline).
        assert.deepEqual(await pool.runOnEach(spmdTasks.whoAmI), before);
        assert.deepEqual(await pool.spmd(spmdTasks.ring, { ranks: 2 }, 1), [[1], [0]]);
      },
    );

    it('a rank whose worker exits mid-recv: ERR_WORKER_CRASHED naming it; the pool goes on', {
      skip:
        backend.addressable === false
          ? addressable.skip
          : !backend.killable && 'a worker on this backend cannot be killed',
    }, async () => {
      const error = await rejectsWith(pool.spmd(spmdTasks.killLast, {}), 'ERR_WORKER_CRASHED');
      assert.equal(error.rank, 1);
      assert.match(error.message, /^SPMD rank 1 of 2: /);
      assert.deepEqual(await pool.spmd(spmdTasks.ring, { ranks: 2 }, 1), [[1], [0]]);
    });

    it(
      'timeout applies to the group: ranks all blocked in recv reject with ERR_TASK_TIMEOUT',
      addressable,
      async () => {
        const error = await rejectsWith(
          pool.spmd(spmdTasks.waitForever, { timeout: 300 }),
          'ERR_TASK_TIMEOUT',
        );
        assert.equal(typeof error.rank, 'number');
        assert.deepEqual(await pool.spmd(spmdTasks.ring, { ranks: 2 }, 1), [[1], [0]]);
      },
    );

    it('more ranks than workers is refused with ERR_INVALID_ARG_VALUE naming both', addressable, async () => {
      const error = await rejectsWith(pool.spmd(spmdTasks.ring, { ranks: 3 }, 1), 'ERR_INVALID_ARG_VALUE');
      assert.match(error.message, /3 ranks but the pool has 2 workers/);
    });

    it('where workers cannot be addressed: spmd is refused with ERR_INVALID_ARG_VALUE', {
      skip: backend.addressable !== false && 'its workers can be addressed (the tests above)',
    }, async () => {
      await using own = backend.pool();
      const error = await rejectsWith(own.spmd(spmdTasks.ring, { ranks: 1 }, 1), 'ERR_INVALID_ARG_VALUE');
      assert.match(error.message, /SPMD ranks need workers that can be addressed one by one/);
    });
  });

  describe(`${backend.name}: an open pool`, () => {
    it('terminate() settles with an imap iterator left mid-stream, which then rejects with ERR_POOL_CLOSED', async () => {
      // In a program of its own: a terminate() that never settles ends it with exit code 13.
      const result = await runScript(abandonedStreamScript, [JSON.stringify(backend.options())], 90_000);
      assert.equal(result.timedOut, false, `the program did not end; stderr: ${result.stderr}`);
      assert.equal(result.code, 0, `exit code ${result.code}; stderr: ${result.stderr}`);
      assert.deepEqual(result.stdout.trim().split('\n'), ['1', 'terminated', 'ERR_POOL_CLOSED']);
    });

    it('does not keep the process alive: a program that never closes its pools ends on its own', async () => {
      const args = [JSON.stringify(backend.options()), backend.killable ? 'killable' : ''];
      // A generous limit: it guards against a program that never ends, it times nothing.
      const result = await runScript(openPoolScript, args, 90_000);
      assert.equal(result.timedOut, false, `the program did not end by itself; stderr: ${result.stderr}`);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(
        result.stdout.trim().split('\n'),
        backend.killable ? ['[27]', '[1,8]', '[8]'] : ['[27]', '[1,8]'],
      );
    });
  });
}
