/**
 * What a running task can ask about itself: `taskContext()`.
 *
 * In a worker, items run one at a time, so the runtime keeps the current item in a plain
 * variable (cheap enough for sub-microsecond tasks). The inline backend runs several items
 * concurrently on one thread, so it also stores the item in an AsyncLocalStorage, which wins.
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import { type RandomStream, randomStream } from '../random.js';

/** The batch-level state shared by the items of one batch. */
export interface BatchState {
  readonly id: number;
  readonly seed: number;
  readonly context: unknown;
  aborted: boolean;
  controller: AbortController | undefined;
  report(amount: number): void;
}

/**
 * The per-item state; `rng` is created on first use only. A worker reuses one of these for all
 * the items of a batch (they run one after another), so a sub-microsecond task allocates nothing.
 */
export interface ItemState {
  batch: BatchState;
  index: number;
  rng: RandomStream | undefined;
  view: TaskContext | undefined;
}

/** What `taskContext()` returns. */
export interface TaskContext {
  /** Aborts when the caller cancels or aborts the call; a long task should check it and stop. */
  readonly signal: AbortSignal;
  /** The item's index in the caller's input (0 for `pool.run`). */
  readonly index: number;
  /** The call's seed (the pool's or the call's `seed` option). */
  readonly seed: number;
  /** The values given in `context` (for inline functions; `undefined` otherwise). */
  readonly context: unknown;
  /** A float in [0, 1) from this item's deterministic stream, derived from `(seed, index)`. */
  random(): number;
  /** A normally distributed float from this item's stream. */
  normal(mean?: number, sd?: number): number;
  /** Report partial progress: `amount` more units of this item are done (shown by `progress`). */
  progress(amount?: number): void;
}

let current: ItemState | undefined;
const storage = new AsyncLocalStorage<ItemState>();
let storageUsed = false;

/** Set the item the worker is running now (workers run one item at a time). */
export function setCurrentItem(item: ItemState | undefined): void {
  current = item;
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

function streamOf(item: ItemState): RandomStream {
  if (!item.rng) item.rng = randomStream(item.batch.seed, item.index);
  return item.rng;
}

class ItemContext implements TaskContext {
  constructor(private readonly item: ItemState) {}
  get signal(): AbortSignal {
    return signalOf(this.item.batch);
  }
  get index(): number {
    return this.item.index;
  }
  get seed(): number {
    return this.item.batch.seed;
  }
  get context(): unknown {
    return this.item.batch.context;
  }
  random(): number {
    return streamOf(this.item).random();
  }
  normal(mean?: number, sd?: number): number {
    return streamOf(this.item).normal(mean, sd);
  }
  progress(amount = 1): void {
    this.item.batch.report(amount);
  }
}

/**
 * The context of the task that is running now. Call it inside a task function.
 *
 * @throws {Error} when called outside a running task.
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
  const item = (storageUsed ? storage.getStore() : undefined) ?? current;
  if (!item) throw new Error('taskContext() was called outside a running task');
  if (!item.view) item.view = new ItemContext(item);
  return item.view;
}
