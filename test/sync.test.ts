/**
 * The synchronisation primitives on the caller's side: their arguments, their fast paths, `using`,
 * the queue's limits. What they do across workers is in the conformance suite (sync-suite.ts).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Deadline } from '../src/data/sync-wait.js';
import { Barrier, Counter, Lock, Pool, Queue, Semaphore } from '../src/index.js';
import type { FromWorker } from '../src/worker/protocol.js';
import { syncPort } from '../src/worker/sync-port.js';
import syncTasks from './fixtures/sync-tasks.js';
import { rejectsWith } from './helpers.js';

describe('synchronisation primitives in the caller', () => {
  it('refuse bad arguments with coded errors naming them', async () => {
    assert.throws(() => new Semaphore(0), { code: 'ERR_INVALID_ARG_VALUE', message: /permits/ });
    assert.throws(() => new Barrier('2' as unknown as number), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: /parties/,
    });
    assert.throws(() => new Counter(1.5), { code: 'ERR_INVALID_ARG_VALUE', message: /safe integer/ });
    assert.throws(() => new Queue({ capacity: 0 }), { code: 'ERR_INVALID_ARG_VALUE', message: /capacity/ });
    const lock = new Lock();
    await rejectsWith(lock.acquire({ timeout: -1 }), 'ERR_INVALID_ARG_VALUE');
    await rejectsWith(lock.acquire({ signal: 'stop' as unknown as AbortSignal }), 'ERR_INVALID_ARG_TYPE');
    await rejectsWith(new Counter().add(0.5), 'ERR_INVALID_ARG_VALUE');
  });

  it('tryAcquire takes a free lock at once and refuses a held one; using releases it', () => {
    const lock = new Lock();
    {
      using held = lock.tryAcquire();
      assert.ok(held);
      assert.equal(lock.tryAcquire(), undefined);
    }
    const again = lock.tryAcquire();
    assert.ok(again);
    again.release();
    assert.throws(() => again.release(), { code: 'ERR_LOCK_NOT_HELD' });
    assert.throws(() => lock.release(), { code: 'ERR_LOCK_NOT_HELD', message: /not held/ });
  });

  it('await using releases a lock at the end of its scope; a waiter then gets it', async () => {
    const lock = new Lock();
    let waited: Promise<void> | undefined;
    {
      await using _held = await lock.acquire();
      waited = lock.acquire().then((h) => h.release());
      assert.equal(lock.tryAcquire(), undefined);
    }
    await waited;
    assert.ok(lock.tryAcquire());
  });

  it('a semaphore hands out its permits, then waits; over-release is ERR_LOCK_NOT_HELD', async () => {
    const semaphore = new Semaphore(2);
    const a = semaphore.tryAcquire();
    const b = await semaphore.acquire();
    assert.ok(a);
    assert.equal(semaphore.tryAcquire(), undefined);
    await rejectsWith(semaphore.acquire({ timeout: 0 }), 'ERR_WAIT_TIMEOUT');
    a.release();
    b.release();
    assert.throws(() => semaphore.release(), { code: 'ERR_LOCK_NOT_HELD' });
  });

  it('a barrier of one passes at once, round after round; abort() breaks it', async () => {
    const barrier = new Barrier(1);
    assert.equal(await barrier.wait(), 0);
    assert.equal(await barrier.wait(), 0);
    barrier.abort();
    await rejectsWith(barrier.wait(), 'ERR_BARRIER_BROKEN');
  });

  it('a queue keeps order, waits when full, refuses what does not fit or cannot be copied', async () => {
    const queue = new Queue<unknown>({ capacity: 2, bytes: 64 });
    await queue.put({ a: 1 });
    await queue.put([2n, 'two']);
    await rejectsWith(queue.put(3, { timeout: 0 }), 'ERR_WAIT_TIMEOUT');
    assert.equal(queue.size, 2);
    assert.deepEqual(await queue.get(), { a: 1 });
    assert.deepEqual(await queue.get(), [2n, 'two']);
    await rejectsWith(queue.put('x'.repeat(100)), 'ERR_INVALID_ARG_VALUE');
    await rejectsWith(
      queue.put(() => 1),
      'ERR_INVALID_ARG_VALUE',
    );
    // Wrapping around the ring's end many times keeps values whole.
    for (let i = 0; i < 50; i++) {
      await queue.put(`value ${i}`);
      assert.equal(await queue.get(), `value ${i}`);
    }
    await queue.put('last');
    queue.close();
    const rest: unknown[] = [];
    for await (const value of queue) rest.push(value);
    assert.deepEqual(rest, ['last']);
    await rejectsWith(queue.get(), 'ERR_QUEUE_CLOSED');
  });

  it('a getter waiting on an empty queue wakes for a put, and an aborted one gives up', async () => {
    const queue = new Queue<number>();
    const waiting = queue.get();
    await queue.put(7);
    assert.equal(await waiting, 7);
    const controller = new AbortController();
    const aborted = queue.get({ signal: controller.signal });
    controller.abort();
    await rejectsWith(aborted, 'ABORT_ERR');
    // The aborted getter took nothing: the next value goes to the next getter.
    await queue.put(8);
    assert.equal(await queue.get(), 8);
  });

  for (const backend of ['threads', 'processes'] as const) {
    it(`a primitive a ${backend} worker was given can go on to a pool of its own (nested), still the same`, async () => {
      await using pool = new Pool({ backend, workers: 1 });
      const counter = new Counter();
      assert.equal(await pool.run(syncTasks.addManyNested, counter, 5), 5);
      assert.equal(await counter.get(), 5);
    });
  }

  it("a process worker's wait given up after the broker took the lock gives it back (and a taken value)", async () => {
    const sent: FromWorker[] = [];
    const port = syncPort((message) => sent.push(message));
    const controller = new AbortController();
    const deadline = Deadline.of('lock.acquire()', { signal: controller.signal });
    const acquiring = port.call('k1', 'acquire', undefined, deadline);
    controller.abort();
    await rejectsWith(acquiring, 'ABORT_ERR');
    // The broker had taken the lock just before the cancel reached it: its answer comes anyway.
    port.settle({ fanout: 'fanout/1', t: 'sync-reply', req: 1, value: undefined });
    const getter = new AbortController();
    const getting = port.call('q1', 'get', undefined, Deadline.of('queue.get()', { signal: getter.signal }));
    getter.abort();
    await rejectsWith(getting, 'ABORT_ERR');
    port.settle({ fanout: 'fanout/1', t: 'sync-reply', req: 2, value: 'item' });
    assert.deepEqual(
      sent.map((m) => m.t === 'sync' && [m.req, m.key, m.op, m.arg]),
      [
        [1, 'k1', 'acquire', undefined],
        [0, 'k1', 'cancel', 1],
        [0, 'k1', 'release', undefined],
        [2, 'q1', 'get', undefined],
        [0, 'q1', 'cancel', 2],
        [0, 'q1', 'put', 'item'],
      ],
    );
  });
});
