/**
 * The worker runtime, shared by every transport: it imports task modules, runs batches one at a
 * time, and reports values, failures and timings. The thread and process entry files wire a
 * channel into it; the inline backend calls it directly. It never imports pool code.
 */

import { getHeapStatistics } from 'node:v8';
import type { TransferListItem } from 'node:worker_threads';
import { findUncloneable } from '../codec/crossing.js';
import { type SerializedError, serializeError } from '../codec/errors.js';
import { type Packed, type Unpacked, unpack } from '../codec/values.js';
import { transferablesOf } from '../data/shared.js';
import { type BatchState, ItemState, runWithItem, setCurrentItem } from '../tasks/context.js';
import { type AnyFunction, isRegistered, lookupTask, registeredNames } from '../tasks/tasks.js';
import { broadcastCache, resolveBroadcast } from './broadcast-cache.js';
import {
  type BatchFailure,
  BRAND,
  type DoneMessage,
  type FromWorker,
  type ItemFailure,
  type RunMessage,
  type TaskSpec,
  type ToWorker,
} from './protocol.js';

export interface RuntimeChannel {
  /**
   * Post a message to the pool, moving the `transfer` buffers where the transport can. Throws
   * (like postMessage) when the message cannot be cloned.
   */
  send(message: FromWorker, transfer?: TransferListItem[]): void;
  /** Leave: called after a `stop` once the queue is empty. */
  exit(): void;
}

export interface RuntimeOptions {
  /**
   * Items of concurrently running batches share this thread (the inline backend): keep each
   * item's context in AsyncLocalStorage and never reuse item state.
   */
  readonly sharedThread: boolean;
  /** Results cross a boundary: check that they are plain data, and pack them for the trip. */
  readonly crossesBoundary: boolean;
}

export interface Runtime {
  receive(message: ToWorker): void;
  /** Report an uncaught exception or unhandled rejection; the entry file exits afterwards. */
  fatal(error: unknown): void;
  /** Send the results held back now (the worker is exiting: a task called `process.exit()`). */
  flushHeld(): void;
}

const now = () => performance.timeOrigin + performance.now();
const PROGRESS_FLUSH_MS = 50;
/** Results are held back only after batches this short, ... */
const HOLD_SHORTER_THAN_MS = 0.2;
/** ... at most this many of them ... */
const HOLD_AT_MOST = 64;
/** ... and for at most this long. */
const HOLD_FOR_MS = 1;
const HEAP_SAMPLE_MS = 100;

/** A resolved task: its function, or for a mixed call the function of each of its tasks. */
type Resolved = { fn: AnyFunction; fns?: AnyFunction[] } | { failure: BatchFailure };

/** Imports task modules and finds functions, caching both. */
class TaskResolver {
  private readonly modules = new Map<string, Promise<SerializedError | undefined>>();
  private readonly inline = new Map<number, AnyFunction>();
  private readonly wrapped = new Map<string, AnyFunction>();

  constructor(private readonly onLoaded: (module: string) => void) {}

  resolve(spec: TaskSpec): Resolved | Promise<Resolved> {
    if (spec.kind === 'inline') return this.resolveInline(spec);
    if (spec.kind === 'mixed') return this.resolveMixed(spec.specs);
    const base = this.resolveNamed(spec.module, spec.name);
    const { wrapper } = spec;
    if (!wrapper) return base;
    // A decorated task (say, cached): the wrapper is itself a registered task, a factory that
    // receives the task's function. Each decorated function is built once per worker.
    const key = `${spec.module}#${spec.name}|${wrapper.module}#${wrapper.name}|${JSON.stringify(wrapper.options)}`;
    const built = this.wrapped.get(key);
    if (built) return { fn: built };
    const wrap = (inner: Resolved, factory: Resolved): Resolved => {
      if ('failure' in inner) return inner;
      if ('failure' in factory) return factory;
      let fn: AnyFunction;
      try {
        fn = factory.fn(inner.fn, wrapper.options, { module: spec.module, name: spec.name }) as AnyFunction;
      } catch (error) {
        return {
          failure: { kind: 'wrapper', name: `${wrapper.name} of ${spec.name}`, error: serializeError(error) },
        };
      }
      this.wrapped.set(key, fn);
      return { fn };
    };
    const factory = this.resolveNamed(wrapper.module, wrapper.name);
    if (base instanceof Promise || factory instanceof Promise) {
      return Promise.all([base, factory]).then(([b, f]) => wrap(b, f));
    }
    return wrap(base, factory);
  }

