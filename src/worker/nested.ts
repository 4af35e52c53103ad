/**
 * A worker's side of nested parallelism: the `taskContext().pool` handle a running item gets.
 *
 * A child of a plain task waits in this worker's deque (child-deque.ts) and runs here, as a
 * direct call, unless another worker is idle and takes it through the pool (lazy task creation:
 * a round trip only when it buys parallelism). Other children (inline functions, wrapped
 * tasks) and maps submitted while a worker is idle go to the pool that runs the worker (a
 * `call` message, answered by `called`). While an item waits for its children it gives its slot
 * back (see `Slots`): a parent awaiting children holds no part of the worker, so a recursion
 * deeper than workers × slots still runs.
 */

import { fromWire } from '../codec/errors.js';
import { callSeed } from '../data/random.js';
import { AbortError, describe, NotCloneableError, TaskError } from '../errors.js';
import { runWithArgsError, untilAborted, withChildSignal } from '../tasks/child-options.js';
import {
  ItemState,
  isStoredItem,
  runWithItem,
  setCurrentItem,
  signalOf,
  streamOf,
} from '../tasks/context.js';
import { type NestedCall, taskSpecOf } from '../tasks/task-spec.js';
import { isTaskRef } from '../tasks/tasks.js';
import type { AnyFunction, ChildCallOptions, TaskPool, TaskRef } from '../types.js';
import type { Slots } from './batch-run.js';
import { ChildDeque } from './child-deque.js';
import { BRAND, type CalledMessage, type FromWorker } from './protocol.js';

interface Waiting {
  readonly item: ItemState;
  readonly resolve: (values: unknown[]) => void;
  readonly reject: (error: unknown) => void;
}

/** A child call kept in the deque: run here later, or given to an idle worker. */
interface Child {
  readonly item: ItemState;
  readonly task: TaskRef;
  /** The arguments of each call (`spread`), or each item. `run` has one call. */
  readonly items: readonly unknown[];
  readonly spread: boolean;
  /** `run`: settles with the one value, not an array of them. */
  readonly one: boolean;
  readonly seed: number;
  /** Whether its parent keeps its context in AsyncLocalStorage (see `toPool`), known when it was submitted. */
  readonly stored: boolean;
  /** Its `signal` option: aborting it takes the child out of the deque, or cancels it where it went. */
  readonly signal: AbortSignal | undefined;
  /** Once given away: its call's `ref` with the pool. */
  ref?: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Children waiting in the deque that this worker keeps to run itself before it starts running
 * some as they come: a recursion then keeps its few oldest (largest) children stealable and
 * runs the deep ones at the cost of a direct call.
 */
const KEEP = 4;

const first = (values: unknown[]): unknown => values[0];
const noop = (): void => {};

/** What gives `item` its context back before its child call settles early (none when stored). */
function restorer(item: ItemState, stored: boolean): (() => void) | undefined {
  return stored ? undefined : () => setCurrentItem(item);
}

/**
 * The `taskContext().signal` of a child run here: its parent's, or, when the child call has a
 * signal, one that aborts with either.
 */
function ownSignal(item: ItemState, signal: AbortSignal | undefined): AbortSignal | undefined {
  return signal ? AbortSignal.any([signalOf(item.batch), signal]) : undefined;
}

/** `taskContext().pool` for one item. */
class ItemPool {
  constructor(
    private readonly calls: NestedCalls,
    private readonly item: ItemState,
  ) {}

  run(task: unknown, ...args: unknown[]): Promise<unknown> {
    return this.calls.runOne(this.item, task, args, undefined);
  }

  runWith(task: unknown, args: unknown[], options?: ChildCallOptions): Promise<unknown> {
    const refused = runWithArgsError(args);
    if (refused) return Promise.reject(refused);
    return this.calls.runOne(this.item, task, args, options);
  }

  map(task: unknown, items: Iterable<unknown>, options?: ChildCallOptions): Promise<unknown[]> {
    return this.calls.submit(this.item, 'taskContext().pool.map', task, [...items], false, options);
  }

  starmap(task: unknown, tuples: Iterable<unknown[]>, options?: ChildCallOptions): Promise<unknown[]> {
    return this.calls.submit(this.item, 'taskContext().pool.starmap', task, [...tuples], true, options);
  }

