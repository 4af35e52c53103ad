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

import { HANDLE_MARKER } from '../codec/crossing.js';
import { InvalidArgTypeError, InvalidArgValueError, LockNotHeldError } from '../errors.js';
import { positiveInteger, show } from '../options/checks.js';
import {
  BARRIER_CELLS,
  barrierBreak,
  barrierWait,
  counterAdd,
  counterGet,
  LOCK_CELLS,
  lockAcquire,
  lockHolderGone,
  lockRelease,
  lockTry,
  OWN_TAG,
  QUEUE_HEADER_CELLS,
  type QueueMemory,
  queueClose,
  queueGet,
  queueMemory,
  queuePut,
  queueSize,
  SEMAPHORE_CELLS,
  semaphoreAcquire,
  semaphoreHolderGone,
  semaphoreRelease,
  semaphoreTry,
} from './sync-memory.js';
import { encodeValue } from './sync-values.js';
import { Deadline, type WaitOptions } from './sync-wait.js';

export { PROCESS_TAG_BASE } from './sync-memory.js';
export type { WaitOptions };

export type SyncKind = 'Lock' | 'Semaphore' | 'Barrier' | 'Counter' | 'Queue';

/** What a primitive needs besides its memory (a process worker's proxy has only this). */
export interface SyncParams {
  readonly permits?: number;
  readonly parties?: number;
  readonly capacity?: number;
  readonly bytes?: number;
}

/**
 * How a process worker's proxy reaches the caller's broker: `call` waits for the answer,
 * `post` does not (a release). Implemented by the worker runtime over its channel.
 */
export interface BrokerPort {
  call(key: string, op: string, arg: unknown, deadline: Deadline): Promise<unknown>;
  post(key: string, op: string, arg: unknown): void;
}

/** What a worker is sent of a primitive, once, before the first batch that passes it. */
export interface SyncAttachment {
  readonly kind: SyncKind;
  readonly key: string;
  readonly params: SyncParams;
  /** The shared memory, to workers that share memory with the caller (threads). */
  readonly buffer?: SharedArrayBuffer | undefined;
}

const STATE = Symbol('fanout.sync');

interface SyncState {
  readonly kind: SyncKind;
  readonly key: string;
  readonly params: SyncParams;
  readonly buffer: SharedArrayBuffer | undefined;
  readonly cells: Int32Array | undefined;
  readonly port: BrokerPort | undefined;
  /** Brokered: the locks or permits this worker holds (it may release only those). */
  held: number;
  big?: BigInt64Array;
  queue?: QueueMemory;
}

/** Keys name a primitive across threads and processes: unique per creating thread and process. */
let created = 0;
const keyPrefix = `${process.pid}.${OWN_TAG}.`;
/** A worker given a primitive may pass it on to a pool of its own (nested): it counts too. */
let revived = 0;

/** Whether this thread ever made or revived a primitive (when not, batches are not scanned for them). */
export function syncPrimitivesCreated(): boolean {
  return created + revived > 0;
}

function initialise(target: object, kind: SyncKind, cells: number, params: SyncParams, extraBytes = 0): void {
  const buffer = new SharedArrayBuffer(4 * cells + extraBytes);
  const key = keyPrefix + ++created;
  attachState(target, {
    kind,
    key,
    params,
    buffer,
    cells: new Int32Array(buffer, 0, cells),
    port: undefined,
    held: 0,
  });
}

function attachState(target: object, state: SyncState): void {
  Object.defineProperty(target, HANDLE_MARKER, {
    value: Object.freeze({ kind: state.kind, key: state.key }),
    enumerable: true,
  });
  Object.defineProperty(target, STATE, { value: state });
}

function stateOf(target: object): SyncState {
  const state = (target as { [STATE]?: SyncState })[STATE];
  if (!state)
    throw new InvalidArgTypeError(`Expected a fanout synchronisation primitive, got ${show(target)}`);
  return state;
}

