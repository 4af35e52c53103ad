/**
 * Synchronisation primitives shared by the caller and the tasks of a pool: Lock, Semaphore,
 * Barrier, Counter and Queue. They are created in the caller and passed to tasks as arguments
 * (at any depth) or in `context`.
 *
 * Where their state lives: in shared memory (sync-memory.ts) that the caller, the inline
 * backend's tasks and thread workers all use directly with `Atomics`; a process worker has no
 * such memory, so its copy is a proxy whose every operation goes to the caller's broker (the
 * worker set), which runs it on the caller's memory on the worker's behalf.
 *
 * Crossing: a primitive's only enumerable property is its mark (`HANDLE_MARKER`: kind and key);
 * its state sits under a symbol, which structured clone leaves out. The worker set finds the
 * primitives among a batch's arguments the way it finds broadcast handles (handles.ts), sends
 * each worker a primitive's memory (threads) or its parameters (processes) once, and the worker
 * puts a live primitive in place of every clone of its mark (worker/handles.ts).
 */

import { InvalidArgTypeError, InvalidArgValueError, LockNotHeldError } from '../errors.js';
import { positiveInteger, show } from '../options/checks.js';
import type { WaitOptions } from '../types.js';
import {
  BARRIER_CELLS,
  barrierBreak,
  barrierWait,
  counterAdd,
  counterGet,
  LOCK_CELLS,
  lockAcquire,
  lockRelease,
  lockTry,
  OWN_TAG,
  QUEUE_HEADER_CELLS,
  queueClose,
  queueGet,
  queuePut,
  queueSize,
  SEMAPHORE_CELLS,
  semaphoreAcquire,
  semaphoreRelease,
  semaphoreTry,
} from './sync-memory.js';
import { bigOf, brokered, initialise, queueOf, type SyncState, stateOf } from './sync-state.js';
import { encodeValue } from './sync-values.js';
import { Deadline } from './sync-wait.js';

// ---------------------------------------------------------------------------------------------

/**
 * A hold on a lock or a semaphore permit: release it, or let `using`/`await using` do it.
 *
 * @example
 * ```ts
 * const held = await lock.acquire();
 * try { update(); } finally { held.release(); }
 * // or: await using held = await lock.acquire();
 * ```
 */
export class Held {
  #released = false;
  // The lock or semaphore itself, not a closure over it: an uncontended `await acquire()` then
  // allocates only this hold and its resolved promise (the lock's own figures: README "lock").
  readonly #owner: { release(): void };

  /** @internal */
  constructor(owner: { release(): void }) {
    this.#owner = owner;
  }

