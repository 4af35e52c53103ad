/**
 * The worker runtime, shared by every transport: it keeps the queue of batches a worker was
 * given, runs them one at a time (batch-run.ts) with the functions the resolver finds
 * (task-resolver.ts), and reports values, failures and timings. The thread and process entry
 * files wire a channel into it; the inline backend calls it directly. It never imports pool code.
 */

import type { TransferListItem } from 'node:worker_threads';
import { toWire } from '../codec/errors.js';
import { unpack } from '../codec/values.js';
import type { SyncAttachment } from '../data/sync-serve.js';
import { markInsideWorker } from '../options/inside-worker.js';
import { setCurrentItem } from '../tasks/context.js';
import type { TaskSpec } from '../tasks/task-spec.js';
import { runsOneAtATime } from '../tasks/tasks.js';
import type { AnyFunction } from '../types.js';
import { BatchRun, type Results, type RuntimeOptions, type Slots } from './batch-run.js';
import { elapsedAt, now, setClockShift } from './clock.js';
import { broadcastCache, resolveHandles, syncPrimitives } from './handles.js';
import { NestedCalls } from './nested.js';
import { BRAND, type DoneMessage, type FromWorker, type RunMessage, type ToWorker } from './protocol.js';
import { syncPort } from './sync-port.js';
import { failureError, type Resolved, TaskResolver } from './task-resolver.js';

export type { RuntimeOptions };

export interface RuntimeChannel {
  /**
   * Post a message to the pool, moving the `transfer` buffers where the transport can. Throws
   * (like postMessage) when the message cannot be cloned.
   */
  send(message: FromWorker, transfer?: TransferListItem[]): void;
  /** Leave: called after a `stop` once the queue is empty. */
  exit(): void;
}

export interface Runtime {
  receive(message: ToWorker): void;
  /** Report an uncaught exception or unhandled rejection; the entry file exits afterwards. */
  fatal(error: unknown): void;
  /** Send the results held back now (the worker is exiting: a task called `process.exit()`). */
  flushHeld(): void;
}

/** Results are held back only after batches this short, ... */
const HOLD_SHORTER_THAN_MS = 0.2;
/** ... at most this many of them ... */
const HOLD_AT_MOST = 64;
/** ... and for at most this long. */
const HOLD_FOR_MS = 1;
const HEAP_SAMPLE_MS = 100;
const HEAP_SAMPLE_AFTER_MS = 10;

/** A batch started here and not finished. */
interface Active {
  readonly message: RunMessage;
  run?: BatchRun;
  aborted: boolean;
}

