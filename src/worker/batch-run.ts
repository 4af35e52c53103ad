/**
 * One batch being run in a worker: its items one after another (the current item is what
 * `taskContext()` returns), its results stored as they come (straight into a Float64Array while
 * they are numbers), and what failed, timed and reported on the way.
 */

import type { TransferListItem } from 'node:worker_threads';
import { type CrossingRules, crossingProblem } from '../codec/crossing.js';
import { toWire, type WireItemFailure } from '../codec/errors.js';
import { type Packed, type Unpacked, unpack } from '../codec/values.js';
import { transferablesOf } from '../data/shared.js';
import { type BatchState, ItemState, runWithItem, setCurrentItem } from '../tasks/context.js';
import type { AnyFunction, TaskPool } from '../types.js';
import { elapsed } from './clock.js';
import { resolveHandles } from './handles.js';
import { BRAND, type FromWorker, type RunMessage } from './protocol.js';

export interface RuntimeOptions extends CrossingRules {
  /**
   * Items of concurrently running batches share this thread (the inline backend): keep each
   * item's context in AsyncLocalStorage and never reuse item state.
   */
  readonly sharedThread: boolean;
}

/** What a batch needs of the runtime that runs it. */
export interface BatchHost {
  readonly options: RuntimeOptions;
  send(message: FromWorker, transfer?: TransferListItem[]): void;
  /** The worker's slots for items in flight (async items awaiting), shared by its batches. */
  readonly slots: Slots;
  /** The handle `taskContext().pool` gives an item (child calls to the pool). */
  readonly poolFor: (item: ItemState) => TaskPool;
  /** Whether `fn` is known to return promises (its items then run with a context of their own). */
  knownAsync(fn: AnyFunction): boolean;
  markAsync(fn: AnyFunction): void;
  /** The batch has started every item it will; those in flight only await. */
  launched(run: BatchRun): void;
}

/**
 * The worker's budget of async items in flight (`concurrentTasksPerWorker`). A batch takes a
 * slot for each item that returns a promise and gives it back when the promise settles; when
 * none is free, the batch waits before starting its next item.
 */
export interface Slots {
  free(): boolean;
  take(): void;
  give(): void;
  /** Call `resume` once a slot is free (one waiter at a time: the batch starting items). */
  wait(resume: () => void): void;
}

/** An item left in flight: the loops return this instead of a promise, and `drive` goes on. */
const LAUNCHED = Symbol('launched');
type Step = Promise<void> | typeof LAUNCHED | undefined;

const PROGRESS_FLUSH_MS = 50;

/**
 * A batch's results. They are written straight into a Float64Array while every result is a
 * number (the common numeric map), so sending them needs no second pass; the first value of
 * another kind turns the store into a plain array.
 */
export class Results {
  private mode: 'empty' | 'undefined' | 'numbers' | 'array' = 'empty';
  private numbers: Float64Array | undefined;
  private array: unknown[] | undefined;

  constructor(private readonly length: number) {}

  /** The Float64Array numbers go into, once the first result was a number and while all are. */
  get numberStore(): Float64Array | undefined {
    return this.mode === 'numbers' ? this.numbers : undefined;
  }

  set(offset: number, value: unknown): void {
    if (this.mode === 'numbers' && typeof value === 'number') {
      (this.numbers as Float64Array)[offset] = value;
      return;
    }
    if (this.mode === 'array') {
      (this.array as unknown[])[offset] = value;
      return;
    }
    if (this.mode === 'empty' && typeof value === 'number') {
      this.mode = 'numbers';
      this.numbers = new Float64Array(this.length);
      this.numbers[offset] = value;
      return;
    }
    if ((this.mode === 'empty' || this.mode === 'undefined') && value === undefined) {
      this.mode = 'undefined';
      return;
    }
    // A value of another kind: from here on, a plain array.
    const array = new Array(this.length);
    if (this.mode === 'numbers') {
      const numbers = this.numbers as Float64Array;
      for (let i = 0; i < offset; i++) array[i] = numbers[i];
    }
    this.mode = 'array';
    this.numbers = undefined;
    this.array = array;
    array[offset] = value;
  }

  /** The results ready to send (copied, not moved: see codec/values.ts). */
  packed(): Packed {
    switch (this.mode) {
      case 'numbers':
        return this.numbers as Float64Array;
      case 'array':
        return this.array as unknown[];
      default:
        return { undefinedTimes: this.length };
    }
  }
}

