/**
 * Actors, runOnEach and the initializer beyond the conformance suite: their arguments and
 * options checked, per-call options, futures as arguments, and what a pinned worker is spared
 * (recycling, idle retirement) or not (its pool closing).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineActors, defineTasks, Pool } from '../src/index.js';
import actors, { workerTasks } from './fixtures/actors.js';
import tasks from './fixtures/tasks.js';
import { range, rejectsWith } from './helpers.js';

describe('defineActors', () => {
  it('lists the prototype methods of each class (inherited, not accessors) on a frozen reference', () => {
    const ref = actors.Counter;
    assert.ok(Object.isFrozen(ref));
    assert.ok(ref.methods.includes('add') && ref.methods.includes('hello'));
    assert.ok(!ref.methods.includes('doubled') && !ref.methods.includes('constructor'));
    assert.equal(ref.className, 'Counter');
  });

  it('refuses a class with a method the handle needs for itself, and what is not a class', () => {
    assert.throws(
      () =>
        defineActors(import.meta.url, {
          Thenable: class {
            // biome-ignore lint/suspicious/noThenProperty: the very method defineActors must refuse.
            then() {}
          },
        }),
      (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_VALUE' && /`then`/.test(e.message),
    );
    assert.throws(
      () => defineActors(import.meta.url, { NotAClass: 5 as never }),
      (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_TYPE' && /NotAClass/.test(e.message),
    );
    assert.throws(
      () => defineActors('not a url', {}),
      (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_VALUE' && /defineActors/.test(e.message),
    );
  });
});

describe('actors on threads', () => {
  it('refuses what is not an actor reference, and bad actor or call options, naming them', async () => {
    await using pool = new Pool({ workers: 1 });
    await rejectsWith(pool.actor(workerTasks.echo as never), 'ERR_INVALID_ARG_TYPE');
    const bad = await rejectsWith(
      pool.actorWith(actors.Counter, [1], { maxRestarts: -1 }),
      'ERR_INVALID_ARG_VALUE',
    );
    assert.match(bad.message, /maxRestarts/);
    await using c = await pool.actor(actors.Counter, 1);
    // The handle's types: methods with the class's arguments, results as Promises; nothing else.
    const added: Promise<number> = c.add(1);
    assert.equal(await added, 2);
    if (Date.now() < 0) {
      // @ts-expect-error a field is not on the handle
      void c.n;
      // @ts-expect-error a getter is not on the handle either
      void c.doubled;
      // @ts-expect-error the method's own argument types apply
      void c.add('one');
      // @ts-expect-error so does the constructor's
      void pool.actor(actors.Counter, 'ten');
    }
    assert.throws(
      () => c.withOptions({ timeot: 5 } as never),
      (e: Error) => /did you mean `timeout`/.test(e.message),
    );
  });

  it('a call past its timeout rejects with ERR_TASK_TIMEOUT; its worker was killed, so the actor is dead', async () => {
    await using pool = new Pool({ workers: 1 });
    const c = await pool.actor(actors.Counter, 1);
    await rejectsWith(c.withOptions({ timeout: 50 }).busy(5000), 'ERR_TASK_TIMEOUT');
    await rejectsWith(c.get(), 'ERR_ACTOR_DIED');
  });

  it('an aborted call still queued is dropped; the calls around it run', async () => {
    await using pool = new Pool({ workers: 1 });
    await using c = await pool.actor(actors.Counter, 0);
    const controller = new AbortController();
    const first = c.record(1, 100);
    const dropped = c.withOptions({ signal: controller.signal }).record(2, 0);
    const third = c.record(3, 0);
    controller.abort();
    await rejectsWith(dropped, 'ABORT_ERR');
    assert.deepEqual(await first, [1]);
    assert.deepEqual(await third, [1, 3]);
  });

  it('takes futures as arguments, keeping call order', async () => {
    await using pool = new Pool({ workers: 2 });
    await using c = await pool.actor(actors.Counter, 0);
    const slow = pool.run(tasks.slowSquare, 3, 30);
    const calls = [c.add(slow), c.add(1), c.add(Promise.resolve(10))];
    assert.deepEqual(await Promise.all(calls), [9, 10, 20]);
    const failing = pool.run(tasks.fail, 'no argument');
    await rejectsWith(c.add(failing), 'ERR_TASK_FAILED');
    assert.equal(await c.get(), 20, 'a call whose argument failed did not run');
  });

  it('a pinned worker is neither recycled nor retired when idle: the actor keeps its state', async () => {
    await using pool = new Pool({ workers: 1, maxTasksPerWorker: 2, idleTimeout: 10 });
    await using c = await pool.actor(actors.Counter, 0);
    for (const i of range(6)) assert.equal(await c.add(1), i + 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await c.get(), 6);
    assert.equal(pool.liveWorkers, 1);
  });

  it('closing the pool stops the workers of actors not released; later calls are refused', async () => {
    const pool = new Pool({ workers: 2 });
    const c = await pool.actor(actors.Counter, 1);
    const pending = c.add(1);
    await pool.close();
    assert.equal(await pending, 2, 'a call made before close() ran');
    assert.equal(pool.liveWorkers, 0);
    await rejectsWith(c.add(1), 'ERR_POOL_CLOSED');
    await c.release();
  });

  it('actors spread over the workers before sharing one', async () => {
    await using pool = new Pool({ workers: 2 });
    await using a = await pool.actor(actors.Counter, 0);
    await using b = await pool.actor(actors.Counter, 0);
    assert.notEqual(a.worker, b.worker);
    await using third = await pool.actor(actors.Counter, 0);
    assert.ok([a.worker, b.worker].includes(third.worker));
  });
});

describe('runOnEach and initializer', () => {
  it('runOnEach rejects with the error of a worker whose task threw', async () => {
    await using pool = new Pool({ workers: 2 });
    await rejectsWith(pool.runOnEach(tasks.fail, 'each'), 'ERR_TASK_FAILED');
    assert.deepEqual(await pool.runOnEach(tasks.add, 1, 2), [3, 3]);
  });

  it('runOnEach on a worker that dies rejects with ERR_WORKER_CRASHED; the pool works on', async () => {
    await using pool = new Pool({ workers: 2 });
    await rejectsWith(pool.runOnEach(workerTasks.exit, 3), 'ERR_WORKER_CRASHED');
    assert.deepEqual(await pool.runOnEach(workerTasks.echo, 4), [4, 4]);
  });

  it('an initializer whose module never finishes loading is a failed start, not a respawn loop', async () => {
    const hangs = defineTasks(new URL('./fixtures/broken/hangs-at-load.mjs', import.meta.url).href, {
      f() {},
    });
    await using pool = new Pool({ workers: 1, loadTimeout: 300, initializer: { task: hangs.f } });
    const error = await rejectsWith(pool.run(tasks.square, 2), 'ERR_WORKER_CRASHED');
    assert.match(error.message, /failed to start 3 times in a row/);
    assert.equal((error.cause as Error & { code?: string }).code, 'ERR_TASK_MODULE_LOAD');
  });

  it('the initializer option is checked when the pool is made, naming what is wrong', () => {
    const code = (expected: string, pattern: RegExp) => (e: Error & { code?: string }) =>
      e.code === expected && pattern.test(e.message);
    assert.throws(
      () => new Pool({ initializer: { task: 5 } as never }),
      code('ERR_INVALID_ARG_TYPE', /initializer\.task/),
    );
    assert.throws(
      () => new Pool({ initializer: { task: workerTasks.init, args: 'x' } as never }),
      code('ERR_INVALID_ARG_TYPE', /initializer\.args/),
    );
    assert.throws(
      () => new Pool({ initializer: { task: workerTasks.init, extra: 1 } as never }),
      code('ERR_INVALID_ARG_VALUE', /extra/),
    );
    assert.throws(
      () => new Pool({ initializer: { task: workerTasks.init, args: [() => 1] } }),
      code('ERR_NOT_CLONEABLE', /initializer/),
    );
  });
});