  private resolveMixed(specs: readonly TaskSpec[]): Resolved | Promise<Resolved> {
    const parts = specs.map((spec) => this.resolve(spec));
    const combine = (resolved: Resolved[]): Resolved => {
      const failed = resolved.find((r) => 'failure' in r);
      if (failed) return failed;
      const fns = resolved.map((r) => (r as { fn: AnyFunction }).fn);
      return { fn: fns[0] as AnyFunction, fns };
    };
    return parts.some((p) => p instanceof Promise)
      ? Promise.all(parts).then(combine)
      : combine(parts as Resolved[]);
  }

  private resolveNamed(module: string, name: string): Resolved | Promise<Resolved> {
    const fn = lookupTask(module, name);
    if (fn) {
      // Registered without an import of ours (another module imported it, or the inline
      // backend shares the caller's registry): the pool must still learn that it is loaded here.
      if (!this.modules.has(module)) {
        this.modules.set(module, Promise.resolve(undefined));
        this.onLoaded(module);
      }
      return { fn };
    }
    return this.load(module).then((error): Resolved => {
      if (error) return { failure: { kind: 'module-load', module, error } };
      const loaded = lookupTask(module, name);
      if (loaded) return { fn: loaded };
      return { failure: { kind: 'task-not-found', message: notFoundMessage(module, name) } };
    });
  }

  private load(module: string): Promise<SerializedError | undefined> {
    let loading = this.modules.get(module);
    if (!loading) {
      loading = import(module).then(
        () => {
          this.onLoaded(module);
          return undefined;
        },
        (error: unknown) => serializeError(error),
      );
      this.modules.set(module, loading);
    }
    return loading;
  }

  private resolveInline(spec: Extract<TaskSpec, { kind: 'inline' }>): Resolved {
    let fn = this.inline.get(spec.fnId);
    if (!fn && spec.source !== undefined) {
      try {
        fn = new Function(`"use strict"; return (${spec.source});`)() as AnyFunction;
      } catch (error) {
        return {
          failure: { kind: 'inline', message: `The inline function could not be compiled: ${error}` },
        };
      }
      this.inline.set(spec.fnId, fn);
    }
    if (!fn) return { failure: { kind: 'inline', message: `Inline function ${spec.fnId} was never sent` } };
    return { fn };
  }
}

function notFoundMessage(module: string, name: string): string {
  if (!isRegistered(module)) {
    return `Task module ${module} loaded, but it registered no tasks under that URL: call defineTasks(import.meta.url, { ${name}, ... }) in it`;
  }
  return `Task module ${module} has no task "${name}" (it defines: ${registeredNames(module).join(', ') || 'none'})`;
}

/**
 * A batch's results. They are written straight into a Float64Array while every result is a
 * number (the common numeric map), so sending them needs no second pass; the first value of
 * another kind turns the store into a plain array.
 */
