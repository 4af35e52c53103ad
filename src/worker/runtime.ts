/**
 * The worker runtime, shared by every transport: it keeps the queue of batches a worker was
 * given, runs them one at a time (batch-run.ts) with the functions the resolver finds
 * (task-resolver.ts), and reports values, failures and timings. The thread and process entry
 * files wire a channel into it; the inline backend calls it directly. It never imports pool code.
 */

import { getHeapStatistics } from 'node:v8';
import type { TransferListItem } from 'node:worker_threads';
import { toWire } from '../codec/errors.js';
import { unpack } from '../codec/values.js';
import { reviveSync, type SyncAttachment } from '../data/sync-serve.js';
import { setCurrentItem } from '../tasks/context.js';
import type { TaskSpec } from '../tasks/task-spec.js';
import { BatchRun, type Results, type RuntimeOptions } from './batch-run.js';
import { receiveSpmd } from './comm.js';
import { broadcastCache, resolveHandles, syncPrimitives } from './handles.js';
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

const now = () => performance.timeOrigin + performance.now();
/** Results are held back only after batches this short, ... */
const HOLD_SHORTER_THAN_MS = 0.2;
/** ... at most this many of them ... */
const HOLD_AT_MOST = 64;
/** ... and for at most this long. */
const HOLD_FOR_MS = 1;
const HEAP_SAMPLE_MS = 100;

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
  /** The broker's proxies' way out (process workers; see sync-port.ts). */
  private readonly syncPort = syncPort((message) => this.send(message));

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
        receiveSpmd(message, (up) => this.send(up));
        return;
    }
  }

  /** A primitive's memory or parameters: revive it once; every later clone of its mark resolves to it. */
  private attach(attachment: SyncAttachment): void {
    if (syncPrimitives.has(attachment.key)) return;
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
      this.send({ fanout: BRAND, t: 'fatal', error: toWire(error) });
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
    const run = new BatchRun(message, fn, resolved.fns, this, running.aborted, context);
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
    // Its items are over: a callback that outlives them (a timer a task started) must find no
    // task running, not the batch's last item.
    setCurrentItem(undefined);
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
      failures.push({ offset: i, kind: 'not-cloneable', problem: `cannot be cloned (${error})` });
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
