/**
 * What a running task can ask about itself: `taskContext()`.
 *
 * In a worker, items run one at a time, so the runtime keeps the current item in a plain
 * variable (cheap enough for sub-microsecond tasks). The inline backend runs several items
 * concurrently on one thread, so it also stores the item in an AsyncLocalStorage, which wins.
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import { itemStream } from '../data/random.js';
import { NoTaskContextError } from '../errors.js';
import { freshSeed } from '../options/checks.js';
import type { AnyFunction, ChildCallOptions, Comm, RandomStream, TaskContext, TaskPool } from '../types.js';
import { runWithArgsError, untilAborted, withChildSignal } from './child-options.js';

/** The batch-level state shared by the items of one batch. */
export interface BatchState {
  readonly id: number;
  readonly seed: number;
  readonly context: unknown;
  aborted: boolean;
  controller: AbortController | undefined;
  report(amount: number): void;
  /**
   * The handle `taskContext().pool` gives an item of this batch (the worker's, which sends child
   * calls to the pool); absent, children are direct calls (a local call of a task).
   */
  readonly poolFor?: ((item: ItemState) => TaskPool) | undefined;
  /** An item of this batch started child calls: it only awaits them (see BatchRun's pinning). */
  childrenStarted?: (() => void) | undefined;
}

/**
 * The running item: what `taskContext()` returns. A worker reuses one of these for all the items
 * of a batch (they run one after another) and moves it on with `moveTo`, so a sub-microsecond
 * task allocates nothing and reaches its random stream in one step.
 */
export class ItemState implements TaskContext {
  private rng: RandomStream | undefined;
  /** The item returned a promise that has not settled (it counts against the worker's slots). */
  inFlight = false;
  /** While in flight, it holds one of the worker's slots (not while it only awaits its children). */
  holdsSlot = false;
  /** Child calls it submitted that have not settled (`taskContext().pool`). */
  children = 0;
  /** Child calls it submitted so far: child k's seed derives from this item's and k. */
  childCalls = 0;
  private handle: TaskPool | undefined;

  get pool(): TaskPool {
    if (!this.handle) this.handle = this.batch.poolFor ? this.batch.poolFor(this) : directPool;
    return this.handle;
  }

  constructor(
    readonly batch: BatchState,
    public index: number,
    /** A child call run in its parent's worker has a seed of its own (see NestedCalls). */
    private readonly ownSeed?: number,
    /** And, when it was given a `signal`, a signal of its own: that one or its parent's. */
    private readonly ownSignal?: AbortSignal,
  ) {}

  /** The next item of the same batch. */
  moveTo(index: number): void {
    this.index = index;
    this.rng = undefined;
  }

  get signal(): AbortSignal {
    return this.ownSignal ?? signalOf(this.batch);
  }
  get seed(): number {
    return this.ownSeed ?? this.batch.seed;
  }
  get context(): unknown {
    return this.batch.context;
  }
  random(): number {
    return this.randomStream().random();
  }
  randomStream(): RandomStream {
    if (!this.rng) this.rng = itemStream(this.seed, this.index);
    return this.rng;
  }
  normal(mean?: number, sd?: number): number {
    return this.randomStream().normal(mean, sd);
  }
  progress(amount = 1): void {
    this.batch.report(amount);
  }
  get comm(): Comm | undefined {
    return commStorage.getStore();
  }
}

/**
 * The SPMD rank running here (worker/comm.ts sets it around the task). Kept apart from the item:
 * in the inline backend several ranks share one thread, and only async context tells them apart.
 */
const commStorage = new AsyncLocalStorage<Comm>();

/** Run `fn` as one rank of an SPMD group: `taskContext().comm` is `comm` inside it. */
export function runAsRank<T>(comm: Comm, fn: () => T): T {
  return commStorage.run(comm, fn);
}

let current: ItemState | undefined;
const storage = new AsyncLocalStorage<ItemState>();
let storageUsed = false;

/** Set the item the worker is running now (workers run one item at a time). */
export function setCurrentItem(item: ItemState | undefined): void {
  current = item;
}

/** Whether `item` is the context kept in AsyncLocalStorage here (not the worker's shared one). */
export function isStoredItem(item: ItemState): boolean {
  return storageUsed && storage.getStore() === item;
}

/** Run `fn` with `item` as the context, isolated from concurrently running items (inline backend). */
export function runWithItem<T>(item: ItemState, fn: () => T): T {
  storageUsed = true;
  return storage.run(item, fn);
}

