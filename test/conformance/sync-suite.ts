/**
 * The conformance section of the synchronisation primitives (Lock, Semaphore, Barrier, Counter,
 * Queue): registered by suite.ts on every backend, skipped (saying why) where they do not apply.
 * The caller takes part in every exchange, so caller ↔ worker and worker ↔ worker are both used.
 */

import assert from 'node:assert/strict';
import type { describe as nodeDescribe, it as nodeIt } from 'node:test';
import { Barrier, Counter, Lock, NotCloneableError, Queue, Semaphore } from '../../src/index.js';
import syncTasks from '../fixtures/sync-tasks.js';
import type { BackendCase } from '../helpers.js';
import { rejectsWith } from '../helpers.js';

/** Every wait the caller makes is bounded, so a broken primitive fails a test instead of hanging it. */
const BOUND = { timeout: 30_000 };

/** Wait until `counter` reaches `value` (polled: the caller has no event to wait on). */
async function reaches(counter: Counter, value: number): Promise<void> {
  while ((await counter.get()) < value) await new Promise((resolve) => setTimeout(resolve, 5));
}

export const SYNC_TEST_COUNT = 13;

export function syncSection(backend: BackendCase, it: typeof nodeIt, describe: typeof nodeDescribe): void {
  const supported = backend.syncPrimitives !== false;
  const sync = { skip: supported ? false : 'synchronisation primitives are not available on this backend' };

  describe(`${backend.name}: synchronisation primitives`, () => {
    it('a lock excludes: a non-atomic read-modify-write under it never loses an update', sync, async () => {
      await using pool = backend.pool();
      const lock = new Lock();
      const cell = new Counter();
      const tasks = pool.starmap(syncTasks.lockedIncrements, [
        [lock, { cell }, 30],
        [lock, { cell }, 30],
      ]);
      for (let i = 0; i < 30; i++) {
        await using _held = await lock.acquire(BOUND);
        const value = await cell.get();
        await new Promise((resolve) => setImmediate(resolve));
        await cell.add(value + 1 - (await cell.get()));
      }
      assert.deepEqual(await tasks, [30, 30]);
      assert.equal(await cell.get(), 90);
    });

    it('primitives reach tasks at any depth of their arguments and in `context`, live', sync, async () => {
      await using pool = backend.pool();
      const lock = new Lock();
      const counter = new Counter();
      const items = [0, 1, 2, 3].map((i) => ({
        nested: { list: [i, lock, counter] as [number, Lock, Counter] },
      }));
      const kinds = await pool.map(syncTasks.deepHandles, items, {
        context: { deep: { counters: [counter] } },
      });
      assert.deepEqual(kinds, Array(4).fill('true,true,true'));
      assert.equal(await counter.get(), 44);
      // The caller's objects are left as they were (inline tasks get them as they are).
      assert.equal(items[0]?.nested.list[1], lock);
    });

    it('a semaphore bounds how many hold it at once', sync, async () => {
      await using pool = backend.pool();
      const semaphore = new Semaphore(1);
      const inside = new Counter();
      const peak = new Counter();
      await pool.starmap(
        syncTasks.boundedSection,
        Array.from({ length: 4 }, () => [semaphore, inside, peak] as [Semaphore, Counter, Counter]),
      );
      assert.equal(await peak.get(), 1);
      assert.equal(await inside.get(), 0);
    });

    it('a barrier holds every party each round, and is reusable', sync, async () => {
      await using pool = backend.pool();
      const barrier = new Barrier(3);
      const counter = new Counter();
      const tasks = pool.starmap(syncTasks.barrierRounds, [
        [barrier, counter, 3],
        [barrier, counter, 3],
      ]);
      const seen: number[] = [];
      for (let r = 0; r < 3; r++) {
        await counter.add(1);
        await barrier.wait(BOUND);
        seen.push(await counter.get());
        await barrier.wait(BOUND);
      }
      assert.deepEqual(await tasks, [
        [3, 6, 9],
        [3, 6, 9],
      ]);
      assert.deepEqual(seen, [3, 6, 9]);
    });

    it('a counter totals the adds of every worker and of the caller', sync, async () => {
      await using pool = backend.pool();
      const counter = new Counter(1000);
      const tasks = pool.starmap(syncTasks.addMany, [
        [counter, 100],
        [counter, 100],
        [counter, 100],
      ]);
      for (let i = 0; i < 100; i++) await counter.add(-1);
      await tasks;
      assert.equal(await counter.get(), 1200);
    });

    it(
      'a queue carries every item exactly once, in order per producer, between workers and the caller',
      sync,
      async () => {
        await using pool = backend.pool();
        const queue = new Queue<[number, number]>({ capacity: 4 });
        const consumer = pool.run(syncTasks.consume, queue);
        const producer = pool.run(syncTasks.produce, queue, 1, 40);
        for (let i = 0; i < 40; i++) await queue.put([0, i], BOUND);
        await producer;
        queue.close();
        const got = await consumer;
        assert.equal(got.length, 80);
        for (const p of [0, 1]) {
          assert.deepEqual(
            got.filter(([from]) => from === p).map(([, i]) => i),
            Array.from({ length: 40 }, (_, i) => i),
            `producer ${p}`,
          );
        }
        await rejectsWith(queue.put([0, 0]), 'ERR_QUEUE_CLOSED');
      },
    );

    it(
      'releasing what is not held throws ERR_LOCK_NOT_HELD (a free lock, a semaphore released twice)',
      sync,
      async () => {
        await using pool = backend.pool();
        assert.equal(await pool.run(syncTasks.releaseUnheld, new Lock()), 'ERR_LOCK_NOT_HELD');
        assert.equal(await pool.run(syncTasks.releaseTwice, new Semaphore(2)), 'ERR_LOCK_NOT_HELD');
        const held = await new Lock().acquire();
        held.release();
        assert.throws(() => held.release(), { code: 'ERR_LOCK_NOT_HELD' });
      },
    );

    it('a worker cannot release a lock the caller holds', {
      skip: !supported
        ? sync.skip
        : backend.crossesBoundary
          ? false
          : "inline tasks run on the caller's thread: they are the same holder",
    }, async () => {
      await using pool = backend.pool();
      const lock = new Lock();
      await using _held = await lock.acquire();
      assert.equal(await pool.run(syncTasks.releaseUnheld, lock), 'ERR_LOCK_NOT_HELD');
    });

    it(
      'waits end with ERR_WAIT_TIMEOUT; a party that gives up breaks the barrier (ERR_BARRIER_BROKEN)',
      sync,
      async () => {
        await using pool = backend.pool();
        const lock = new Lock();
        const held = await lock.acquire();
        assert.equal(await pool.run(syncTasks.acquireTimesOut, lock, 20), 'ERR_WAIT_TIMEOUT');
        held.release();
        assert.equal(await pool.run(syncTasks.acquireTimesOut, lock, 20_000), 'acquired');

        const barrier = new Barrier(3);
        const waiter = pool.run(syncTasks.waitBroken, barrier);
        const controller = new AbortController();
        const mine = barrier.wait({ signal: controller.signal });
        controller.abort();
        await rejectsWith(mine, 'ABORT_ERR');
        assert.equal(await waiter, 'ERR_BARRIER_BROKEN');
        await rejectsWith(barrier.wait(), 'ERR_BARRIER_BROKEN');
      },
    );

    const crash = {
      skip: !supported ? sync.skip : backend.killable ? false : 'a worker on this backend cannot be killed',
    };
    it('a lock whose holder dies is released: the next waiter gets it', crash, async () => {
      await using pool = backend.pool();
      const lock = new Lock();
      const ready = new Counter();
      const dying = rejectsWith(pool.run(syncTasks.dieHolding, lock, ready), 'ERR_WORKER_CRASHED');
      await reaches(ready, 1);
      const held = await lock.acquire(BOUND);
      held.release();
      await dying;
    });

    it('the semaphore permits a dead worker held are given back', crash, async () => {
      await using pool = backend.pool();
      const semaphore = new Semaphore(1);
      const ready = new Counter();
      const dying = rejectsWith(pool.run(syncTasks.dieHoldingPermit, semaphore, ready), 'ERR_WORKER_CRASHED');
      await reaches(ready, 1);
      const permit = await semaphore.acquire(BOUND);
      permit.release();
      await dying;
    });

    it('a barrier whose party dies is broken: the others get ERR_BARRIER_BROKEN', crash, async () => {
      await using pool = backend.pool();
      const barrier = new Barrier(2);
      const ready = new Counter();
      const dying = rejectsWith(pool.run(syncTasks.dieAtBarrier, barrier, ready), 'ERR_WORKER_CRASHED');
      await reaches(ready, 1);
      await rejectsWith(barrier.wait(BOUND), 'ERR_BARRIER_BROKEN');
      await dying;
    });

    it('where primitives are not available, passing one is refused with a coded error naming it', {
      skip: supported ? 'this backend has them' : false,
    }, async () => {
      await using pool = backend.pool();
      const refused = await rejectsWith(pool.run(syncTasks.releaseUnheld, new Lock()), 'ERR_NOT_CLONEABLE');
      assert.ok(refused instanceof NotCloneableError);
      assert.match(
        refused.message,
        /a Lock at .*synchronisation primitives work on the inline, threads and processes/,
      );
    });
  });
}