/** One batch being run. */
export class BatchRun {
  readonly items: Unpacked;
  readonly results: Results;
  /** Per-item start and duration, when the batch is traced. */
  readonly itemTimes: Float64Array | undefined;
  failures: WireItemFailure[] | undefined;
  ran = 0;
  stopped = false;
  readonly state: BatchState;
  private readonly sharedItem: ItemState;
  private pendingProgress = 0;
  private lastFlush = 0;
  /** Items in flight (returned a promise, not settled yet). */
  private inFlight = 0;
  /** Set once an item was left in flight: resolves when every started item has settled. */
  private completion: { promise: Promise<void>; resolve: () => void } | undefined;
  /** The next item to start, while items are in flight. */
  private resumeAt = 0;
  /** Every item that will start has started (or the batch stopped). */
  private allStarted = false;
  /**
   * The offset of an item of a function not yet known to be async that is in flight: it runs
   * with the worker's shared item state (`current`), so nothing else starts until it settles.
   */
  private pinned: number | undefined;

  constructor(
    readonly message: RunMessage,
    private readonly fn: AnyFunction,
    private readonly fns: AnyFunction[] | undefined,
    private readonly runtime: BatchHost,
    aborted: boolean,
    /** Items may be in flight together (false: an isolated re-run, one item at a time). */
    private readonly overlap: boolean,
    /** The call's context, its handles resolved (see `resolveHandles`). */
    context: unknown = message.context,
  ) {
    this.items = unpack(message.items);
    this.results = new Results(this.items.length);
    this.itemTimes = message.timeItems ? new Float64Array(2 * this.items.length) : undefined;
    this.state = {
      id: message.id,
      seed: message.seed,
      context,
      aborted,
      controller: undefined,
      report: (amount) => this.report(amount),
      poolFor: runtime.poolFor,
      childrenStarted: () => this.childrenStarted(),
    };
    this.sharedItem = new ItemState(this.state, message.first);
  }

  /** Item `offset`'s index in its call (`taskContext().index`): a graph batch names each one. */
  private indexOf(offset: number): number {
    const { first, indices } = this.message;
    return indices === undefined ? first + offset : (indices[offset] as number);
  }

  /** Run items from `from` on; returns a promise only when some task was async. */
  run(from: number): Promise<void> | undefined {
    const t = elapsed();
    const step = this.loop(from);
    if (step !== LAUNCHED) return step;
    this.runningMs += elapsed() - t;
    this.drive();
    return this.completion?.promise;
  }

  /** Time spent starting items (running their synchronous parts), once items overlap. */
  private runningMs = 0;
  /** The summed time items spent awaiting in flight. */
  private awaitingMs = 0;

  /**
   * The share of the worker this batch used, in ms, when its items overlapped (undefined when
   * none did): what it ran, plus what its items awaited divided by the `limit` items that may
   * await together.
   */
  work(limit: number): number | undefined {
    return this.completion ? this.runningMs + this.awaitingMs / limit : undefined;
  }

  private loop(from: number): Step {
    const { track, taskIndex, handles } = this.message;
    return this.itemTimes ||
      track ||
      taskIndex ||
      handles ||
      this.runtime.options.sharedThread ||
      (this.overlap && this.runtime.knownAsync(this.fn))
      ? this.runEach(from)
      : this.runPlain(from);
  }

  /**
   * Start items while the worker has slots for them, after one was left in flight. It stops
   * when every item has started (or the batch stopped), and waits meanwhile for a free slot or
   * for a pinned item to settle; whatever ends the wait calls it again.
   */
  private drive(): void {
    for (;;) {
      if (this.pinned !== undefined) return;
      const from = this.resumeAt;
      if (from >= this.items.length || this.stopped || this.state.aborted) {
        this.ran = from;
        break;
      }
      if (!this.runtime.slots.free()) {
        this.runtime.slots.wait(() => this.drive());
        return;
      }
      const t = elapsed();
      const step = this.loop(from);
      this.runningMs += elapsed() - t;
      if (step === LAUNCHED) continue;
      // The rest ran without leaving anything in flight (`ran` is set), or an isolated item
      // awaits on its own (it cannot happen here: `overlap` is fixed for the batch).
      break;
    }
    this.allStarted = true;
    this.runtime.launched(this);
    this.settleIfOver();
  }