export function signalOf(batch: BatchState): AbortSignal {
  if (!batch.controller) {
    batch.controller = new AbortController();
    if (batch.aborted) batch.controller.abort();
  }
  return batch.controller.signal;
}

/** The item running here, if any. */
function runningItem(): ItemState | undefined {
  return (storageUsed ? storage.getStore() : undefined) ?? current;
}

/**
 * The item running here, for the runtime: a fused graph piece (worker/piece-tasks.ts) moves it
 * to each node it runs, so a node's `taskContext()` has the node's own index and stream.
 */
export function runningItemState(): ItemState | undefined {
  return runningItem();
}

/**
 * `taskContext().pool` in a local call: each child is a direct call of the task (a task
 * reference called locally shares the calling task's context). The serial form of a nested
 * program, for tests and for timing it against the pool.
 */
const directPool: TaskPool = {
  run: (task: AnyFunction, ...args: unknown[]) => called(() => task(...args)),
  runWith: (task: AnyFunction, args: unknown[], options?: ChildCallOptions) => {
    const refused = runWithArgsError(args);
    if (refused) return Promise.reject(refused);
    return withSignal(options, 'taskContext().pool.runWith', () => called(() => task(...args)));
  },
  map: (task: AnyFunction, items: Iterable<unknown>, options?: ChildCallOptions) =>
    withSignal(options, 'taskContext().pool.map', () =>
      Promise.all(Array.from(items, (item) => called(() => task(item)))),
    ),
  starmap: (task: AnyFunction, tuples: Iterable<unknown[]>, options?: ChildCallOptions) =>
    withSignal(options, 'taskContext().pool.starmap', () =>
      Promise.all(Array.from(tuples, (args) => called(() => task(...args)))),
    ),
  imap: (task: AnyFunction, items: Iterable<unknown>, options?: ChildCallOptions) =>
    streamOf(directPool.map(task, items, options)),
} as TaskPool;

/** A call's result as a promise (a sync task that throws rejects it). */
function called<T>(fn: () => T): Promise<Awaited<T>> {
  try {
    return Promise.resolve(fn()) as Promise<Awaited<T>>;
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * A local child call with its options: refused before it starts when its signal has aborted,
 * rejected with ABORT_ERR when it aborts meanwhile (the call shares its caller's context, so
 * there is no signal of its own to abort: it is abandoned, as the inline backend abandons).
 */
function withSignal<T>(
  options: ChildCallOptions | undefined,
  name: string,
  run: () => Promise<T>,
): Promise<T> {
  return withChildSignal(options, name, (signal) => untilAborted(run(), signal, () => {}));
}

/** The results of a whole call, yielded one by one once it is done. */
export async function* streamOf<T>(all: Promise<T[]>): AsyncIterable<T> {
  yield* await all;
}

/** What progress reported by a local call goes to: nothing is listening. */
function ignoreProgress(): void {}

/**
 * Run a task called locally (`tasks.simulate(75, 5, 10)`). Outside any running task, it gets a
 * context of its own: index 0, a fresh random seed per call (`taskContext().seed` reports it,
 * so `randomStream(seed, 0)` replays the call's draws), a signal that never aborts, no
 * `context`, and progress reports that go nowhere. Inside a running task, a local call is part
 * of that task and shares its context.
 */
export function runLocally<T>(fn: () => T): T {
  if (runningItem()) return fn();
  const batch: BatchState = {
    id: -1,
    seed: freshSeed(),
    context: undefined,
    aborted: false,
    controller: undefined,
    report: ignoreProgress,
  };
  return runWithItem(new ItemState(batch, 0), fn);
}

/**
 * The context of the task that is running now. Call it inside a task function (run by a pool,
 * or called locally: see `runLocally`).
 *
 * @throws {NoTaskContextError} `ERR_NO_TASK_CONTEXT` when no task is running here.
 * @example
 * ```ts
 * export default defineTasks(import.meta.url, {
 *   simulate(steps: number): number {
 *     const ctx = taskContext();
 *     let t = 75;
 *     for (let i = 0; i < steps; i++) t = ctx.normal((72 + t) / 2, 5);
 *     return t; // the same value for this item on any backend and any number of workers
 *   },
 * });
 * ```
 */
export function taskContext(): TaskContext {
  const item = runningItem();
  if (!item) {
    throw new NoTaskContextError(
      'taskContext() was called where no task is running: call it inside a task function (run by a pool, or called locally through its task reference), not at module level or from a callback that outlives the task',
    );
  }
  return item;
}