  /** Release the hold; a second release throws `ERR_LOCK_NOT_HELD`. */
  release(): void {
    if (this.#released) throw new LockNotHeldError('release(): this hold was already released');
    this.#released = true;
    this.#owner.release();
  }

  /** Release at the end of a `using` scope (nothing when already released). */
  [Symbol.dispose](): void {
    if (!this.#released) this.release();
  }

  /** Release at the end of an `await using` scope (nothing when already released). */
  [Symbol.asyncDispose](): Promise<void> {
    this[Symbol.dispose]();
    return Promise.resolve();
  }
}

/**
 * A mutual-exclusion lock shared by the caller and every worker of a pool (not reentrant; the
 * holder is a worker, or the caller's thread). If a holder's worker dies, the pool releases the
 * lock and the next waiter gets it: what the lock protected may be half-updated.
 *
 * @example
 * ```ts
 * const lock = new Lock();
 * await pool.map(tasks.appendLine, lines, { context: { lock } });
 * // in the task:
 * await using held = await lock.acquire();   // released at the end of the scope
 * ```
 */
export class Lock {
  constructor() {
    initialise(this, 'Lock', LOCK_CELLS, {});
  }

  /**
   * Take the lock now if it is free (no waiting, no promise); undefined if it is held. Needs the
   * lock's memory: in a process worker, use `acquire({ timeout: 0 })`.
   */
  tryAcquire(): Held | undefined {
    const state = stateOf(this);
    if (!state.cells) {
      throw new InvalidArgValueError(
        'lock.tryAcquire() needs shared memory, which a process worker does not have: use acquire({ timeout: 0 })',
      );
    }
    return lockTry(state.cells, OWN_TAG) ? new Held(this) : undefined;
  }

  /** Wait for the lock; `timeout` (ms) and `signal` bound the wait (`ERR_WAIT_TIMEOUT`, `ABORT_ERR`). */
  acquire(options?: WaitOptions): Promise<Held> {
    const state = stateOf(this);
    const { cells } = state;
    // The fast path: free, and no options to read.
    if (cells && options === undefined && lockTry(cells, OWN_TAG)) {
      return Promise.resolve(new Held(this));
    }
    return promised(() => {
      const deadline = Deadline.of('lock.acquire()', options);
      if (cells) {
        return lockAcquire(cells, OWN_TAG, deadline).then(() => new Held(this));
      }
      return brokered(state, 'acquire', undefined, deadline).then(() => {
        state.held++;
        return new Held(this);
      });
    });
  }

  /** Release the lock this worker holds; `ERR_LOCK_NOT_HELD` when it does not hold it. */
  release(): void {
    const state = stateOf(this);
    if (state.cells) lockRelease(state.cells, OWN_TAG);
    else releaseBrokered(state, 'lock.release(): the lock is not held by this worker');
  }
}

/**
 * A counting semaphore: at most `permits` holders at once. Releasing more times than acquired
 * throws `ERR_LOCK_NOT_HELD` (in a process worker: more than that worker acquired).
 *
 * @example
 * ```ts
 * const downloads = new Semaphore(4);       // at most 4 downloads at once, across all workers
 * // in a task:
 * await using permit = await downloads.acquire();
 * ```
 */
export class Semaphore {
  constructor(permits: number) {
    const n = positiveInteger('permits', permits);
    initialise(this, 'Semaphore', SEMAPHORE_CELLS, { permits: n });
    const cells = stateOf(this).cells as Int32Array;
    cells[0] = n;
    cells[2] = n;
  }

  /** Take a permit now if one is free; undefined if none is (needs shared memory, like Lock's). */
  tryAcquire(): Held | undefined {
    const state = stateOf(this);
    if (!state.cells) {
      throw new InvalidArgValueError(
        'semaphore.tryAcquire() needs shared memory, which a process worker does not have: use acquire({ timeout: 0 })',
      );
    }
    return semaphoreTry(state.cells, OWN_TAG) ? new Held(this) : undefined;
  }

  /** Wait for a permit; `timeout` and `signal` bound the wait. */
  acquire(options?: WaitOptions): Promise<Held> {
    const state = stateOf(this);
    const { cells } = state;
    if (cells && options === undefined && semaphoreTry(cells, OWN_TAG)) {
      return Promise.resolve(new Held(this));
    }
    return promised(() => {
      const deadline = Deadline.of('semaphore.acquire()', options);
      if (cells) {
        return semaphoreAcquire(cells, OWN_TAG, deadline).then(() => new Held(this));
      }
      return brokered(state, 'acquire', undefined, deadline).then(() => {
        state.held++;
        return new Held(this);
      });
    });
  }

  /** Give a permit back. */
  release(): void {
    const state = stateOf(this);
    if (state.cells) semaphoreRelease(state.cells, OWN_TAG);
    else releaseBrokered(state, 'semaphore.release(): released more times than this worker acquired');
  }
}

/**
 * A barrier for `parties` parties, reusable round after round: `wait()` resolves when all have
 * arrived. A party that times out, is aborted or whose worker dies while the barrier is among
 * its task's arguments breaks it: the others get `ERR_BARRIER_BROKEN`, now and on every later
 * wait.
 *
 * @example
 * ```ts
 * const step = new Barrier(2);
 * await pool.map(tasks.simulate, [0, 1], { context: { step } });
 * // in the task, each round:
 * await step.wait();
 * ```
 */
export class Barrier {
  constructor(parties: number) {
    const n = positiveInteger('parties', parties);
    initialise(this, 'Barrier', BARRIER_CELLS, { parties: n });
    (stateOf(this).cells as Int32Array)[3] = n;
  }

  /** Arrive and wait for the others; resolves to this party's arrival index (0 … parties − 1). */
  wait(options?: WaitOptions): Promise<number> {
    const state = stateOf(this);
    return promised(() => {
      const deadline = Deadline.of('barrier.wait()', options);
      if (state.cells) return barrierWait(state.cells, deadline);
      return brokered(state, 'wait', undefined, deadline) as Promise<number>;
    });
  }

  /** Break the barrier: every waiting party, and every later `wait()`, gets `ERR_BARRIER_BROKEN`. */
  abort(): void {
    const state = stateOf(this);
    if (state.cells) barrierBreak(state.cells);
    else state.port?.post(state.key, 'abort', undefined);
  }
}

/**
 * A shared integer counter (safe integers).
 *
 * @example
 * ```ts
 * const hits = new Counter();
 * await pool.map(tasks.scan, files, { context: { hits } });   // tasks: await hits.add(1)
 * console.log(await hits.get());
 * ```
 */
export class Counter {
  constructor(initial = 0) {
    if (!Number.isSafeInteger(initial)) {
      throw new InvalidArgValueError(
        `Expected the initial value of a Counter to be a safe integer, got ${show(initial)}`,
      );
    }
    initialise(this, 'Counter', 2, {});
    bigOf(stateOf(this))[0] = BigInt(initial);
  }

  /** Add `amount` (a safe integer, may be negative); resolves to the new value. */
  add(amount = 1): Promise<number> {
    if (!Number.isSafeInteger(amount)) {
      return Promise.reject(
        new InvalidArgValueError(`Expected counter.add() to be given a safe integer, got ${show(amount)}`),
      );
    }
    const state = stateOf(this);
    if (state.cells) return Promise.resolve(counterAdd(bigOf(state), amount));
    return brokered(state, 'add', amount, Deadline.of('counter.add()', undefined)) as Promise<number>;
  }

  /** The value now. */
  get(): Promise<number> {
    const state = stateOf(this);
    if (state.cells) return Promise.resolve(counterGet(bigOf(state)));
    return brokered(state, 'get', undefined, Deadline.of('counter.get()', undefined)) as Promise<number>;
  }
}

/** Options of a Queue. */
export interface QueueOptions {
  /** At most this many values wait in the queue (default 1024); `put` waits for room. */
  readonly capacity?: number;
  /** Room for the values' serialised bytes (default 1 MiB); a larger value is refused. */
  readonly bytes?: number;
}

/**
 * A bounded FIFO queue between the caller and the workers. Values are copied (v8-serialised)
 * into it. `close()` ends it: `put` then throws `ERR_QUEUE_CLOSED`, `get` drains what is left
 * and then throws it, and `for await (const v of queue)` ends.
 *
 * @example
 * ```ts
 * const jobs = new Queue<string>({ capacity: 100 });
 * const consumers = pool.map(tasks.consume, [jobs, jobs]);   // for await (const j of jobs) ...
 * for (const url of urls) await jobs.put(url);
 * jobs.close();
 * await consumers;
 * ```
 */
export class Queue<T = unknown> {
  constructor(options: QueueOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgTypeError(`Expected the options of a Queue to be an object, got ${show(options)}`);
    }
    const capacity = options.capacity === undefined ? 1024 : positiveInteger('capacity', options.capacity);
    const bytes = options.bytes === undefined ? 1 << 20 : positiveInteger('bytes', options.bytes);
    initialise(this, 'Queue', QUEUE_HEADER_CELLS, { capacity, bytes }, bytes);
  }

  /** Add a value, waiting while the queue is full; `timeout` and `signal` bound the wait. */
  put(value: T, options?: WaitOptions): Promise<void> {
    const state = stateOf(this);
    return promised(() => {
      const deadline = Deadline.of('queue.put()', options);
      if (!state.cells) return brokered(state, 'put', value, deadline) as Promise<void>;
      let bytes: Uint8Array;
      try {
        bytes = encodeValue(value);
      } catch (error) {
        throw new InvalidArgValueError(`queue.put(): the value cannot be copied (${error})`, {
          cause: error,
        });
      }
      return queuePut(queueOf(state), bytes, deadline);
    });
  }

  /** Take the oldest value, waiting while the queue is empty; `ERR_QUEUE_CLOSED` once closed and empty. */
  get(options?: WaitOptions): Promise<T> {
    const state = stateOf(this);
    return promised(() => {
      const deadline = Deadline.of('queue.get()', options);
      if (!state.cells) return brokered(state, 'get', undefined, deadline) as Promise<T>;
      return queueGet(queueOf(state), deadline) as Promise<T>;
    });
  }

  /** How many values wait now (needs shared memory: not in a process worker). */
  get size(): number {
    const state = stateOf(this);
    if (!state.cells)
      throw new InvalidArgValueError('queue.size needs shared memory, which a process worker does not have');
    return queueSize(queueOf(state));
  }

  /** Close the queue (see the class). */
  close(): void {
    const state = stateOf(this);
    if (state.cells) queueClose(queueOf(state));
    else state.port?.post(state.key, 'close', undefined);
  }

  /** The values until the queue is closed and empty. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      try {
        yield await this.get();
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ERR_QUEUE_CLOSED') return;
        throw error;
      }
    }
  }
}

/** A promise-returning method's result: what it throws before its promise exists rejects instead. */
function promised<T>(body: () => Promise<T>): Promise<T> {
  try {
    return body();
  } catch (error) {
    return Promise.reject(error);
  }
}

// ---- the process worker's side: every operation is the broker's -----------------------------

function releaseBrokered(state: SyncState, notHeld: string): void {
  if (state.held === 0) throw new LockNotHeldError(notHeld);
  state.held--;
  state.port?.post(state.key, 'release', undefined);
}