  /**
   * An item started child calls. A pinned item that does is unpinned: it only awaits them, and
   * other items may start meanwhile (it gets the shared state back when they answer).
   */
  private childrenStarted(): void {
    if (this.pinned === undefined || this.sharedItem.children === 0) return;
    this.pinned = undefined;
    queueMicrotask(() => {
      if (!this.allStarted && this.pinned === undefined) this.drive();
    });
  }

  /** Items still in flight (the runtime tells the pool the batch only awaits while there are). */
  get awaiting(): boolean {
    return this.inFlight > 0;
  }

  private settleIfOver(): void {
    if (this.allStarted && this.inFlight === 0) this.completion?.resolve();
  }

  /**
   * The loop nearly every batch takes: a worker's own thread, one task, nothing tracked, timed or
   * broadcast. It does what `runEach` does with the branches that cannot apply taken out, `ran`
   * kept in a local, and numbers written straight into the results' Float64Array: at 0.4 µs an
   * item (weather-10) the general loop's per-item bookkeeping cost ~10 ns, 2–3 % of the work.
   */
  private runPlain(from: number): Step {
    const { items, state, fn, results } = this;
    const spread = this.message.spread === true;
    const { first, indices } = this.message;
    const item = this.sharedItem;
    setCurrentItem(item);
    let numbers = results.numberStore;
    const n = items.length;
    for (let i = from; i < n; i++) {
      if (state.aborted) {
        this.ran = i;
        return undefined;
      }
      item.moveTo(indices === undefined ? first + i : (indices[i] as number));
      let result: unknown;
      try {
        result = spread ? fn(...(items[i] as unknown[])) : fn(items[i]);
      } catch (error) {
        this.ran = i + 1;
        this.fail(i, error);
        if (this.stopped) return undefined;
        continue;
      }
      if (numbers !== undefined && typeof result === 'number') {
        numbers[i] = result;
        continue;
      }
      const pending = this.accept(i, result, item, false);
      if (pending) return pending;
      numbers = results.numberStore;
    }
    this.ran = n;
    return undefined;
  }

  /** Every item, whatever the batch asks for (tracking, item times, broadcasts, mixed tasks, the inline backend). */
  private runEach(from: number): Step {
    const { spread, track, id, taskIndex, handles } = this.message;
    const { items, state, fns } = this;
    const shared = this.runtime.options.sharedThread;
    // In a worker, sync items run one at a time: one item state, updated in place, serves them
    // all. Items that may interleave (the inline backend's, or an async task's items in flight
    // together) each get their own, kept in AsyncLocalStorage.
    const item = this.sharedItem;
    if (!shared) setCurrentItem(item);
    for (let i = from; i < items.length; i++) {
      if (state.aborted) {
        this.ran = i;
        return undefined;
      }
      if (track) this.runtime.send({ fanout: BRAND, t: 'start', id, offset: i });
      let result: unknown;
      let own: ItemState | undefined;
      if (this.itemTimes) this.itemTimes[2 * i] = elapsed();
      try {
        const args = handles ? resolveHandles(items[i]) : items[i];
        const fn = taskIndex && fns ? (fns[taskIndex[i] as number] as AnyFunction) : this.fn;
        if (shared || (this.overlap && this.runtime.knownAsync(fn))) {
          own = new ItemState(state, this.indexOf(i));
          const it = own;
          result = runWithItem(it, spread ? () => fn(...(args as unknown[])) : () => fn(args));
        } else {
          item.moveTo(this.indexOf(i));
          result = spread ? fn(...(args as unknown[])) : fn(args);
        }
      } catch (error) {
        this.ran = i + 1;
        this.timeEnd(i);
        this.fail(i, error);
        if (this.stopped) return undefined;
        continue;
      }
      const pending = this.accept(i, result, own ?? item, own !== undefined);
      if (pending) return pending;
      this.ran = i + 1;
      this.timeEnd(i);
    }
    this.ran = items.length;
    return undefined;
  }

  /**
   * Keep item `offset`'s result: wait for it if it is a promise (the promise of the rest of the
   * batch is returned), fail the item if it cannot cross to the caller, else store it.
   */
  private accept(offset: number, result: unknown, item: ItemState, isolated: boolean): Step {
    if (result !== null && (typeof result === 'object' || typeof result === 'function')) {
      if (typeof (result as { then?: unknown }).then === 'function') {
        return this.overlap
          ? this.leaveInFlight(offset, result, item, isolated)
          : this.settleAsync(offset, result);
      }
      if (!this.checkResult(offset, result)) return undefined;
    } else if (typeof result === 'symbol' && !this.checkResult(offset, result)) {
      return undefined;
    }
    this.results.set(offset, result);
    return undefined;
  }