  imap(task: unknown, items: Iterable<unknown>, options?: ChildCallOptions): AsyncIterable<unknown> {
    return streamOf(this.map(task, items, options));
  }
}

/** Make `item` the worker's current item again, then `settle` its awaited child call. */
function restoreThen(item: ItemState, settle: () => void): void {
  setCurrentItem(item);
  settle();
}

/** A plain task reference: its children may run here as direct calls. */
function isPlainTask(task: unknown): task is TaskRef {
  return isTaskRef(task) && !task.wrapper;
}

/**
 * Child k of an item draws from a seed of its own, fixed by the item's seed, index and k: the
 * same whether the child runs here or in the pool (where its own children derive from it).
 */
function childSeed(item: ItemState): number {
  return callSeed(callSeed(item.seed, item.index), ++item.childCalls);
}

export class NestedCalls {
  private nextRef = 1;
  private readonly waiting = new Map<number, Waiting>();
  /**
   * How many of the pool's workers could take a batch (cell 0): shared with the pool where
   * memory is, else a copy it updates by message. Until the pool says, one: the first child
   * given away makes the pool send its count.
   */
  hunger: Int32Array<ArrayBufferLike> = new Int32Array([1]);

  hungerChanged(idle: number): void {
    this.hunger[0] = idle;
  }

  private readonly deque: ChildDeque<Child>;

  constructor(
    private readonly send: (message: FromWorker) => void,
    private readonly slots: Slots,
  ) {
    this.deque = new ChildDeque<Child>({
      hungry: () => Atomics.load(this.hunger, 0) > 0,
      giveAway: (child) => this.giveAway(child),
      runHere: (child) => this.runHere(child),
      busy: (on) => this.send({ fanout: BRAND, t: 'busy', on }),
    });
  }

  /** The handle for `item` (BatchState.poolFor): one small object, its methods shared. */
  readonly poolFor = (item: ItemState): TaskPool => new ItemPool(this, item) as unknown as TaskPool;

  /** `run`: one child, its value (no array in between: a recursion makes many). */
  runOne(
    item: ItemState,
    task: unknown,
    args: unknown[],
    options: ChildCallOptions | undefined,
  ): Promise<unknown> {
    // Without options (a recursion's every call), no closure is made for their check.
    if (options !== undefined) {
      const name = 'taskContext().pool.runWith';
      return withChildSignal(options, name, (signal) => this.startOne(item, name, task, args, signal));
    }
    return this.startOne(item, 'taskContext().pool.run', task, args, undefined);
  }

  /** `runOne` once its options are checked. */
  private startOne(
    item: ItemState,
    name: string,
    task: unknown,
    args: unknown[],
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    if (!isPlainTask(task)) return this.submitChecked(item, name, task, [args], true, signal).then(first);
    const seed = childSeed(item);
    // A few children wait, stealable; with the deque that full and no worker idle, run it now.
    if (this.deque.length < KEEP || Atomics.load(this.hunger, 0) > 0) {
      return this.defer(item, task, [args], true, true, seed, signal);
    }
    const stored = isStoredItem(item);
    const settled = this.directOne(item, task, args, seed, stored, signal);
    // Without a signal (a recursion's every call), nothing more is made.
    return signal ? untilAborted(settled, signal, noop, restorer(item, stored)) : settled;
  }

  submit(
    item: ItemState,
    name: string,
    task: unknown,
    items: readonly unknown[],
    spread: boolean,
    options: ChildCallOptions | undefined,
  ): Promise<unknown[]> {
    return withChildSignal(options, name, (signal) =>
      this.submitChecked(item, name, task, items, spread, signal),
    );
  }

