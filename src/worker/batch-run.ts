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
import type { AnyFunction } from '../types.js';
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
}

const now = () => performance.timeOrigin + performance.now();
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

  /** The results ready to send; a Float64Array's buffer goes into `transfer`. */
  packed(transfer: TransferListItem[]): Packed {
    switch (this.mode) {
      case 'numbers':
        transfer.push((this.numbers as Float64Array).buffer as ArrayBuffer);
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

  constructor(
    readonly message: RunMessage,
    private readonly fn: AnyFunction,
    private readonly fns: AnyFunction[] | undefined,
    private readonly runtime: BatchHost,
    aborted: boolean,
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
    };
    this.sharedItem = new ItemState(this.state, message.first);
  }

  /** Run items from `from` on; returns a promise only when some task was async. */
  run(from: number): Promise<void> | undefined {
    const { track, taskIndex, handles } = this.message;
    return this.itemTimes || track || taskIndex || handles || this.runtime.options.sharedThread
      ? this.runEach(from)
      : this.runPlain(from);
  }

  /**
   * The loop nearly every batch takes: a worker's own thread, one task, nothing tracked, timed or
   * broadcast. It does what `runEach` does with the branches that cannot apply taken out, `ran`
   * kept in a local, and numbers written straight into the results' Float64Array: at 0.4 µs an
   * item (weather-10) the general loop's per-item bookkeeping cost ~10 ns, 2–3 % of the work.
   */
  private runPlain(from: number): Promise<void> | undefined {
    const { items, state, fn, results } = this;
    const spread = this.message.spread === true;
    const first = this.message.first;
    const item = this.sharedItem;
    setCurrentItem(item);
    let numbers = results.numberStore;
    const n = items.length;
    for (let i = from; i < n; i++) {
      if (state.aborted) {
        this.ran = i;
        return undefined;
      }
      item.moveTo(first + i);
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
      const pending = this.accept(i, result);
      if (pending) return pending;
      numbers = results.numberStore;
    }
    this.ran = n;
    return undefined;
  }

  /** Every item, whatever the batch asks for (tracking, item times, broadcasts, mixed tasks, the inline backend). */
  private runEach(from: number): Promise<void> | undefined {
    const { spread, first, track, id, taskIndex, handles } = this.message;
    const { items, state, fns } = this;
    const shared = this.runtime.options.sharedThread;
    // In a worker, items run one at a time: one item state, updated in place, serves them all.
    const item = this.sharedItem;
    if (!shared) setCurrentItem(item);
    for (let i = from; i < items.length; i++) {
      if (state.aborted) return undefined;
      if (track) this.runtime.send({ fanout: BRAND, t: 'start', id, offset: i });
      let result: unknown;
      if (this.itemTimes) this.itemTimes[2 * i] = performance.now();
      try {
        const args = handles ? resolveHandles(items[i]) : items[i];
        const fn = taskIndex && fns ? (fns[taskIndex[i] as number] as AnyFunction) : this.fn;
        if (shared) {
          const own = new ItemState(state, first + i);
          result = runWithItem(own, spread ? () => fn(...(args as unknown[])) : () => fn(args));
        } else {
          item.moveTo(first + i);
          result = spread ? fn(...(args as unknown[])) : fn(args);
        }
      } catch (error) {
        this.ran = i + 1;
        this.timeEnd(i);
        this.fail(i, error);
        if (this.stopped) return undefined;
        continue;
      }
      const pending = this.accept(i, result);
      if (pending) return pending;
      this.ran = i + 1;
      this.timeEnd(i);
    }
    return undefined;
  }

  /**
   * Keep item `offset`'s result: wait for it if it is a promise (the promise of the rest of the
   * batch is returned), fail the item if it cannot cross to the caller, else store it.
   */
  private accept(offset: number, result: unknown): Promise<void> | undefined {
    if (result !== null && (typeof result === 'object' || typeof result === 'function')) {
      if (typeof (result as { then?: unknown }).then === 'function') return this.settleAsync(offset, result);
      if (!this.checkResult(offset, result)) return undefined;
    } else if (typeof result === 'symbol' && !this.checkResult(offset, result)) {
      return undefined;
    }
    this.results.set(offset, result);
    return undefined;
  }

  private timeEnd(offset: number): void {
    const times = this.itemTimes;
    if (times) times[2 * offset + 1] = performance.now() - (times[2 * offset] as number);
  }

  /** An async task: wait for it, then go on with the next item. */
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
    this.ran = offset + 1;
    (this.failures ??= []).push({ offset, kind: 'not-cloneable', problem });
    return false;
  }

  private fail(offset: number, error: unknown): void {
    (this.failures ??= []).push({ offset, kind: 'threw', error: toWire(error) });
    if (this.message.stopOnError) this.stopped = true;
  }

  private report(amount: number): void {
    this.pendingProgress += amount;
    const t = now();
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
