/** concurrent.futures' spelling: TaskFuture, asCompleted, waitFor. */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { asCompleted, Pool, TaskFuture, waitFor } from '../src/index.js';
import tasks from './fixtures/tasks.js';
import { rejectsWith } from './helpers.js';

/** A promise settled by hand, so the tests choose the order things finish in. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('asCompleted', () => {
  it('yields futures in the order they settle, each once', async () => {
    const [a, b, c] = [deferred<string>(), deferred<string>(), deferred<string>()];
    const seen: string[] = [];
    const consuming = (async () => {
      for await (const done of asCompleted([a.promise, b.promise, c.promise])) {
        if (done.status === 'fulfilled') seen.push(done.value);
      }
    })();
    b.resolve('b');
    await new Promise((resolve) => setImmediate(resolve));
    c.resolve('c');
    await new Promise((resolve) => setImmediate(resolve));
    a.resolve('a');
    await consuming;
    assert.deepEqual(seen, ['b', 'c', 'a']);
  });

  it('yields failed futures too, with their error, and goes on', async () => {
    const failed: Promise<string> = Promise.reject(new Error('nope'));
    const ok = Promise.resolve('ok');
    const out: string[] = [];
    for await (const done of asCompleted([failed, ok])) {
      out.push(done.status === 'fulfilled' ? done.value : `error: ${(done.reason as Error).message}`);
      assert.ok(done.future === failed || done.future === ok, 'each record carries its future');
    }
    assert.deepEqual(out.sort(), ['error: nope', 'ok']);
  });

  it('throws ERR_WAIT_TIMEOUT when futures take longer than the timeout', async () => {
    const never = new Promise<never>(() => {});
    const iterator = asCompleted([Promise.resolve(1), never], { timeout: 50 });
    const first = await iterator.next();
    assert.deepEqual(
      first.value && { status: first.value.status, value: (first.value as { value: unknown }).value },
      {
        status: 'fulfilled',
        value: 1,
      },
    );
    await rejectsWith(iterator.next(), 'ERR_WAIT_TIMEOUT');
  });
});

describe('waitFor', () => {
  it('ALL_COMPLETED (the default) waits for every future', async () => {
    const [a, b] = [deferred<number>(), deferred<number>()];
    const waiting = waitFor([a.promise, b.promise]);
    a.resolve(1);
    b.reject(new Error('x'));
    const { done, notDone } = await waiting;
    assert.equal(done.size, 2);
    assert.equal(notDone.size, 0);
    await a.promise;
    await b.promise.catch(() => {});
  });

  it('FIRST_COMPLETED returns at the first settled future', async () => {
    const [a, b] = [deferred<number>(), deferred<number>()];
    const waiting = waitFor([a.promise, b.promise], { returnWhen: 'FIRST_COMPLETED' });
    b.resolve(2);
    const { done, notDone } = await waiting;
    assert.deepEqual([...done], [b.promise]);
    assert.deepEqual([...notDone], [a.promise]);
  });

  it('FIRST_EXCEPTION returns at the first failure, or when all complete', async () => {
    const [a, b, c] = [deferred<number>(), deferred<number>(), deferred<number>()];
    const waiting = waitFor([a.promise, b.promise, c.promise], { returnWhen: 'FIRST_EXCEPTION' });
    a.resolve(1);
    await new Promise((resolve) => setImmediate(resolve));
    b.reject(new Error('b failed'));
    const { done, notDone } = await waiting;
    assert.deepEqual(new Set(done), new Set([a.promise, b.promise]));
    assert.deepEqual([...notDone], [c.promise]);
    await b.promise.catch(() => {});
  });

  it('returns what it has when the timeout passes, without an error', async () => {
    const never = new Promise<never>(() => {});
    const { done, notDone } = await waitFor([Promise.resolve(1), never], { timeout: 30 });
    assert.equal(done.size, 1);
    assert.equal(notDone.size, 1);
  });

  it('rejects a bad returnWhen', async () => {
    await assert.rejects(waitFor([], { returnWhen: 'SOMETIME' as never }), /returnWhen/);
  });
});

describe('the same future given more than once (as CPython: counted once)', () => {
  it('asCompleted([f, f, f]) yields f once and ends', { timeout: 30_000 }, async () => {
    const f = Promise.resolve('f');
    const seen: unknown[] = [];
    for await (const done of asCompleted([f, f, f])) seen.push(done.future);
    assert.deepEqual(seen, [f]);
  });

  it('waitFor([f, f]) resolves, with f done once', { timeout: 30_000 }, async () => {
    const f = deferred<number>();
    const waiting = waitFor([f.promise, f.promise]);
    f.resolve(1);
    const { done, notDone } = await waiting;
    assert.deepEqual([...done], [f.promise]);
    assert.equal(notDone.size, 0);
  });
});

describe("waitFor's FIRST_EXCEPTION", () => {
  it('does not count a cancelled future as an exception (CPython: only futures that raised)', async () => {
    await using pool = new Pool({ backend: 'inline' });
    const running = pool.run(tasks.slowSquare, 3, 50);
    const cancelled = pool.run(tasks.square, 2);
    assert.equal(cancelled.cancel(), true);
    const { done, notDone } = await waitFor([running, cancelled], { returnWhen: 'FIRST_EXCEPTION' });
    assert.equal(notDone.size, 0, 'it waited for the running future: nothing raised');
    assert.deepEqual(new Set(done), new Set([running, cancelled]));
    assert.equal(await running, 9);
  });

  it('still returns at the first future that raised', async () => {
    const raised = Promise.reject(new Error('raised'));
    const pending = new Promise<never>(() => {});
    const { done, notDone } = await waitFor([raised, pending], { returnWhen: 'FIRST_EXCEPTION' });
    assert.deepEqual([...done], [raised]);
    assert.deepEqual([...notDone], [pending]);
  });
});

describe('bad arguments are coded errors', () => {
  it('asCompleted refuses what is not an iterable of futures, at the call', () => {
    for (const bad of [5, null, undefined, 'abc', { length: 1 }]) {
      assert.throws(() => asCompleted(bad as never), { code: 'ERR_INVALID_ARG_TYPE' }, String(bad));
    }
    assert.throws(() => asCompleted([1] as never), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: /every future given to asCompleted to be a future or a promise, got 1 at position 0/,
    });
    assert.throws(() => asCompleted([], { timout: 5 } as never), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /Unknown option `timout`/,
    });
  });

  it('waitFor rejects what is not an iterable of futures', async () => {
    for (const bad of [null, 5, { length: 0 }]) {
      await rejectsWith(waitFor(bad as never), 'ERR_INVALID_ARG_TYPE');
    }
    await rejectsWith(waitFor([Promise.resolve(1), 2] as never), 'ERR_INVALID_ARG_TYPE');
  });

  it('a timeout past the timer limit is refused; Infinity waits without limit', async () => {
    await rejectsWith(waitFor([], { timeout: 2 ** 31 }), 'ERR_INVALID_ARG_VALUE');
    assert.throws(() => asCompleted([], { timeout: 2 ** 31 }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /2147483647/,
    });
    assert.throws(() => asCompleted([], { timeout: -1 }), { code: 'ERR_INVALID_ARG_VALUE' });
    // Infinity used to reach setTimeout, which fires after 1 ms: a timeout at once.
    const late = new Promise<string>((resolve) => setTimeout(() => resolve('late'), 20));
    const seen: string[] = [];
    for await (const done of asCompleted([late], { timeout: Infinity })) {
      if (done.status === 'fulfilled') seen.push(done.value);
    }
    assert.deepEqual(seen, ['late']);
  });
});

describe('with pool futures', () => {
  let pool: Pool;
  before(() => {
    pool = new Pool({ workers: 2 });
  });
  after(() => pool.close());

  it('works on TaskFutures, which are Promises', async () => {
    const futures = [3, 1, 2].map((x) => pool.run(tasks.slowSquare, x, x * 20));
    assert.ok(futures.every((f) => f instanceof TaskFuture && f instanceof Promise));
    const values: number[] = [];
    for await (const done of asCompleted(futures, { timeout: 30_000 })) values.push(await done.future);
    assert.deepEqual(values.sort(), [1, 4, 9]);
    assert.ok(futures.every((f) => f.done && !f.running && !f.cancelled));
    const then = futures[0]?.then((v) => v + 1);
    assert.ok(!(then instanceof TaskFuture), '`then` gives a plain Promise');
    assert.equal(await then, 10);
  });
});