/** The primitive's state when `value` is one (the caller's object or a worker's revived one). */
export function syncStateOf(value: unknown): SyncState | undefined {
  return typeof value === 'object' && value !== null ? (value as { [STATE]?: SyncState })[STATE] : undefined;
}

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
  readonly #release: () => void;

  /** @internal */
  constructor(release: () => void) {
    this.#release = release;
  }

  /** Release the hold; a second release throws `ERR_LOCK_NOT_HELD`. */
  release(): void {
    if (this.#released) throw new LockNotHeldError('release(): this hold was already released');
    this.#released = true;
    this.#release();
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
  /** @internal */
  declare readonly [HANDLE_MARKER]: { readonly kind: SyncKind; readonly key: string };

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
    return lockTry(state.cells, OWN_TAG)
      ? new Held(() => lockRelease(state.cells as Int32Array, OWN_TAG))
      : undefined;
  }

  /** Wait for the lock; `timeout` (ms) and `signal` bound the wait (`ERR_WAIT_TIMEOUT`, `ABORT_ERR`). */
  acquire(options?: WaitOptions): Promise<Held> {
    const state = stateOf(this);
    const { cells } = state;
    // The fast path: free, and no options to read.
    if (cells && options === undefined && lockTry(cells, OWN_TAG)) {
      return Promise.resolve(new Held(() => lockRelease(cells, OWN_TAG)));
    }
    return promised(() => {
      const deadline = Deadline.of('lock.acquire()', options);
      if (cells) {
        return lockAcquire(cells, OWN_TAG, deadline).then(() => new Held(() => lockRelease(cells, OWN_TAG)));
      }
      return brokered(state, 'acquire', undefined, deadline).then(() => {
        state.held++;
        return new Held(() => this.release());
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
  /** @internal */
  declare readonly [HANDLE_MARKER]: { readonly kind: SyncKind; readonly key: string };

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
    return semaphoreTry(state.cells, OWN_TAG)
      ? new Held(() => semaphoreRelease(state.cells as Int32Array, OWN_TAG))
      : undefined;
  }

  /** Wait for a permit; `timeout` and `signal` bound the wait. */
  acquire(options?: WaitOptions): Promise<Held> {
    const state = stateOf(this);
    const { cells } = state;
    if (cells && options === undefined && semaphoreTry(cells, OWN_TAG)) {
      return Promise.resolve(new Held(() => semaphoreRelease(cells, OWN_TAG)));
    }
    return promised(() => {
      const deadline = Deadline.of('semaphore.acquire()', options);
      if (cells) {
        return semaphoreAcquire(cells, OWN_TAG, deadline).then(
          () => new Held(() => semaphoreRelease(cells, OWN_TAG)),
        );
      }
      return brokered(state, 'acquire', undefined, deadline).then(() => {
        state.held++;
        return new Held(() => this.release());
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
  /** @internal */
  declare readonly [HANDLE_MARKER]: { readonly kind: SyncKind; readonly key: string };

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
  /** @internal */
  declare readonly [HANDLE_MARKER]: { readonly kind: SyncKind; readonly key: string };

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

function bigOf(state: SyncState): BigInt64Array {
  state.big ??= new BigInt64Array(state.buffer as SharedArrayBuffer, 0, 1);
  return state.big;
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
  /** @internal */
  declare readonly [HANDLE_MARKER]: { readonly kind: SyncKind; readonly key: string };

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

function queueOf(state: SyncState): QueueMemory {
  state.queue ??= queueMemory(state.buffer as SharedArrayBuffer, state.params.capacity as number);
  return state.queue;
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

function brokered(state: SyncState, op: string, arg: unknown, deadline: Deadline): Promise<unknown> {
  if (!state.port)
    throw new InvalidArgValueError(`This ${state.kind} has neither shared memory nor a broker`);
  return state.port.call(state.key, op, arg, deadline);
}

function releaseBrokered(state: SyncState, notHeld: string): void {
  if (state.held === 0) throw new LockNotHeldError(notHeld);
  state.held--;
  state.port?.post(state.key, 'release', undefined);
}

// ---- the worker set's side --------------------------------------------------------------------

/** What a worker must be sent so it can revive `primitive` (`shared`: it shares memory with the caller). */
export function syncAttachment(primitive: object, shared: boolean): SyncAttachment {
  const { kind, key, params, buffer } = stateOf(primitive);
  return shared ? { kind, key, params, buffer } : { kind, key, params };
}

const CLASSES: Record<SyncKind, { prototype: object }> = { Lock, Semaphore, Barrier, Counter, Queue };
const CELLS: Record<SyncKind, number> = {
  Lock: LOCK_CELLS,
  Semaphore: SEMAPHORE_CELLS,
  Barrier: BARRIER_CELLS,
  Counter: 2,
  Queue: QUEUE_HEADER_CELLS,
};

/** A worker's live primitive for an attachment: over the shared memory, or through `port`. */
export function reviveSync(attachment: SyncAttachment, port: BrokerPort | undefined): object {
  const { kind, key, params, buffer } = attachment;
  const Class = CLASSES[kind];
  if (!Class) throw new InvalidArgValueError(`Unknown synchronisation primitive ${show(kind)}`);
  const target = Object.create(Class.prototype) as object;
  revived++;
  attachState(target, {
    kind,
    key,
    params,
    buffer,
    cells: buffer ? new Int32Array(buffer, 0, CELLS[kind]) : undefined,
    port: buffer ? undefined : port,
    held: 0,
  });
  return target;
}

/**
 * The broker: run a process worker's operation on the caller's primitive, as holder `tag`.
 * `deadline` carries the worker's timeout and a signal the broker aborts when the worker
 * cancels the wait or dies.
 */
export async function serveSync(
  primitive: object,
  op: string,
  arg: unknown,
  tag: number,
  deadline: Deadline,
): Promise<unknown> {
  const state = stateOf(primitive);
  // A process worker's proxy passed on to its own pool: its broker forwards to the caller's.
  if (!state.cells) {
    if (op === 'release' || op === 'abort' || op === 'close') return state.port?.post(state.key, op, arg);
    return brokered(state, op, arg, deadline);
  }
  const cells = state.cells;
  switch (`${state.kind}.${op}`) {
    case 'Lock.acquire':
      return lockAcquire(cells, tag, deadline);
    case 'Lock.release':
      return lockRelease(cells, tag);
    case 'Semaphore.acquire':
      return semaphoreAcquire(cells, tag, deadline);
    case 'Semaphore.release':
      return semaphoreRelease(cells, tag);
    case 'Barrier.wait':
      return barrierWait(cells, deadline);
    case 'Barrier.abort':
      return barrierBreak(cells);
    case 'Counter.add':
      return counterAdd(bigOf(state), arg as number);
    case 'Counter.get':
      return counterGet(bigOf(state));
    case 'Queue.put':
      return (primitive as Queue).put(arg, {
        signal: deadline.signal as AbortSignal,
        timeout: deadline.remaining(),
      });
    case 'Queue.get':
      return (primitive as Queue).get({
        signal: deadline.signal as AbortSignal,
        timeout: deadline.remaining(),
      });
    case 'Queue.close':
      return queueClose(queueOf(state));
    default:
      throw new InvalidArgValueError(`No operation ${show(op)} on a ${state.kind}`);
  }
}

/**
 * A worker died: free the locks its tag holds (the next waiter gets them), give back its
 * semaphore permits, and, when it died running a task that was given `primitive` (`party`),
 * break a barrier it may have left one party short.
 */
export function syncHolderGone(primitive: object, tag: number, party: boolean): void {
  const state = stateOf(primitive);
  const cells = state.cells;
  if (!cells) return;
  if (state.kind === 'Lock') lockHolderGone(cells, tag);
  else if (state.kind === 'Semaphore') semaphoreHolderGone(cells, tag);
  else if (state.kind === 'Barrier' && party) barrierBreak(cells);
}

/** The broker's semantics of an operation that holds something for the worker (to undo if it died meanwhile). */
export function syncOpHolds(primitive: object, op: string): boolean {
  const { kind } = stateOf(primitive);
  return op === 'acquire' && (kind === 'Lock' || kind === 'Semaphore');
}
