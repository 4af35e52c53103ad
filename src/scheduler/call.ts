/**
 * One call (`map`, `imap`, `run`, ...) as pure scheduling logic: read the input lazily through a
 * bounded window, cut it into adaptively sized batches, keep several batches in flight per
 * worker, put results back in order, retry what may be retried, and stop everything at the
 * first error (or collect errors, when asked).
 *
 * The unit of ordering is a *slot*: the items of one batch as first cut. When a worker dies, the
 * slot's items are re-dispatched as smaller jobs, but they still fill the same slot, so order and
 * the window are unaffected.
 */

import { crossingError } from '../codec/crossing.js';
import type { ItemFailure } from '../codec/errors.js';
import { AbortError, type NotCloneableError, TaskError, WorkerCrashedError } from '../errors.js';
import type { TaskSpec } from '../tasks/task-spec.js';
import type { BatchTrace, ProgressCounts, Settled } from '../types.js';
import type { BatchItems, BatchOutcome, BatchRequest, Dispatcher, Ticket } from './backend.js';
import { AutoBatchSizer, autoLimits, type BatchSizer, fixedBatchSizer } from './batch-size.js';
import type { InputReader } from './input.js';

/** What a map (CallRun) and a task graph (GraphRun) both run with: a call's settings, resolved. */
export interface RunSettings {
  /** `errors: 'collect'`: settle every item (every output, in a graph) instead of failing fast. */
  readonly collect: boolean;
  readonly batchSize: number | 'auto';
  readonly preDispatch: number | 'auto';
  readonly timeout: number | undefined;
  readonly retries: number;
  readonly retryOn: 'crash' | 'error';
  readonly seed: number;
  readonly context?: unknown;
  readonly signal: AbortSignal | undefined;
  /**
   * Why an argument cannot cross to the workers (codec/crossing.ts, set up for the backend by
   * the caller), or undefined when nothing crosses (the inline backend): checked per item, so
   * an argument that cannot cross fails its item alone.
   */
  readonly crossing: ((value: unknown) => string | undefined) | undefined;
  readonly onProgress?: ((counts: ProgressCounts) => void) | undefined;
  readonly onBatch?: ((trace: BatchTrace) => void) | undefined;
  /** Ask workers to time each item (for `onBatch` traces). */
  readonly timeItems?: boolean | undefined;
}

export interface CallOptions extends RunSettings {
  readonly task: TaskSpec;
  readonly taskName: string;
  readonly spread: boolean;
  readonly ordered: boolean;
  /** Partial progress reported by tasks (`taskContext().progress(n)`). */
  readonly onTaskProgress?: ((amount: number) => void) | undefined;
  /** The first batch of the call started running. */
  readonly onStart?: (() => void) | undefined;
  /**
   * For calls whose items carry their own task (parallel() with several tasks): the task's
   * name and the arguments of an item, for messages. Without it, `taskName` and the item.
   */
  readonly taskNameOf?: ((item: unknown) => string) | undefined;
  readonly argsOf?: ((item: unknown) => unknown) | undefined;
  /** Turn a run of items into what a batch carries (parallel(): arguments, and which task each calls). */
  readonly toBatch?:
    | ((items: readonly unknown[]) => { items: unknown[]; taskIndex?: Int32Array })
    | undefined;
}

/**
 * Batches in flight per worker: enough to hide a round trip (~1 ms at worst, pipelined) behind
 * the work already queued, at least 2 so a worker never waits for the main thread.
 */
const LATENCY_COVER_MS = 1;
const MIN_DEPTH = 2;
const MAX_DEPTH = 16;

/**
 * Batches whose items only await do not count against a call's window, up to this many times
 * the window in all (a bound on what an I/O-bound call holds in flight).
 */
const PARKED_FACTOR = 8;

export function pipelineDepth(estimatedBatchMs: number | undefined, roundTripMs = 0): number {
  if (estimatedBatchMs === undefined || estimatedBatchMs <= 0) return MIN_DEPTH;
  const cover = Math.max(LATENCY_COVER_MS, roundTripMs);
  return Math.min(MAX_DEPTH, Math.max(MIN_DEPTH, Math.ceil(cover / estimatedBatchMs) + 1));
}