const AsyncFunction = (async () => {}).constructor;

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
  /** Batches started and not finished; `run` is unset while a task module is still loading. */
  private readonly active = new Set<Active>();
  /**
   * The batch starting its items now (or waiting for a slot to start the next one): no other
   * batch starts meanwhile. A batch whose items all started and only await is not the driver.
   */
  private driver: Active | undefined;
  /** The per-worker limit of async items in flight (`concurrentTasksPerWorker`; see ConfigMessage). */
  private limit = 1;
  private inFlight = 0;
  private slotWaiter: (() => void) | undefined;
  /** Functions seen returning a promise: their items run with a context of their own. */
  private readonly asyncFns = new WeakSet<AnyFunction>();
  private scheduled = false;
  private stopping = false;
  private lastHeapAt = 0;
  private heapUsed = 0;
  /** The broker's proxies' way out (process workers; see sync-port.ts). */
  private readonly syncPort = syncPort((message) => this.send(message));

  constructor(
    private readonly channel: RuntimeChannel,
    readonly options: RuntimeOptions,
  ) {}

  readonly slots: Slots = {
    free: () => this.inFlight < this.limit,
    take: () => {
      this.inFlight++;
    },
    give: () => {
      this.inFlight--;
      if (this.inFlight >= this.limit) return;
      const waiter = this.slotWaiter;
      if (waiter) {
        this.slotWaiter = undefined;
        waiter();
      } else {
        this.reportParked();
        this.schedule();
      }
    },
    wait: (resume) => {
      this.slotWaiter = resume;
    },
  };

  private readonly nested = new NestedCalls((message) => this.send(message), this.slots);
  readonly poolFor = this.nested.poolFor;

  knownAsync(fn: AnyFunction): boolean {
    return fn instanceof AsyncFunction || this.asyncFns.has(fn);
  }

  markAsync(fn: AnyFunction): void {
    this.asyncFns.add(fn);
  }

  /**
   * A batch started all its items; some await: other batches may start while they do. The pool
   * hears of it once this worker has a free slot (else it would send batches that cannot start).
   */
  launched(run: BatchRun): void {
    const { driver } = this;
    if (!driver || driver.run !== run) return;
    this.driver = undefined;
    if (run.awaiting) this.unreported.push(run);
    this.reportParked();
    this.schedule();
  }

  /** Batches that only await, not yet reported to the pool: see `launched`. */
  private readonly unreported: BatchRun[] = [];

  private reportParked(): void {
    if (this.unreported.length === 0 || this.inFlight >= this.limit) return;
    for (const run of this.unreported.splice(0)) {
      if (run.awaiting) this.send({ fanout: BRAND, t: 'parked', id: run.message.id });
    }
  }

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

  /**
   * Messages waiting behind one whose part of the runtime is still loading (see `PARTS`), in the
   * order they came: none overtakes another.
   */
  private waiting: ToWorker[] | undefined;

  receive(message: ToWorker): void {
    if (this.waiting) {
      this.waiting.push(message);
      return;
    }
    const part = partFor(message);
    if (part && !part.loaded()) {
      this.waiting = [message];
      part.load().then(
        () => {
          const waiting = this.waiting ?? [];
          this.waiting = undefined;
          for (const next of waiting) this.receive(next);
        },
        (error: unknown) => this.failToLoad(error),
      );
      return;
    }
    this.handle(message);
  }

  /** A part of the runtime could not be loaded (fanout's own files are damaged): the worker dies, and says why. */
  private failToLoad(error: unknown): void {
    this.fatal(error);
    this.channel.exit();
  }

  private handle(message: ToWorker): void {
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
      case 'config':
        this.limit = message.concurrentTasks;
        if (message.clockShift !== undefined) setClockShift(message.clockShift);
        if (message.hunger) this.nested.hunger = message.hunger;
        return;
      case 'hunger':
        this.nested.hungerChanged(message.idle);
        return;
      case 'called':
        this.nested.answered(message);
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
      case 'attach':
        this.attach(message.attachment);
        return;
      case 'sync-reply':
        this.syncPort.settle(message);
        return;
      case 'spmd-open':
      case 'spmd-msg':
      case 'spmd-abort':
      case 'spmd-end':
        PARTS.spmd.module().receiveSpmd(message, (up) => this.send(up));
        return;
    }
  }

  /** A primitive's memory or parameters: revive it once; every later clone of its mark resolves to it. */
  private attach(attachment: SyncAttachment): void {
    if (syncPrimitives.has(attachment.key)) return;
    const { reviveSync } = PARTS.sync.module();
    syncPrimitives.set(attachment.key, reviveSync(attachment, attachment.buffer ? undefined : this.syncPort));
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
      const running = [...this.active].map((a) => a.message.id);
      this.send({ fanout: BRAND, t: 'fatal', error: toWire(error), running });
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
    for (const running of this.active) {
      if (running.message.id !== id || running.aborted) continue;
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
    if (this.scheduled || this.driver) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.next();
    });
  }

  /** Whether the next batch may start now (see `next`). */
  private mayStart(): boolean {
    if (this.driver || this.inFlight >= this.limit) return false;
    if (this.active.size === 0) return true;
    // An isolated re-run runs with nothing else in flight, and nothing starts beside it.
    const head = this.queue[0];
    if (head?.alone) return false;
    for (const a of this.active) if (a.message.alone) return false;
    return true;
  }

  private next(): void {
    if (!this.mayStart()) return;
    let message = this.queue.shift();
    // A batch the pool took back for another worker (its claim is gone) is skipped, unannounced.
    while (message && !this.claim(message)) message = this.queue.shift();
    if (!message) {
      // Results were held back for the batches that were to follow; none will: send them now.
      this.flushDone();
      if (this.stopping && this.active.size === 0) this.channel.exit();
      return;
    }
    if (message.alone && this.active.size > 0) {
      this.queue.unshift(message);
      return;
    }
    const startedAt = now();
    const running: Active = { message, aborted: false };
    this.active.add(running);
    this.driver = running;
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

  private start(running: Active, resolved: Resolved, startedAt: number): void {
    const { message } = running;
    if ('failure' in resolved) {
      this.active.delete(running);
      if (this.driver === running) this.driver = undefined;
      this.finish(
        message,
        { ran: 0, batchFailure: toWire(failureError(resolved.failure, message.first)) },
        startedAt,
      );
      return;
    }
    // An inline function gets the call's `context` as its last argument (it has no imports).
    const context = message.handles ? resolveHandles(message.context) : message.context;
    const inline = this.tasks.get(message.task)?.kind === 'inline';
    const fn = inline ? (...args: unknown[]) => resolved.fn(...args, context) : resolved.fn;
    // Items overlap, except in an isolated re-run, in an actor's calls (an actor runs its
    // methods one at a time) and for a wrapper that asks for it (a chunk reader's one buffer):
    // then the batch holds the worker until its items have settled.
    const overlap =
      message.alone !== true &&
      this.tasks.get(message.task)?.kind !== 'actor' &&
      !runsOneAtATime(resolved.fn);
    const run = new BatchRun(message, fn, resolved.fns, this, running.aborted, overlap, context);
    running.run = run;
    const pending = run.run(0);
    if (pending) {
      // An async task, which may take long: what is held back goes now (see holdDone).
      this.flushDone();
      pending.then(() => this.complete(running, run, startedAt));
    } else this.complete(running, run, startedAt);
  }

  private complete(running: Active, run: BatchRun, startedAt: number): void {
    this.active.delete(running);
    if (this.driver === running) this.driver = undefined;
    // Its items are over: a callback that outlives them (a timer a task started) must find no
    // task running, not the batch's last item (while other batches' items are in flight, theirs
    // run with contexts of their own).
    if (this.active.size === 0) setCurrentItem(undefined);
    run.flushProgress();
    this.finish(
      run.message,
      {
        results: run.results,
        ran: run.ran,
        failures: run.failures,
        transfers: run.transfers,
        itemTimes: relativeTimes(run.itemTimes, elapsedAt(startedAt)),
        work: run.work(this.limit),
      },
      startedAt,
    );
  }

  private finish(
    message: RunMessage,
    outcome: Pick<DoneMessage, 'ran' | 'failures' | 'batchFailure' | 'itemTimes' | 'work'> & {
      results?: Results;
      transfers?: ArrayBuffer[];
    },
    startedAt: number,
  ): void {
    const end = now();
    // Sampling the heap costs ~10 µs (process.memoryUsage; node:v8's would cost ~1 µs, but
    // importing node:v8 costs a worker 0.5 ms of its start): after a batch long enough for that
    // to be 0.1 %, and now and then.
    if (end - startedAt >= HEAP_SAMPLE_AFTER_MS || end - this.lastHeapAt >= HEAP_SAMPLE_MS) {
      this.lastHeapAt = end;
      this.heapUsed = process.memoryUsage().heapUsed;
    }
    // Only the buffers the task asked to move: the item times and packed results are copied
    // (a move would slow this thread's typed-array code for good: see codec/values.ts).
    const transfer: TransferListItem[] = [...(outcome.transfers ?? [])];
    // Only what is set is sent: a done message is cloned once per batch.
    const done: { -readonly [K in keyof DoneMessage]: DoneMessage[K] } = {
      fanout: BRAND,
      t: 'done',
      id: message.id,
      ran: outcome.ran,
      values: outcome.results ? outcome.results.packed() : [],
      startedAt,
      duration: end - startedAt,
      heapUsed: this.heapUsed,
    };
    if (outcome.failures) done.failures = outcome.failures;
    if (outcome.batchFailure) done.batchFailure = outcome.batchFailure;
    if (outcome.itemTimes) done.itemTimes = outcome.itemTimes;
    if (outcome.work !== undefined) done.work = Math.min(outcome.work, done.duration);
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
      failures.push({ offset: i, kind: 'not-cloneable', problem: `cannot be cloned (${error})` });
    }
  }
  return { ...done, values, failures };
}

