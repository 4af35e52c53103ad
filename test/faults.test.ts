/**
 * Fault tolerance on the backends whose workers can die and be replaced: threads and processes.
 * Each test would fail if the behaviour regressed: a hang shows up as the test's timeout.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AbortError, defineTasks, TaskTimeoutError, WorkerCrashedError } from '../src/index.js';
import faults from './fixtures/faults.js';
import tasks from './fixtures/tasks.js';
import { backends, eventually, range, rejectsWith } from './helpers.js';

const hangsAtLoad = defineTasks(new URL('./fixtures/broken/hangs-at-load.mjs', import.meta.url), {
  f: (x: number) => x,
});

for (const backend of backends.filter((b) => b.killable)) {
  describe(`${backend.name}: faults`, { timeout: 120_000 }, () => {
    let dir: string;
    let markers = 0;
    const marker = () => join(dir, `marker-${markers++}`);
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'fanout-faults-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('a worker killed by a signal fails its task; every other task completes', async () => {
      await using pool = backend.pool();
      const items = range(40).map((i) => (i === 17 ? -1 : i));
      const settled = await pool.map(faults.doubleOrDie, items, { errors: 'collect' });
      settled.forEach((s, i) => {
        if (i === 17) {
          assert.equal(s.status, 'rejected');
          const error = (s as { reason: WorkerCrashedError }).reason;
          assert.ok(error instanceof WorkerCrashedError);
          assert.equal(error.code, 'ERR_WORKER_CRASHED');
          assert.equal(error.index, 17);
          assert.match(error.message, backend.name === 'processes' ? /SIGKILL/ : /code 9/);
        } else assert.deepEqual(s, { status: 'fulfilled', value: i * 2 });
      });
    });

    it('a worker out of memory crashes with ERR_WORKER_CRASHED; the pool survives', async () => {
      await using pool = backend.pool({ workers: 1, resourceLimits: { maxOldGenerationSizeMb: 48 } });
      const error = await rejectsWith(pool.run(faults.hog), 'ERR_WORKER_CRASHED');
      assert.match(error.message, /memory|SIGABRT|SIGTRAP|code 134|code 133/i);
      assert.equal(await pool.run(tasks.square, 9), 81);
    });

    it('an uncaught exception or unhandled rejection fails that worker’s task only', async () => {
      await using pool = backend.pool();
      const thrown = await rejectsWith(pool.run(faults.throwLater), 'ERR_WORKER_CRASHED');
      assert.match(thrown.message, /async boom/);
      const rejected = await rejectsWith(pool.run(faults.rejectLater), 'ERR_WORKER_CRASHED');
      assert.match(rejected.message, /nobody handled me/);
      assert.deepEqual(
        await pool.map(tasks.square, range(20)),
        range(20).map((x) => x * x),
      );
    });

    it('retries re-run an item whose worker died, and only then', async () => {
      await using pool = backend.pool();
      assert.equal(await pool.runWith(faults.crashOnce, [marker()], { retries: 1 }), 'ok');
      await rejectsWith(pool.run(faults.crashOnce, marker()), 'ERR_WORKER_CRASHED');
      // A task that throws is not retried, unless retryOn: 'error'.
      await rejectsWith(pool.runWith(faults.throwOnce, [marker()], { retries: 3 }), 'ERR_TASK_FAILED');
      assert.equal(await pool.runWith(faults.throwOnce, [marker()], { retries: 1, retryOn: 'error' }), 'ok');
    });

    it('a task past its timeout fails with ERR_TASK_TIMEOUT; its worker is replaced, others are unaffected', async () => {
      await using pool = backend.pool();
      const settled = await pool.map(faults.spin, [5, 60_000, 5, 5], {
        timeout: 500,
        errors: 'collect',
        batchSize: 1,
      });
      assert.deepEqual(
        settled.map((s) => s.status),
        ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
      );
      const error = (settled[1] as { reason: TaskTimeoutError }).reason;
      assert.ok(error instanceof TaskTimeoutError);
      assert.equal(error.code, 'ERR_TASK_TIMEOUT');
      assert.equal(error.index, 1);
      assert.equal(await pool.run(tasks.square, 5), 25);
    });

    it('the timeout clock starts when the item starts, not while it is queued', async () => {
      await using pool = backend.pool({ workers: 1 });
      // Four items of 150 ms on one worker: the last one waits ~450 ms, longer than the timeout.
      const done = await pool.map(faults.spin, [150, 150, 150, 150], { timeout: 400, batchSize: 1 });
      assert.equal(done.length, 4);
    });

    it('a signal drops queued items, aborts running tasks’ signals, and rejects promptly with ABORT_ERR', async () => {
      await using pool = backend.pool();
      const marks = [marker(), marker()];
      const controller = new AbortController();
      const running = pool.map(faults.markOnAbort, marks, { signal: controller.signal, batchSize: 1 });
      const rejected = rejectsWith(running, 'ABORT_ERR');
      await eventually(() => marks.every((m) => existsSync(`${m}.started`)), 30_000, 'both tasks to start');
      controller.abort(new Error('stop'));
      const error = await rejected;
      assert.ok(error instanceof AbortError);
      await eventually(() => marks.every((m) => existsSync(m)), 10_000, 'both tasks to see their signal');
      assert.equal(await pool.run(tasks.square, 6), 36);
    });

    it('a task that ignores its signal has its worker replaced after the grace period', async () => {
      await using pool = backend.pool({ workers: 1, abortGrace: 100 });
      const controller = new AbortController();
      const before = await pool.run(tasks.where);
      const started = marker();
      const spinning = pool.runWith(faults.spinMarked, [started, 60_000], { signal: controller.signal });
      await eventually(() => existsSync(started), 30_000, 'the task to start');
      assert.equal(spinning.running, true);
      controller.abort();
      await rejectsWith(spinning, 'ABORT_ERR');
      const afterwards = await pool.run(tasks.where);
      assert.notDeepEqual(afterwards, before, 'a new worker runs the next task');
    });

    it('abort works on imap and run too', async () => {
      await using pool = backend.pool();
      const controller = new AbortController();
      const seen: number[] = [];
      const consume = (async () => {
        for await (const v of pool.imap(tasks.slowSquare, range(1000), { signal: controller.signal })) {
          seen.push(v);
          if (seen.length === 5) controller.abort();
        }
      })();
      await rejectsWith(consume, 'ABORT_ERR');
      assert.ok(seen.length >= 5 && seen.length < 1000);
      const aborted = AbortSignal.abort();
      await rejectsWith(pool.runWith(tasks.square, [1], { signal: aborted }), 'ABORT_ERR');
    });

    it('a module that never finishes loading fails with ERR_TASK_MODULE_LOAD, not a hang', async () => {
      // Only the hanging module is loaded by this pool: a short loadTimeout cannot catch a slow
      // but healthy import on a loaded machine.
      await using pool = backend.pool({ loadTimeout: 1500 });
      const error = await rejectsWith(pool.map(hangsAtLoad.f, [1, 2]), 'ERR_TASK_MODULE_LOAD');
      assert.match(error.message, /did not finish loading within 1500 ms/);
    });

    it('workers that fail at start-up give an error after a few tries, not a respawn loop', async () => {
      await using pool = backend.pool({ execArgv: ['--no-such-node-flag'] });
      const error = await rejectsWith(pool.map(tasks.square, [1, 2, 3]), 'ERR_WORKER_CRASHED');
      assert.match(error.message, /failed to start 3 times in a row/);
    });

    it('maxTasksPerWorker recycles workers', async () => {
      await using pool = backend.pool({ workers: 1, maxTasksPerWorker: 5 });
      const where = await pool.map(tasks.where, range(20), { batchSize: 1 });
      const workers = new Set(where.map((w) => `${w.pid}/${w.threadId}`));
      assert.ok(workers.size >= 4, `${workers.size} workers for 20 tasks at 5 each`);
    });

    it('maxWorkerMemory recycles a worker whose heap grew past it', async () => {
      await using pool = backend.pool({ workers: 1, maxWorkerMemory: 64 });
      const first = await pool.run(faults.retain, 100);
      const second = await pool.run(faults.retain, 1);
      assert.notDeepEqual(second, first);
    });

    it('idleTimeout stops idle workers; they start again on demand', async () => {
      await using pool = backend.pool({ idleTimeout: 100 });
      await pool.map(tasks.square, range(10));
      await eventually(() => pool.liveWorkers === 0, 10_000, 'idle workers to stop');
      assert.deepEqual(await pool.map(tasks.square, [2]), [4]);
    });
  });
}