/** A batch's results as they arrive: an array, or a Float64Array when they were all numbers. */
export type Chunk = ArrayLike<unknown> & Iterable<unknown>;

interface Slot {
  readonly seq: number;
  readonly first: number;
  readonly items: BatchItems;
  /**
   * One job's values when it returned the whole slot at once (the common case); an array filled
   * item by item when the slot's items came back in parts; unset until either happens (an
   * array of a batch's length, made for every slot, cost as much as the results themselves).
   */
  values: unknown[] | Chunk | undefined;
  /** Errors by offset (collect mode). */
  errors: Map<number, unknown> | undefined;
  pending: number;
}

interface Job {
  readonly slot: Slot;
  readonly offset: number;
  readonly count: number;
  /** Re-run after a crash: report item starts so the item that kills a worker is known. */
  readonly track: boolean;
  /** How many times its worker died before any of its items started. */
  readonly unstartedLosses?: number;
}

/**
 * A job whose worker died this many times before it started is suspected after all (it may be
 * what kills a worker before its first item, say by running it out of memory as it arrives): it
 * is then split and blamed like a job that did start.
 */
const UNSTARTED_LOSSES = 3;

const abortReason = (signal: AbortSignal) =>
  new AbortError('The operation was aborted', { cause: signal.reason as unknown });