  /** A child call whose options have been checked (`signal`: its signal, not aborted yet). */
  private submitChecked(
    item: ItemState,
    name: string,
    task: unknown,
    items: readonly unknown[],
    spread: boolean,
    signal: AbortSignal | undefined,
  ): Promise<unknown[]> {
    let spec: ReturnType<typeof taskSpecOf>;
    try {
      spec = taskSpecOf(task, name);
    } catch (error) {
      return Promise.reject(error);
    }
    const seed = childSeed(item);
    // A map of a plain task waits in the deque, whole, unless a worker is idle now: the pool
    // then spreads its items over the workers at once.
    if (isPlainTask(task) && Atomics.load(this.hunger, 0) === 0) {
      return this.defer(item, task, items, spread, false, seed, signal) as Promise<unknown[]>;
    }
    const call: NestedCall = { spec: spec.spec, taskName: spec.name, spread, items, seed };
    const stored = isStoredItem(item);
    let ref: number | undefined;
    const settled = new Promise<unknown[]>((resolve, reject) => {
      try {
        ref = this.toPool(item, stored, call, resolve, reject);
      } catch (error) {
        reject(
          new NotCloneableError(
            `The arguments given to ${name} cannot be sent to the pool: ${describe(error)}`,
            { cause: error },
          ),
        );
        return;
      }
      this.childStarted(item);
    });
    if (!signal) return settled;
    return untilAborted(settled, signal, () => this.uncall(item, ref), restorer(item, stored));
  }

  /**
   * Cancel the child call `ref` sent to the pool, if not answered yet: the parent stops waiting
   * for it now, and the pool aborts it (its answer is ignored).
   */
  private uncall(item: ItemState, ref: number | undefined): void {
    if (ref === undefined || !this.waiting.delete(ref)) return;
    this.childEnded(item);
    this.send({ fanout: BRAND, t: 'uncall', ref });
  }

  /**
   * Send `call` to the pool, to settle `resolve`/`reject` when it answers; returns its `ref`.
   * Throws when it cannot be sent.
   */
  private toPool(
    item: ItemState,
    stored: boolean,
    call: NestedCall,
    resolve: (values: unknown[]) => void,
    reject: (error: unknown) => void,
  ): number {
    const ref = this.nextRef++;
    this.send({ fanout: BRAND, t: 'call', ref, batch: item.batch.id, call });
    // An item run with the worker's shared state (not in AsyncLocalStorage) gets it back when
    // its children answer: other items may have run meanwhile.
    this.waiting.set(ref, {
      item,
      resolve: stored ? resolve : (values) => restoreThen(item, () => resolve(values)),
      reject: stored ? reject : (error) => restoreThen(item, () => reject(error)),
    });
    return ref;
  }

  /** Keep a child in the deque; its parent awaits it from now on. */
  private defer(
    item: ItemState,
    task: TaskRef,
    items: readonly unknown[],
    spread: boolean,
    one: boolean,
    seed: number,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    this.childStarted(item);
    const stored = isStoredItem(item);
    const child: Child = {
      item,
      task,
      items,
      spread,
      one,
      seed,
      stored,
      signal,
      resolve: noop,
      reject: noop,
    };
    const settled = new Promise((resolve, reject) => {
      child.resolve = resolve;
      child.reject = reject;
      this.deque.push(child);
    });
    if (!signal) return settled;
    return untilAborted(settled, signal, () => this.cancelChild(child), restorer(item, stored));
  }

  /**
   * A deferred child's signal aborted: out of the deque if it still waits there, cancelled
   * through the pool if it was given away. Running here, it cannot be stopped: its own
   * `taskContext().signal` (which follows this one) has aborted, and its result is ignored.
   */
  private cancelChild(child: Child): void {
    if (this.deque.remove(child)) this.childEnded(child.item);
    else this.uncall(child.item, child.ref);
  }

  /** An idle worker takes `child`: through the pool, claiming one unit of hunger. */
  private giveAway(child: Child): boolean {
    const { spec, name } = taskSpecOf(child.task, 'taskContext().pool.run');
    const call: NestedCall = {
      spec,
      taskName: name,
      spread: child.spread,
      items: child.items,
      seed: child.seed,
    };
    // The pool counts the idle workers again once it has placed the child; until then, this
    // worker (or another, sharing the cell) gives no second child for the same idle worker.
    const h = Atomics.load(this.hunger, 0);
    if (h > 0) Atomics.compareExchange(this.hunger, 0, h, h - 1);
    try {
      child.ref = this.toPool(
        child.item,
        child.stored,
        call,
        child.one ? (values) => child.resolve(values[0]) : child.resolve,
        child.reject,
      );
    } catch {
      // Its arguments cannot cross to another worker: it runs here, where they need not.
      if (h > 0) Atomics.add(this.hunger, 0, 1);
      return false;
    }
    return true;
  }