  private timeEnd(offset: number): void {
    const times = this.itemTimes;
    if (times) times[2 * offset + 1] = elapsed() - (times[2 * offset] as number);
  }

  /**
   * An async item: it keeps a slot until it settles, and the batch goes on with its next item
   * (see `drive`). An item of a function not yet known to be async ran with the worker's shared
   * item state: it is pinned (nothing else starts until it settles) and its function marked,
   * so the next items run with states of their own.
   */
  private leaveInFlight(offset: number, pending: unknown, item: ItemState, isolated: boolean): Step {
    if (!isolated) {
      const fn =
        this.message.taskIndex && this.fns ? this.fns[this.message.taskIndex[offset] as number] : this.fn;
      if (fn) this.runtime.markAsync(fn);
      // One awaiting its children is not pinned: it gets its state back when they answer.
      if (item.children === 0) this.pinned = offset;
    }
    if (!this.completion) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.completion = { promise, resolve };
    }
    this.inFlight++;
    item.inFlight = true;
    // An item awaiting its own children holds no slot (see NestedCalls).
    if (item.children === 0) {
      item.holdsSlot = true;
      this.runtime.slots.take();
    }
    const since = elapsed();
    const { track, id } = this.message;
    if (track) this.runtime.send({ fanout: BRAND, t: 'wait', id, offset });
    const settled = () => {
      this.awaitingMs += elapsed() - since;
      this.inFlight--;
      item.inFlight = false;
      if (item.holdsSlot) this.runtime.slots.give();
      item.holdsSlot = false;
      this.timeEnd(offset);
      if (track) this.runtime.send({ fanout: BRAND, t: 'ended', id, offset });
      if (this.pinned === offset) {
        this.pinned = undefined;
        if (!this.allStarted) this.drive();
      }
      this.settleIfOver();
    };
    Promise.resolve(pending).then(
      (value) => {
        if (this.checkResult(offset, value)) this.results.set(offset, value);
        settled();
      },
      (error: unknown) => {
        this.fail(offset, error);
        settled();
      },
    );
    this.resumeAt = offset + 1;
    return LAUNCHED;
  }

  /** An async item of a batch whose items run one at a time: wait for it, then go on with the next. */
  private settleAsync(offset: number, pending: unknown): Promise<void> {
    return Promise.resolve(pending).then(
      (value) => {
        this.ran = offset + 1;
        this.timeEnd(offset);
        if (this.checkResult(offset, value)) this.results.set(offset, value);
        return this.stopped ? undefined : this.run(offset + 1);
      },
      (error: unknown) => {
        this.ran = offset + 1;
        this.timeEnd(offset);
        this.fail(offset, error);
        return this.stopped ? undefined : this.run(offset + 1);
      },
    );
  }

  /** Buffers of results the task marked with transfer(): they move to the caller. */
  readonly transfers: ArrayBuffer[] = [];

  /** A result that cannot cross the boundary fails its item (with what and where). */
  private checkResult(offset: number, value: unknown): boolean {
    if (!this.runtime.options.crossesBoundary) return true;
    transferablesOf(value, this.transfers);
    const problem = crossingProblem(value, this.runtime.options);
    if (!problem) return true;
    (this.failures ??= []).push({ offset, kind: 'not-cloneable', problem });
    return false;
  }

  private fail(offset: number, error: unknown): void {
    (this.failures ??= []).push({ offset, kind: 'threw', error: toWire(error) });
    if (this.message.stopOnError) this.stopped = true;
  }

  private report(amount: number): void {
    this.pendingProgress += amount;
    const t = elapsed();
    if (t - this.lastFlush >= PROGRESS_FLUSH_MS) {
      this.lastFlush = t;
      this.flushProgress();
    }
  }

  flushProgress(): void {
    if (this.pendingProgress === 0) return;
    const amount = this.pendingProgress;
    this.pendingProgress = 0;
    this.runtime.send({ fanout: BRAND, t: 'progress', id: this.message.id, amount });
  }
}