class Results {
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
class BatchRun {
  readonly items: Unpacked;
  readonly results: Results;
  /** Per-item start and duration, when the batch is traced. */
  readonly itemTimes: Float64Array | undefined;
  failures: ItemFailure[] | undefined;
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
    private readonly runtime: WorkerRuntime,
    aborted: boolean,
  ) {
    this.items = unpack(message.items);
    this.results = new Results(this.items.length);
    this.itemTimes = message.timeItems ? new Float64Array(2 * this.items.length) : undefined;
    this.state = {
      id: message.id,
      seed: message.seed,
      context: message.context,
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
        const args = handles ? this.withBroadcasts(items[i], spread === true) : items[i];
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

  /** Put the broadcast values in place of their handles (top-level arguments only). */
  private withBroadcasts(item: unknown, spread: boolean): unknown {
    const cache = broadcastCache();
    return spread && Array.isArray(item)
      ? item.map((arg) => resolveBroadcast(arg, cache))
      : resolveBroadcast(item, cache);
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
    const problem = findUncloneable(value);
    if (!problem) return true;
    this.ran = offset + 1;
    (this.failures ??= []).push({ offset, kind: 'not-cloneable', message: `the result is ${problem}` });
    return false;
  }

  private fail(offset: number, error: unknown): void {
    (this.failures ??= []).push({ offset, kind: 'threw', error: serializeError(error) });
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

class WorkerRuntime implements Runtime {
  private readonly resolver = new TaskResolver((module) => this.send({ fanout: BRAND, t: 'loaded', module }));
  private readonly queue: RunMessage[] = [];
  /** Results held back (see holdDone). */
  private readonly outbox: { done: DoneMessage; transfer: TransferListItem[] }[] = [];
  private outboxSince = 0;
  /** Tasks registered by the pool, by key. */
  private readonly tasks = new Map<number, TaskSpec>();
  /** Claim cells shared with the pool (shared-memory backends): see `ClaimsMessage`. */
  private claims: Int32Array | undefined;
  /** The batch running now; `run` is unset while its task module is still loading. */
  private running: { message: RunMessage; run?: BatchRun; aborted: boolean } | undefined;
  private scheduled = false;
  private stopping = false;
  private lastHeapAt = 0;
  private heapUsed = 0;

  constructor(
    private readonly channel: RuntimeChannel,
    readonly options: RuntimeOptions,
  ) {}

  /** Any message but a batch's result: results still held back go first, to keep the order. */
  send(message: FromWorker, transfer?: TransferListItem[]): void {
    this.flushDone();
    this.channel.send(message, transfer);
  }

  /**
   * Results of short batches are held back while more batches wait here, and posted together:
   * posting (and waking the pool) costs more than a short batch. Anything else flushes them, and
   * so does any wait: an async task, a module loading, an empty queue. (A task that blocks this
   * thread delays them until it ends: no code can run here meanwhile.)
   */
  private holdDone(done: DoneMessage, transfer: TransferListItem[], tracked: boolean, ranMs: number): void {
    if (this.outbox.length === 0) this.outboxSince = now();
    this.outbox.push({ done, transfer });
    const keep =
      !tracked &&
      this.queue.length > 0 &&
      ranMs < HOLD_SHORTER_THAN_MS &&
      this.outbox.length < HOLD_AT_MOST &&
      now() - this.outboxSince < HOLD_FOR_MS;
    if (!keep) this.flushDone();
  }

  private flushDone(): void {
    if (this.outbox.length === 0) return;
    const outbox = this.outbox.splice(0);
    if (outbox.length === 0) return;
    const post = (done: DoneMessage, transfer: TransferListItem[]) => {
      try {
        this.channel.send(done, transfer);
      } catch (error) {
        // A value passed the plain-data check but still cannot be cloned (say, a value that is
        // only cloneable in some transports): find which ones, report them, send the rest.
        this.channel.send(withUnsendableValues(done, error));
      }
    };
    if (outbox.length === 1) {
      const [only] = outbox as [(typeof outbox)[0]];
      post(only.done, only.transfer);
      return;
    }
    try {
      this.channel.send(
        { fanout: BRAND, t: 'dones', messages: outbox.map((o) => o.done) },
        outbox.flatMap((o) => o.transfer),
      );
    } catch {
      for (const o of outbox) post(o.done, o.transfer);
    }
  }

  receive(message: ToWorker): void {
    switch (message.t) {
      case 'run':
        this.queue.push(message);
        this.schedule();
        return;
      case 'runs':
        for (const run of message.messages) this.queue.push(run);
        this.schedule();
        return;
      case 'task':
        this.tasks.set(message.key, message.spec);
        return;
      case 'cancel':
        this.cancel(message.id, message.queuedOnly === true);
        return;
      case 'claims':
        this.claims = message.cells;
        return;
      case 'stop':
        this.stopping = true;
        this.schedule();
        return;
      case 'broadcast': {
        const cache = broadcastCache();
        cache.values.set(message.id, message.value);
        cache.received.set(message.id, (cache.received.get(message.id) ?? 0) + 1);
        return;
      }
      case 'release':
        broadcastCache().values.delete(message.id);
        return;
    }
  }

  flushHeld(): void {
    try {
      this.flushDone();
    } catch {
      // The channel may already be gone.
    }
  }

  fatal(error: unknown): void {
    try {
      this.send({ fanout: BRAND, t: 'fatal', error: serializeError(error) });
    } catch {
      // The channel may already be gone; the exit code tells the rest.
    }
  }

  private cancel(id: number, queuedOnly: boolean): void {
    const queued = this.queue.findIndex((m) => m.id === id);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.send({ fanout: BRAND, t: 'cancelled', id });
      return;
    }
    if (queuedOnly) return;
    const running = this.running;
    if (running && running.message.id === id && !running.aborted) {
      running.aborted = true;
      if (running.run) {
        running.run.state.aborted = true;
        running.run.state.controller?.abort();
      }
    }
  }

  /**
   * Batches start from setImmediate, never straight from a message handler: the channel first
   * delivers every message already waiting, so a cancel that arrived behind queued batches is
   * seen before they start.
   */
  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.next();
    });
  }