  /** Run a child of the deque here (its parent's call was cancelled meanwhile: it never starts). */
  private runHere(child: Child): void {
    const { item } = child;
    if (item.batch.aborted) {
      this.childEnded(item);
      if (!child.stored) setCurrentItem(item);
      child.reject(
        new AbortError('The operation was aborted', { cause: item.batch.controller?.signal.reason }),
      );
      return;
    }
    // The parent already counts this child (see defer): the direct call counts it once more.
    const settled = child.one
      ? this.directOne(item, child.task, child.items[0] as unknown[], child.seed, child.stored, child.signal)
      : this.direct(item, child.task, child.items, child.spread, child.seed, child.stored, child.signal);
    this.childEnded(item);
    settled.then(child.resolve, child.reject);
  }

  /**
   * Run a child call here, as direct calls of the task: each item with a context of its own (the
   * seed and index it would have in the pool, the parent's signal), its error wrapped as the
   * pool would (`ERR_TASK_FAILED`). Its values are not copied.
   */
  private direct(
    item: ItemState,
    task: AnyFunction,
    items: readonly unknown[],
    spread: boolean,
    seed: number,
    stored: boolean,
    signal: AbortSignal | undefined,
  ): Promise<unknown[]> {
    // The children share the parent's batch (its signal, progress), each with its own seed.
    const batch = item.batch;
    const own = ownSignal(item, signal);
    this.childStarted(item);
    const settled = () => {
      this.childEnded(item);
      // Cancelled, the parent went on long ago: its context was given back then.
      if (!stored && !signal?.aborted) setCurrentItem(item);
    };
    let failed = -1;
    return Promise.all(
      items.map((args, index) => {
        try {
          const child = new ItemState(batch, index, seed, own);
          return Promise.resolve(
            runWithItem(child, spread ? () => task(...(args as unknown[])) : () => task(args)),
          ).catch((error: unknown) => {
            if (failed < 0) failed = index;
            throw error;
          });
        } catch (error) {
          if (failed < 0) failed = index;
          return Promise.reject(error);
        }
      }),
    ).then(
      (values) => {
        settled();
        return values;
      },
      (error: unknown) => {
        settled();
        throw new TaskError({ task: task.name, index: failed }, error);
      },
    );
  }

  /** `run`'s direct call (see `direct`), with the fewest objects: a recursion makes one per call. */
  private directOne(
    item: ItemState,
    task: AnyFunction,
    args: unknown[],
    seed: number,
    stored: boolean,
    signal?: AbortSignal,
  ): Promise<unknown> {
    this.childStarted(item);
    let result: unknown;
    try {
      const child = new ItemState(item.batch, 0, seed, ownSignal(item, signal));
      result = runWithItem(child, () => task(...args));
    } catch (error) {
      this.childEnded(item);
      return Promise.reject(new TaskError({ task: task.name, index: 0 }, error));
    }
    return Promise.resolve(result).then(
      (value) => {
        this.childEnded(item);
        if (!stored && !signal?.aborted) setCurrentItem(item);
        return value;
      },
      (error: unknown) => {
        this.childEnded(item);
        if (!stored && !signal?.aborted) setCurrentItem(item);
        throw new TaskError({ task: task.name, index: 0 }, error);
      },
    );
  }

  /** The pool answered a child call. */
  answered(message: CalledMessage): void {
    const waiting = this.waiting.get(message.ref);
    if (!waiting) return;
    this.waiting.delete(message.ref);
    this.childEnded(waiting.item);
    if (message.error) waiting.reject(fromWire(message.error));
    else waiting.resolve(message.values ?? []);
  }

  /** An item's first unsettled child: while it awaits them, its slot is free for other items. */
  private childStarted(item: ItemState): void {
    if (item.children++ > 0) return;
    if (item.inFlight && item.holdsSlot) {
      item.holdsSlot = false;
      this.slots.give();
    }
    item.batch.childrenStarted?.();
  }

  /** An item's last child settled: if it still awaits, it takes a slot again. */
  private childEnded(item: ItemState): void {
    if (--item.children > 0) return;
    if (item.inFlight && !item.holdsSlot) {
      item.holdsSlot = true;
      this.slots.take();
    }
  }
}