export class CallRun {
  private readonly sizer: BatchSizer;
  private readonly slots = new Map<number, Slot>();
  private readonly retryQueue: Job[] = [];
  private readonly tickets = new Set<Ticket>();
  private readonly ready: Slot[] = [];
  private readonly attempts = new Map<number, number>();
  private nextSeq = 0;
  /** Index in the input of the next item read. */
  private nextIndex = 0;
  private nextYield = 0;
  private inFlight = 0;
  /** Batches in flight whose items only await in their worker (see `BatchRequest.onParked`). */
  private parked = 0;
  private reading = false;
  private started = false;
  private finished = false;
  private failure: { error: unknown } | undefined;
  private done = 0;
  private failed = 0;
  private wake: (() => void) | undefined;
  private readonly onAbort = () => this.fail(abortReason(this.options.signal as AbortSignal));

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly reader: InputReader<unknown>,
    private readonly options: CallOptions,
  ) {
    this.sizer =
      options.batchSize === 'auto'
        ? new AutoBatchSizer(dispatcher.size, autoLimits(dispatcher.batchLimits))
        : fixedBatchSizer(options.batchSize);
    const { signal } = options;
    if (signal?.aborted) this.fail(abortReason(signal));
    else signal?.addEventListener('abort', this.onAbort, { once: true });
    this.pump();
  }

  /** The number of items, when the input says (an array). */
  get total(): number | undefined {
    return this.reader.total;
  }

  /** The batch sizer's current size (exposed for tests and reports). */
  get batchSize(): number {
    return this.sizer.current;
  }

  /** Results in chunks (one chunk per batch): values, or settled records in collect mode. */
  async *chunks(): AsyncGenerator<Chunk, void, undefined> {
    try {
      while (true) {
        if (this.failure) throw this.failure.error;
        const slot = this.ready.shift();
        if (slot) {
          this.slots.delete(slot.seq);
          this.pump();
          yield this.resultsOf(slot);
          continue;
        }
        if (this.finished) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      this.close();
    }
  }

  /** Stop: nothing more is read or dispatched, batches in flight are cancelled. */
  close(): void {
    if (!this.finished) this.finish();
  }

  private resultsOf(slot: Slot): Chunk {
    const values = slot.values ?? new Array(slot.items.length);
    if (!this.options.collect) return values;
    return Array.from(values, (value, offset) => {
      const reason = slot.errors?.get(offset);
      return reason === undefined
        ? { status: 'fulfilled', value }
        : ({ status: 'rejected', reason } satisfies Settled<unknown>);
    });
  }

  private get windowLimits(): { inFlight: number; outstanding: number } {
    // While automatic sizes still climb, the fewest batches in flight: each batch that finishes
    // grows the next, and a deep pipeline would fill with batches cut at the old, tiny size (on
    // weather-10, 60 batches of 2–4 items before the size could move, ~100 batches to reach
    // 16,384 items where 20 do).
    const estimate = this.sizer.growing ? undefined : this.sizer.estimatedBatchMs;
    const inFlight = this.dispatcher.size * pipelineDepth(estimate, this.sizer.roundTripMs);
    const { preDispatch } = this.options;
    if (preDispatch === 'auto') return { inFlight, outstanding: 2 * inFlight };
    return { inFlight: Math.min(inFlight, preDispatch), outstanding: preDispatch };
  }

  /** Dispatch as much as the window allows. */
  private pump(): void {
    if (this.finished) return;
    const limits = this.windowLimits;
    while (
      !this.finished &&
      this.inFlight < limits.inFlight &&
      this.inFlight + this.parked < limits.inFlight * PARKED_FACTOR
    ) {
      const retry = this.retryQueue.shift();
      if (retry) {
        this.dispatch(retry);
        continue;
      }
      // Parked batches widen the window of results not yet consumed as much as the one in flight.
      if (this.reading || this.reader.done || this.slots.size >= limits.outstanding + this.parked) break;
      const size = this.sizer.next(this.reader.remaining);
      let items: BatchItems | Promise<BatchItems>;
      try {
        items = this.reader.take(size);
      } catch (error) {
        this.fail(error);
        return;
      }
      if (items instanceof Promise) {
        this.reading = true;
        items.then(
          (read) => {
            this.reading = false;
            if (this.finished) return;
            this.addSlot(read);
            this.pump();
          },
          (error: unknown) => {
            this.reading = false;
            this.fail(error);
          },
        );
        break;
      }
      this.addSlot(items);
    }
    this.checkFinished();
  }

  private addSlot(items: BatchItems): void {
    if (items.length === 0) {
      this.checkFinished();
      return;
    }
    const first = this.nextIndex;
    const slot: Slot = {
      seq: this.nextSeq++,
      first,
      items,
      values: undefined,
      errors: undefined,
      pending: items.length,
    };
    this.nextIndex = first + items.length;
    this.slots.set(slot.seq, slot);
    // Numbers read into a Float64Array have been checked on the way (and are not spread).
    if (!this.options.crossing || items instanceof Float64Array) {
      this.dispatch({ slot, offset: 0, count: items.length, track: false });
      return;
    }
    // Items that cannot cross fail on their own; the runs between them are dispatched.
    let runStart = 0;
    for (let offset = 0; offset < items.length; offset++) {
      const item = items[offset];
      // Primitives always cross: keep the common case to one typeof.
      if (
        !this.options.spread &&
        typeof item !== 'object' &&
        typeof item !== 'function' &&
        typeof item !== 'symbol'
      ) {
        continue;
      }
      const problem = this.argumentProblem(item, first + offset);
      if (!problem) continue;
      if (offset > runStart)
        this.dispatch({ slot, offset: runStart, count: offset - runStart, track: false });
      runStart = offset + 1;
      this.settleError(slot, offset, problem);
      if (this.finished) return;
    }
    if (runStart < items.length) {
      this.dispatch({ slot, offset: runStart, count: items.length - runStart, track: false });
    }
  }

  private nameOf(item: unknown): string {
    return this.options.taskNameOf?.(item) ?? this.options.taskName;
  }

  private argumentProblem(item: unknown, index: number): NotCloneableError | undefined {
    const { spread, argsOf } = this.options;
    const crossing = this.options.crossing as (value: unknown) => string | undefined;
    const task = `Task "${this.nameOf(item)}":`;
    const args = argsOf ? argsOf(item) : item;
    if (!spread) {
      const problem = crossing(args);
      return problem ? crossingError(`${task} the argument of item ${index}`, problem) : undefined;
    }
    if (!Array.isArray(args)) {
      return crossingError(
        `${task} item ${index}`,
        `must be an array of arguments (starmap spreads it), got ${typeof args}`,
      );
    }
    for (let position = 0; position < args.length; position++) {
      const problem = crossing(args[position]);
      if (problem) return crossingError(`${task} argument ${position} of item ${index}`, problem);
    }
    return undefined;
  }

  private dispatch(job: Job): void {
    const { slot, offset, count } = job;
    const o = this.options;
    const items =
      offset === 0 && count === slot.items.length ? slot.items : slot.items.slice(offset, offset + count);
    // A call with `toBatch` (parallel()) reads its input unpacked: its items are an array.
    const batch = o.toBatch ? o.toBatch(items as readonly unknown[]) : { items, taskIndex: undefined };
    const request: BatchRequest = {
      task: o.task,
      taskName: o.taskName,
      spread: o.spread,
      items: batch.items,
      taskIndex: batch.taskIndex,
      timeItems: o.timeItems,
      first: slot.first + offset,
      timeout: o.timeout,
      // A future's `running` must be exact, so its batch reports when it starts.
      track: job.track || o.onStart !== undefined,
      alone: job.track,
      stopOnError: !o.collect,
      seed: o.seed,
      context: o.context,
      onStart: this.started || !o.onStart ? undefined : () => this.markStarted(),
      onProgress: o.onTaskProgress,
      pace: this.sizer,
      onParked: (slots) => {
        if (parked || this.finished) return;
        parked = true;
        this.sizer.observeParked?.(slots);
        this.inFlight--;
        this.parked++;
        this.pump();
      },
    };
    // Parked: its items only await in the worker, so it no longer counts against the window.
    let parked = false;
    const left = () => {
      if (parked) this.parked--;
      else this.inFlight--;
    };
    const submitted = performance.now();
    const ticket = this.dispatcher.submit(request);
    this.tickets.add(ticket);
    this.inFlight++;
    ticket.outcome.then(
      (outcome) => {
        this.tickets.delete(ticket);
        left();
        if (outcome.kind === 'done')
          this.sizer.observeRoundTrip?.(performance.now() - submitted - outcome.duration);
        if (!this.finished) this.receive(job, outcome);
        this.pump();
      },
      (error: unknown) => {
        this.tickets.delete(ticket);
        left();
        this.fail(error);
      },
    );
  }

  private markStarted(): void {
    if (this.started) return;
    this.started = true;
    this.options.onStart?.();
  }

  private receive(job: Job, outcome: BatchOutcome): void {
    switch (outcome.kind) {
      case 'done':
        this.receiveDone(job, outcome);
        return;
      case 'failed':
        this.fail(outcome.error);
        return;
      case 'lost':
        this.receiveLost(job, outcome);
        return;
      case 'cancelled':
        return;
    }
  }

  private receiveDone(job: Job, outcome: Extract<BatchOutcome, { kind: 'done' }>): void {
    const { slot, offset } = job;
    if (outcome.ran > 0) this.sizer.observe(outcome.ran, outcome.work ?? outcome.duration);
    this.options.onBatch?.({
      worker: outcome.worker,
      startedAt: outcome.startedAt,
      duration: outcome.duration,
      first: slot.first + offset,
      count: outcome.ran,
      taskName: this.options.taskName,
      itemTimes: outcome.itemTimes,
    });
    const { values, ran } = outcome;
    if (offset === 0 && ran === slot.items.length && !outcome.failures) {
      // The common case: one job ran the whole slot; keep its values as they came.
      slot.values = values;
      this.itemsSettled(slot, ran);
      return;
    }
    const failedOffsets = new Set<number>();
    for (const failure of outcome.failures ?? []) {
      failedOffsets.add(failure.offset);
      this.itemFailed(slot, offset + failure.offset, failure);
      if (this.finished) return;
    }
    let settled = 0;
    // A slot already holding one job's values is never filled in parts: that job ran it all.
    const slotValues = (slot.values ??= new Array(slot.items.length)) as unknown[];
    for (let i = 0; i < ran; i++) {
      if (failedOffsets.has(i)) continue;
      slotValues[offset + i] = values[i];
      settled++;
    }
    this.itemsSettled(slot, settled);
    if (ran < job.count && !this.finished) {
      // The batch stopped early without failing the call (an abort raced with it): run the rest.
      this.retryQueue.push({ ...job, offset: offset + ran, count: job.count - ran });
    }
  }

  private receiveLost(job: Job, outcome: Extract<BatchOutcome, { kind: 'lost' }>): void {
    const { slot, offset, count } = job;
    let lostAt = outcome.offset;
    if (lostAt === undefined) {
      const losses = (job.unstartedLosses ?? 0) + (outcome.started ? 0 : 1);
      if (!outcome.started && losses < UNSTARTED_LOSSES) {
        // None of its items had started: its worker died of something else (say, an earlier
        // item's stray rejection after that item had returned). It runs again, as it was.
        this.retryQueue.unshift({ ...job, unstartedLosses: losses });
        return;
      }
      if (count > 1 || !job.track) {
        // Which item killed the worker is unknown (an untracked batch — even one of a single item,
        // as the worker may have finished it and been holding its result when a later batch
        // crashed): re-run them one by one, tracked, to find out.
        for (let i = 0; i < count; i++)
          this.retryQueue.push({ slot, offset: offset + i, count: 1, track: true });
        return;
      }
      // One tracked item whose worker keeps dying before it starts: it is the cause.
      lostAt = 0;
    }
    const culprit = offset + lostAt;
    if (lostAt > 0) this.retryQueue.push({ slot, offset, count: lostAt, track: job.track });
    if (lostAt + 1 < count) {
      this.retryQueue.push({
        slot,
        offset: culprit + 1,
        count: count - lostAt - 1,
        track: job.track,
      });
    }
    const index = slot.first + culprit;
    if (this.mayRetry(index)) {
      this.retryQueue.unshift({ slot, offset: culprit, count: 1, track: true });
      return;
    }
    const { error } = outcome;
    const located =
      error instanceof WorkerCrashedError && error.index === undefined
        ? error.at({ task: this.nameOf(slot.items[culprit]), index })
        : error;
    this.settleError(slot, culprit, located);
  }

  private mayRetry(index: number): boolean {
    const used = this.attempts.get(index) ?? 0;
    if (used >= this.options.retries) return false;
    this.attempts.set(index, used + 1);
    return true;
  }

  private itemFailed(slot: Slot, offset: number, failure: ItemFailure): void {
    const index = slot.first + offset;
    const taskName = this.nameOf(slot.items[offset]);
    if (failure.kind === 'not-cloneable') {
      this.settleError(
        slot,
        offset,
        crossingError(`Task "${taskName}": the result of item ${index}`, failure.problem),
      );
      return;
    }
    if (this.options.retryOn === 'error' && this.mayRetry(index)) {
      this.retryQueue.unshift({ slot, offset, count: 1, track: false });
      return;
    }
    this.settleError(slot, offset, new TaskError({ task: taskName, index }, failure.error));
  }

  private settleError(slot: Slot, offset: number, error: unknown): void {
    this.failed++;
    if (!this.options.collect) {
      this.fail(error);
      return;
    }
    (slot.errors ??= new Map()).set(offset, error);
    this.itemsSettled(slot, 1);
  }

  private itemsSettled(slot: Slot, count: number): void {
    if (count === 0) return;
    slot.pending -= count;
    this.done += count;
    this.options.onProgress?.({ done: this.done, failed: this.failed, total: this.reader.total });
    if (slot.pending > 0) return;
    if (this.options.ordered) {
      for (
        let next = this.slots.get(this.nextYield);
        next && next.pending === 0;
        next = this.slots.get(this.nextYield)
      ) {
        this.ready.push(next);
        this.nextYield++;
      }
    } else {
      this.ready.push(slot);
    }
    this.notify();
  }

  private checkFinished(): void {
    if (this.finished || this.reading || !this.reader.done) return;
    if (this.inFlight > 0 || this.parked > 0 || this.retryQueue.length > 0) return;
    for (const slot of this.slots.values()) if (slot.pending > 0) return;
    this.finished = true;
    this.detach();
    this.notify();
  }

  private fail(error: unknown): void {
    if (this.finished) return;
    this.failure = { error };
    this.finish();
  }

  private finish(): void {
    this.finished = true;
    this.detach();
    this.reader.close();
    for (const ticket of this.tickets) ticket.cancel();
    this.tickets.clear();
    this.retryQueue.length = 0;
    this.notify();
  }

  private detach(): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
