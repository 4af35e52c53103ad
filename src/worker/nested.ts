/**
 * A worker's side of nested parallelism: the `taskContext().pool` handle a running item gets.
 * Its calls go to the pool that runs the worker (a `call` message, answered by `called`), and
 * while an item waits for its children it gives its slot back (see `Slots`): a parent awaiting
 * children holds no part of the worker, so a recursion deeper than workers × slots still runs.
 */

import { fromWire } from '../codec/errors.js';
import { callSeed } from '../data/random.js';
import { describe, NotCloneableError, TaskError } from '../errors.js';
import { ItemState, isStoredItem, runWithItem, setCurrentItem, streamOf } from '../tasks/context.js';
import { type NestedCall, taskSpecOf } from '../tasks/task-spec.js';
import { isTaskRef } from '../tasks/tasks.js';
import type { AnyFunction, TaskPool } from '../types.js';
import type { Slots } from './batch-run.js';
import { BRAND, type CalledMessage, type FromWorker } from './protocol.js';

interface Waiting {
  readonly item: ItemState;
  readonly resolve: (values: unknown[]) => void;
  readonly reject: (error: unknown) => void;
}

const first = (values: unknown[]): unknown => values[0];

/** `taskContext().pool` for one item. */
class ItemPool {
  constructor(
    private readonly calls: NestedCalls,
    private readonly item: ItemState,
  ) {}

  run(task: unknown, ...args: unknown[]): Promise<unknown> {
    return this.calls.runOne(this.item, task, args);
  }

  map(task: unknown, items: Iterable<unknown>): Promise<unknown[]> {
    return this.calls.submit(this.item, 'taskContext().pool.map', task, [...items], false);
  }

  starmap(task: unknown, tuples: Iterable<unknown[]>): Promise<unknown[]> {
    return this.calls.submit(this.item, 'taskContext().pool.starmap', task, [...tuples], true);
  }

  imap(task: unknown, items: Iterable<unknown>): AsyncIterable<unknown> {
    return streamOf(this.map(task, items));
  }
}

/** Make `item` the worker's current item again, then `settle` its awaited child call. */
function restoreThen(item: ItemState, settle: () => void): void {
  setCurrentItem(item);
  settle();
}

export class NestedCalls {
  private nextRef = 1;
  private readonly waiting = new Map<number, Waiting>();
  /**
   * How many of the pool's workers could take a batch (cell 0): shared with the pool where
   * memory is, else a copy it updates by message. Until the pool says, children go to it.
   */
  hunger: Int32Array<ArrayBufferLike> = new Int32Array([1]);

  hungerChanged(idle: number): void {
    this.hunger[0] = idle;
  }

  constructor(
    private readonly send: (message: FromWorker) => void,
    private readonly slots: Slots,
  ) {}

  /** The handle for `item` (BatchState.poolFor): one small object, its methods shared. */
  readonly poolFor = (item: ItemState): TaskPool => new ItemPool(this, item) as unknown as TaskPool;

  /** `run`: one child, its value (no array in between: a recursion makes many). */
  runOne(item: ItemState, task: unknown, args: unknown[]): Promise<unknown> {
    if (Atomics.load(this.hunger, 0) === 0 && isTaskRef(task) && !task.wrapper) {
      return this.directOne(item, task, args);
    }
    return this.submit(item, 'taskContext().pool.run', task, [args], true).then(first);
  }

  submit(
    item: ItemState,
    name: string,
    task: unknown,
    items: readonly unknown[],
    spread: boolean,
  ): Promise<unknown[]> {
    let spec: ReturnType<typeof taskSpecOf>;
    try {
      spec = taskSpecOf(task, name);
    } catch (error) {
      return Promise.reject(error);
    }
    // Child k of an item draws from a seed of its own, fixed by the item's seed, index and k.
    const seed = callSeed(callSeed(item.batch.seed, item.index), ++item.childCalls);
    // Work-first: while no other worker could take it, a child of a plain task runs here.
    if (Atomics.load(this.hunger, 0) === 0 && isTaskRef(task) && !task.wrapper) {
      return this.direct(item, task, spec.name, items, spread, seed);
    }
    const call: NestedCall = { spec: spec.spec, taskName: spec.name, spread, items, seed };
    const ref = this.nextRef++;
    // An item run with the worker's shared state (not in AsyncLocalStorage) gets it back when
    // its children answer: other items may have run meanwhile.
    const stored = isStoredItem(item);
    return new Promise<unknown[]>((resolve, reject) => {
      try {
        this.send({ fanout: BRAND, t: 'call', ref, batch: item.batch.id, call });
      } catch (error) {
        reject(
          new NotCloneableError(
            `The arguments given to ${name} cannot be sent to the pool: ${describe(error)}`,
            {
              cause: error,
            },
          ),
        );
        return;
      }
      this.waiting.set(ref, {
        item,
        resolve: stored ? resolve : (values) => restoreThen(item, () => resolve(values)),
        reject: stored ? reject : (error) => restoreThen(item, () => reject(error)),
      });
      this.childStarted(item);
    });
  }

  /**
   * Run a child call here, as direct calls of the task: each item with a context of its own (the
   * seed and index it would have in the pool, the parent's signal), its error wrapped as the
   * pool would (`ERR_TASK_FAILED`). Its values are not copied.
   */
  private direct(
    item: ItemState,
    task: AnyFunction,
    taskName: string,
    items: readonly unknown[],
    spread: boolean,
    seed: number,
  ): Promise<unknown[]> {
    // The children share the parent's batch (its signal, progress), each with its own seed.
    const batch = item.batch;
    const stored = isStoredItem(item);
    this.childStarted(item);
    const settled = () => {
      this.childEnded(item);
      if (!stored) setCurrentItem(item);
    };
    const fail = (index: number, error: unknown) => {
      settled();
      throw new TaskError({ task: taskName, index }, error);
    };
    const one = (args: unknown, index: number): Promise<unknown> => {
      try {
        const child = new ItemState(batch, index, seed);
        return Promise.resolve(
          runWithItem(child, spread ? () => task(...(args as unknown[])) : () => task(args)),
        );
      } catch (error) {
        return Promise.reject(error);
      }
    };
    // One child (`run`): one promise more than the task's own.
    if (items.length === 1) {
      return one(items[0], 0).then(
        (value) => {
          settled();
          return [value];
        },
        (error: unknown) => fail(0, error),
      );
    }
    let failed = -1;
    return Promise.all(
      items.map((args, index) =>
        one(args, index).catch((error: unknown) => {
          if (failed < 0) failed = index;
          throw error;
        }),
      ),
    ).then(
      (values) => {
        settled();
        return values;
      },
      (error: unknown) => fail(failed, error),
    );
  }

  /** `run`'s direct call (see `direct`), with the fewest objects: a recursion makes one per call. */
  private directOne(item: ItemState, task: AnyFunction, args: unknown[]): Promise<unknown> {
    const seed = callSeed(callSeed(item.batch.seed, item.index), ++item.childCalls);
    const stored = isStoredItem(item);
    this.childStarted(item);
    let result: unknown;
    try {
      result = runWithItem(new ItemState(item.batch, 0, seed), () => task(...args));
    } catch (error) {
      this.childEnded(item);
      return Promise.reject(new TaskError({ task: task.name, index: 0 }, error));
    }
    return Promise.resolve(result).then(
      (value) => {
        this.childEnded(item);
        if (!stored) setCurrentItem(item);
        return value;
      },
      (error: unknown) => {
        this.childEnded(item);
        if (!stored) setCurrentItem(item);
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