/** Item start times made relative to the batch's start (both on the `elapsed()` clock). */
function relativeTimes(times: Float64Array | undefined, batchStart: number): Float64Array | undefined {
  if (!times) return undefined;
  for (let i = 0; i < times.length; i += 2) times[i] = (times[i] as number) - batchStart;
  return times;
}

/**
 * A part of the runtime that few workers need, imported when the first message that needs it
 * comes: a worker that never serves a lock or an SPMD group does not compile their code at its
 * start (start-up is what a small job pays for). `module()` is the module once it is in:
 * `receive` handles no message that needs a part before that part has loaded.
 */
interface Part<M> {
  loaded(): boolean;
  load(): Promise<void>;
  module(): M;
}

function part<M>(importer: () => Promise<M>): Part<M> {
  let loaded: M | undefined;
  return {
    loaded: () => loaded !== undefined,
    load: async () => {
      loaded ??= await importer();
    },
    module: () => {
      if (loaded === undefined)
        throw new Error('fanout: a part of the worker runtime was used before it loaded');
      return loaded;
    },
  };
}

const PARTS = {
  /** Locks, semaphores, barriers, queues and counters (`attach`). */
  sync: part(() => import('../data/sync-serve.js')),
  /** SPMD groups' messages (spmd-open, spmd-msg, ...). */
  spmd: part(() => import('./comm.js')),
};

function partFor(message: ToWorker): Part<unknown> | undefined {
  switch (message.t) {
    case 'attach':
      return PARTS.sync;
    case 'spmd-open':
    case 'spmd-msg':
    case 'spmd-abort':
    case 'spmd-end':
      return PARTS.spmd;
    default:
      return undefined;
  }
}

/** Create the runtime for one worker (or for the inline backend's main thread). */
export function createRuntime(channel: RuntimeChannel, options: RuntimeOptions): Runtime {
  // A thread or process of its own: a pool its tasks make starts no threads unless asked.
  if (!options.sharedThread) markInsideWorker();
  return new WorkerRuntime(channel, options);
}