  private next(): void {
    if (this.running) return;
    let message = this.queue.shift();
    // A batch the pool took back for another worker (its claim is gone) is skipped, unannounced.
    while (message && !this.claim(message)) message = this.queue.shift();
    if (!message) {
      // Results were held back for the batches that were to follow; none will: send them now.
      this.flushDone();
      if (this.stopping) this.channel.exit();
      return;
    }
    const startedAt = now();
    const running: NonNullable<WorkerRuntime['running']> = { message, aborted: false };
    this.running = running;
    const spec = this.tasks.get(message.task);
    const resolved: Resolved | Promise<Resolved> = spec
      ? this.resolver.resolve(spec)
      : {
          failure: {
            kind: 'task-not-found',
            message: `Task ${message.task} was never registered on this worker`,
          },
        };
    if (resolved instanceof Promise) {
      // Waiting (for a module to load): what is held back goes now (see holdDone).
      this.flushDone();
      resolved.then((r) => this.start(running, r, startedAt));
    } else this.start(running, resolved, startedAt);
  }

  /** Whether this worker may run `message`: always, unless the pool can take it back (see `ClaimsMessage`). */
  private claim(message: RunMessage): boolean {
    const { claims } = this;
    if (message.claim === undefined || !claims) return true;
    return Atomics.compareExchange(claims, message.claim, message.id, 0) === message.id;
  }

  private start(running: NonNullable<WorkerRuntime['running']>, resolved: Resolved, startedAt: number): void {
    const { message } = running;
    if ('failure' in resolved) {
      this.running = undefined;
      this.finish(message, { ran: 0, batchFailure: resolved.failure }, startedAt);
      return;
    }
    // An inline function gets the call's `context` as its last argument (it has no imports).
    const { context } = message;
    const inline = this.tasks.get(message.task)?.kind === 'inline';
    const fn = inline ? (...args: unknown[]) => resolved.fn(...args, context) : resolved.fn;
    const run = new BatchRun(message, fn, resolved.fns, this, running.aborted);
    running.run = run;
    const pending = run.run(0);
    if (pending) {
      // An async task, which may take long: what is held back goes now (see holdDone).
      this.flushDone();
      pending.then(() => this.complete(run, startedAt));
    } else this.complete(run, startedAt);
  }

  private complete(run: BatchRun, startedAt: number): void {
    this.running = undefined;
    run.flushProgress();
    this.finish(
      run.message,
      {
        results: run.results,
        ran: run.ran,
        failures: run.failures,
        transfers: run.transfers,
        itemTimes: relativeTimes(run.itemTimes, startedAt - performance.timeOrigin),
      },
      startedAt,
    );
  }

  private finish(
    message: RunMessage,
    outcome: Pick<DoneMessage, 'ran' | 'failures' | 'batchFailure' | 'itemTimes'> & {
      results?: Results;
      transfers?: ArrayBuffer[];
    },
    startedAt: number,
  ): void {
    const end = now();
    // Sampling the heap costs ~1 µs: after any batch that ran long enough to grow it, or now and then.
    if (end - startedAt >= 1 || end - this.lastHeapAt >= HEAP_SAMPLE_MS) {
      this.lastHeapAt = end;
      this.heapUsed = getHeapStatistics().used_heap_size;
    }
    const transfer: TransferListItem[] = [...(outcome.transfers ?? [])];
    if (outcome.itemTimes) transfer.push(outcome.itemTimes.buffer as ArrayBuffer);
    // Only what is set is sent: a done message is cloned once per batch.
    const done: { -readonly [K in keyof DoneMessage]: DoneMessage[K] } = {
      fanout: BRAND,
      t: 'done',
      id: message.id,
      ran: outcome.ran,
      values: outcome.results ? outcome.results.packed(transfer) : [],
      startedAt,
      duration: end - startedAt,
      heapUsed: this.heapUsed,
    };
    if (outcome.failures) done.failures = outcome.failures;
    if (outcome.batchFailure) done.batchFailure = outcome.batchFailure;
    if (outcome.itemTimes) done.itemTimes = outcome.itemTimes;
    this.holdDone(done, transfer, message.track === true, end - startedAt);
    this.schedule();
  }
}

function withUnsendableValues(done: DoneMessage, error: unknown): DoneMessage {
  const values = Array.from(unpack(done.values));
  const failures = [...(done.failures ?? [])];
  for (let i = 0; i < values.length; i++) {
    try {
      structuredClone(values[i]);
    } catch {
      values[i] = undefined;
      failures.push({ offset: i, kind: 'not-cloneable', message: `the result cannot be cloned (${error})` });
    }
  }
  return { ...done, values, failures };
}

/** Item start times made relative to the batch's start (both on the performance.now() clock). */
function relativeTimes(times: Float64Array | undefined, batchStart: number): Float64Array | undefined {
  if (!times) return undefined;
  for (let i = 0; i < times.length; i += 2) times[i] = (times[i] as number) - batchStart;
  return times;
}

/** Create the runtime for one worker (or for the inline backend's main thread). */
export function createRuntime(channel: RuntimeChannel, options: RuntimeOptions): Runtime {
  return new WorkerRuntime(channel, options);
}
