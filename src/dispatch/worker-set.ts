/**
 * The worker set: the lifecycle of a local backend's workers, written once for all of them.
 *
 * It starts workers on demand, hands each batch to the least-loaded one (several batches queue
 * in a worker, so it never waits for the main thread), and turns every way a worker can fail
 * into one outcome: a crash (exit code, signal, out of memory, uncaught error), a per-item
 * timeout, a module that never finishes loading, a start that keeps failing. A worker that had
 * to be killed is replaced; batches queued behind the one that failed never started and are
 * handed to another worker.
 */

import type { TransferListItem } from 'node:worker_threads';
import type { LocalBackend, WorkerChannel } from '../backends/backend.js';
import { type BroadcastHandle, Broadcasts, broadcastIdsIn } from '../broadcast.js';
import { deserializeError } from '../codec/errors.js';
import { pack, unpack } from '../codec/values.js';
import {
  describe,
  InlineFunctionError,
  InvalidArgValueError,
  NotCloneableError,
  PoolClosedError,
  TaskError,
  TaskModuleLoadError,
  TaskNotFoundError,
  TaskTimeoutError,
  WorkerCrashedError,
} from '../errors.js';
import type { BackendSupports, BatchOutcome, BatchRequest, Engine, Ticket } from '../scheduler/types.js';
import { transferablesOf } from '../shared.js';
import {
  type BatchFailure,
  BRAND,
  type DoneMessage,
  type FromWorker,
  type RunMessage,
  type TaskSpec,
} from '../worker/protocol.js';

export interface WorkerSetOptions {
  readonly size: number;
  readonly maxTasksPerWorker: number;
  /** Recycle a worker whose heap grew past this many bytes. */
  readonly maxWorkerMemory: number;
  readonly idleTimeout: number;
  readonly abortGrace: number;
  readonly loadTimeout: number;
  readonly stopTimeout: number;
}

/** Batches queued in one worker at most; the scheduler's window normally keeps it lower. */
const MAX_QUEUE_PER_WORKER = 16;
/** After this many failed starts in a row with no worker alive, pending work fails. */
const START_FAILURE_LIMIT = 3;
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5000;

type KillReason = 'timeout' | 'aborted' | 'load-timeout' | 'retired' | 'terminated';

interface Entry {
  readonly id: number;
  readonly request: BatchRequest;
  readonly settle: (outcome: BatchOutcome) => void;
  worker: WorkerState | undefined;
  /** Offset of the item running now (tracked batches only). */
  offset: number | undefined;
  cancelled: boolean;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
  graceTimer: NodeJS.Timeout | undefined;
}

interface WorkerState {
  readonly number: number;
  readonly channel: WorkerChannel;
  readonly queue: Entry[];
  readonly loaded: Set<string>;
  /** Batches assigned this tick, posted together at the end of it. */
  readonly outbox: Outgoing[];
  /** Task specs this worker knows, with their keys (a mixed spec also by how many tasks it had). */
  readonly taskKeys: Map<TaskSpec, { key: number; size: number }>;
  /** Broadcast values this worker has received. */
  readonly broadcastsSent: Set<number>;
  ready: boolean;
  retiring: boolean;
  killReason: KillReason | undefined;
  tasksRun: number;
  fatal: unknown;
  idleTimer: NodeJS.Timeout | undefined;
  stopTimer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
  markExited: () => void;
}

export class WorkerSet implements Engine {
  private readonly workers = new Set<WorkerState>();
  private readonly pending: Entry[] = [];
  private nextEntryId = 1;
  private nextTaskKey = 1;
  private nextWorkerNumber = 0;
  private startFailures = 0;
  private spawnBlockedUntil = 0;
  private spawnTimer: NodeJS.Timeout | undefined;
  private terminated = false;
  private readonly broadcasts = new Broadcasts((id) => this.releaseEverywhere(id));

  constructor(
    private readonly backend: LocalBackend,
    private readonly options: WorkerSetOptions,
  ) {}

  get size(): number {
    return this.options.size;
  }

  get supports(): BackendSupports {
    return this.backend.supports;
  }

  /** Workers alive now (for tests and reports). */
  get liveWorkers(): number {
    return this.workers.size;
  }

  submit(request: BatchRequest): Ticket {
    let settle!: (outcome: BatchOutcome) => void;
    const outcome = new Promise<BatchOutcome>((resolve) => {
      settle = resolve;
    });
    const entry: Entry = {
      id: this.nextEntryId++,
      request,
      settle: (o) => {
        if (entry.settled) return;
        entry.settled = true;
        clearTimeout(entry.timer);
        clearTimeout(entry.graceTimer);
        settle(o);
      },
      worker: undefined,
      offset: undefined,
      cancelled: false,
      settled: false,
      timer: undefined,
      graceTimer: undefined,
    };
    if (this.terminated) {
      entry.settle({ kind: 'failed', error: new PoolClosedError('The pool was terminated') });
    } else {
      this.pending.push(entry);
      this.pump();
    }
    return { outcome, cancel: () => this.cancel(entry) };
  }

  /** A value sent once to each worker that needs it, instead of with every batch. */
  broadcast<T>(value: T): BroadcastHandle<T> {
    return this.broadcasts.create(value);
  }

  private releaseEverywhere(id: number): void {
    for (const worker of this.workers) {
      if (worker.broadcastsSent.delete(id)) this.trySend(worker, { fanout: BRAND, t: 'release', id });
    }
  }

  /** The key of `spec` on this worker, registering it there first if it is new. */
  private taskKey(worker: WorkerState, spec: TaskSpec): number {
    // A mixed spec's table grows as a call reads new tasks: a longer table is a new registration.
    const size = spec.kind === 'mixed' ? spec.specs.length : 0;
    const known = worker.taskKeys.get(spec);
    if (known && known.size === size) return known.key;
    const key = this.nextTaskKey++;
    worker.channel.send({
      fanout: BRAND,
      t: 'task',
      key,
      spec: spec.kind === 'mixed' ? { ...spec, specs: [...spec.specs] } : spec,
    });
    worker.taskKeys.set(spec, { key, size });
    return key;
  }

  /** Send the broadcast values a batch needs that this worker does not have yet. */
  private sendBroadcasts(worker: WorkerState, ids: readonly number[]): void {
    for (const id of ids) {
      if (worker.broadcastsSent.has(id)) continue;
      worker.channel.send({ fanout: BRAND, t: 'broadcast', id, value: this.broadcasts.valueOf(id) });
      worker.broadcastsSent.add(id);
    }
  }

  /** Stop every worker once its queue is empty; resolves when all have exited. */
  async close(): Promise<void> {
    // A worker that crashes while closing hands its queue to a replacement: go round until none is left.
    while (this.workers.size > 0) {
      const workers = [...this.workers];
      for (const worker of workers) this.retire(worker);
      await Promise.all(workers.map((w) => w.exited));
    }
    clearTimeout(this.spawnTimer);
  }

  /** Kill every worker now; work not finished fails with ERR_POOL_CLOSED. */
  async terminate(): Promise<void> {
    this.terminated = true;
    clearTimeout(this.spawnTimer);
    const closed = () => new PoolClosedError('The pool was terminated');
    for (const entry of this.pending.splice(0)) entry.settle({ kind: 'failed', error: closed() });
    const exits: Promise<void>[] = [];
    for (const worker of this.workers) {
      for (const entry of worker.queue) entry.settle({ kind: 'failed', error: closed() });
      this.kill(worker, 'terminated');
      exits.push(worker.exited);
    }
    await Promise.all(exits);
  }

  private cancel(entry: Entry): void {
    if (entry.settled || entry.cancelled) return;
    entry.cancelled = true;
    const worker = entry.worker;
    if (!worker) {
      const at = this.pending.indexOf(entry);
      if (at >= 0) this.pending.splice(at, 1);
      entry.settle({ kind: 'cancelled' });
      return;
    }
    this.trySend(worker, { fanout: BRAND, t: 'cancel', id: entry.id });
    if (worker.queue[0] === entry) this.armGrace(worker, entry);
  }

  /** A running batch was cancelled: give its tasks `abortGrace` ms to notice, then replace the worker. */
  private armGrace(worker: WorkerState, entry: Entry): void {
    entry.graceTimer = setTimeout(() => {
      if (entry.settled || worker.queue[0] !== entry) return;
      entry.settle({ kind: 'cancelled' });
      this.kill(worker, 'aborted');
    }, this.options.abortGrace);
    entry.graceTimer.unref();
  }

  private pump(): void {
    if (this.terminated) return;
    this.ensureWorkers();
    while (this.pending.length > 0) {
      const worker = this.pickWorker();
      if (!worker) break;
      this.assign(worker, this.pending.shift() as Entry);
    }
  }

  private activeWorkers(): WorkerState[] {
    return [...this.workers].filter((w) => !w.retiring && !w.killReason);
  }

  private pickWorker(): WorkerState | undefined {
    let best: WorkerState | undefined;
    for (const worker of this.workers) {
      if (worker.retiring || worker.killReason || worker.queue.length >= MAX_QUEUE_PER_WORKER) continue;
      if (!best || worker.queue.length < best.queue.length) best = worker;
    }
    return best;
  }

  private ensureWorkers(): void {
    // Workers start for work that has none; batches already queued in a worker have one.
    if (this.pending.length === 0) return;
    const missing = this.options.size - this.activeWorkers().length;
    if (missing <= 0) return;
    const wait = this.spawnBlockedUntil - Date.now();
    if (wait > 0) {
      this.spawnTimer ??= setTimeout(() => {
        this.spawnTimer = undefined;
        this.pump();
      }, wait);
      return;
    }
    for (let i = 0; i < missing; i++) this.spawn();
  }

  private spawn(): void {
    let markExited!: () => void;
    const exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const partial = {
      number: this.nextWorkerNumber++,
      queue: [] as Entry[],
      loaded: new Set<string>(),
      taskKeys: new Map<TaskSpec, { key: number; size: number }>(),
      outbox: [] as Outgoing[],
      broadcastsSent: new Set<number>(),
      ready: false,
      retiring: false,
      killReason: undefined,
      tasksRun: 0,
      fatal: undefined,
      idleTimer: undefined,
      stopTimer: undefined,
      exited,
      markExited,
    };
    let worker: WorkerState | undefined;
    let channel: WorkerChannel;
    try {
      channel = this.backend.spawn({
        message: (message) => worker && this.onMessage(worker, message),
        exit: (code, signal, error) => worker && this.onExit(worker, code, signal, error),
      });
    } catch (error) {
      markExited();
      queueMicrotask(() => this.startFailed(error));
      return;
    }
    worker = { ...partial, channel };
    this.workers.add(worker);
  }

  private startFailed(error: unknown): void {
    this.startFailures++;
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.startFailures - 1));
    this.spawnBlockedUntil = Date.now() + backoff;
    const anyReady = [...this.workers].some((w) => w.ready);
    if (this.startFailures >= START_FAILURE_LIMIT && !anyReady) {
      const fail = () =>
        new WorkerCrashedError(
          `workers failed to start ${this.startFailures} times in a row: ${describe(error)}`,
          {
            cause: error,
          },
        );
      for (const entry of this.pending.splice(0)) entry.settle({ kind: 'failed', error: fail() });
      for (const worker of this.workers) {
        for (const entry of worker.queue.splice(0)) entry.settle({ kind: 'failed', error: fail() });
      }
    }
    this.pump();
  }

  private assign(worker: WorkerState, entry: Entry): void {
    const { request } = entry;
    const transfer: TransferListItem[] = [];
    const handles = this.broadcasts.used ? broadcastIdsIn(request.items, request.spread) : [];
    const released = handles.find((id) => !this.broadcasts.has(id));
    if (released !== undefined) {
      entry.settle({
        kind: 'failed',
        error: new InvalidArgValueError(
          `Task "${request.taskName}" was given broadcast value ${released}, which was released`,
        ),
      });
      return;
    }
    if (this.backend.supports.transfer) collectTransfers(request.items, request.spread, transfer);
    // Only what is set is sent: a run message is cloned once per batch.
    const message: Mutable<RunMessage> = {
      fanout: BRAND,
      t: 'run',
      id: entry.id,
      task: 0,
      items: this.backend.supports.crossesBoundary ? pack(request.items, transfer) : request.items,
      first: request.first,
      seed: request.seed,
    };
    if (request.spread) message.spread = true;
    if (isTracked(request)) message.track = true;
    if (request.stopOnError) message.stopOnError = true;
    if (request.context !== undefined) message.context = request.context;
    if (request.taskIndex) message.taskIndex = request.taskIndex;
    if (handles.length > 0) message.handles = handles;
    if (request.timeItems) message.timeItems = true;
    try {
      message.task = this.taskKey(worker, request.task);
      this.sendBroadcasts(worker, handles);
    } catch (error) {
      entry.settle({ kind: 'failed', error: unsendableError(request, error) });
      return;
    }
    this.post(worker, { message, transfer, entry });
    entry.worker = worker;
    worker.queue.push(entry);
    clearTimeout(worker.idleTimer);
    worker.channel.setBusy(true);
    if (worker.queue.length === 1) this.headStarted(worker);
  }

  /**
   * Batches assigned to a worker in one tick go in one message: with one-item batches the cost
   * of posting (a wake-up of the worker each time) is most of the cost of a task.
   */
  private post(worker: WorkerState, outgoing: Outgoing): void {
    worker.outbox.push(outgoing);
    if (worker.outbox.length === 1) queueMicrotask(() => this.flush(worker));
  }

  private flush(worker: WorkerState): void {
    const outbox = worker.outbox.splice(0);
    if (outbox.length === 0 || worker.killReason) return;
    try {
      if (outbox.length === 1) {
        const [only] = outbox as [Outgoing];
        worker.channel.send(only.message, only.transfer);
      } else {
        worker.channel.send(
          { fanout: BRAND, t: 'runs', messages: outbox.map((o) => o.message) },
          outbox.flatMap((o) => o.transfer),
        );
      }
    } catch {
      // Nothing was sent (cloning failed first): send one by one, to fail only the batch at fault.
      for (const o of outbox) {
        try {
          worker.channel.send(o.message, o.transfer);
        } catch (error) {
          this.unsent(worker, o.entry, error);
        }
      }
    }
  }

  /** A batch that could not be posted after all: it fails, and its worker moves on. */
  private unsent(worker: WorkerState, entry: Entry, error: unknown): void {
    const at = worker.queue.indexOf(entry);
    if (at >= 0) worker.queue.splice(at, 1);
    entry.settle({ kind: 'failed', error: unsendableError(entry.request, error) });
    if (at === 0) this.headStarted(worker);
    this.afterBatch(worker);
  }

  /** The first batch in a worker's queue is the one it runs now. */
  private headStarted(worker: WorkerState): void {
    const entry = worker.queue[0];
    if (!entry) return;
    // A tracked batch says exactly when its first item starts; an untracked one starts about now.
    if (!isTracked(entry.request)) entry.request.onStart?.();
    if (entry.cancelled) this.armGrace(worker, entry);
    const { task } = entry.request;
    if (task.kind === 'task' && !worker.loaded.has(task.module)) {
      const ms = this.options.loadTimeout;
      entry.timer = setTimeout(() => {
        if (entry.settled || worker.queue[0] !== entry) return;
        entry.settle({
          kind: 'failed',
          error: new TaskModuleLoadError(
            task.module,
            `it did not finish loading within ${ms} ms (loadTimeout)`,
          ),
        });
        this.kill(worker, 'load-timeout');
      }, ms);
      entry.timer.unref();
    }
  }

  private onMessage(worker: WorkerState, message: FromWorker): void {
    switch (message.t) {
      case 'ready':
        worker.ready = true;
        this.startFailures = 0;
        return;
      case 'loaded': {
        worker.loaded.add(message.module);
        const head = worker.queue[0];
        if (head && head.request.task.kind === 'task' && head.request.task.module === message.module) {
          clearTimeout(head.timer);
        }
        return;
      }
      case 'start':
        this.itemStarted(worker, message.id, message.offset);
        return;
      case 'progress':
        worker.queue.find((e) => e.id === message.id)?.request.onProgress?.(message.amount);
        return;
      case 'done':
        this.batchDone(worker, message);
        return;
      case 'dones':
        for (const done of message.messages) this.batchDone(worker, done);
        return;
      case 'cancelled': {
        const at = worker.queue.findIndex((e) => e.id === message.id);
        if (at < 0) return;
        const [entry] = worker.queue.splice(at, 1);
        entry?.settle({ kind: 'cancelled' });
        if (at === 0) this.headStarted(worker);
        this.afterBatch(worker);
        return;
      }
      case 'fatal':
        worker.fatal = deserializeError(message.error);
        return;
    }
  }

  private itemStarted(worker: WorkerState, id: number, offset: number): void {
    const entry = worker.queue[0];
    if (!entry || entry.id !== id) return;
    if (entry.offset === undefined) entry.request.onStart?.();
    entry.offset = offset;
    const { timeout } = entry.request;
    if (timeout === undefined) return;
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      if (entry.settled || worker.queue[0] !== entry) return;
      const index = entry.request.first + offset;
      entry.settle({
        kind: 'lost',
        error: new TaskTimeoutError({ task: entry.request.taskName, index }, timeout),
        offset,
        started: true,
      });
      this.kill(worker, 'timeout');
    }, timeout);
    entry.timer.unref();
  }

  private batchDone(worker: WorkerState, message: DoneMessage): void {
    const at = worker.queue.findIndex((e) => e.id === message.id);
    if (at < 0) return;
    const [entry] = worker.queue.splice(at, 1) as [Entry];
    worker.tasksRun += message.ran;
    if (entry.cancelled) entry.settle({ kind: 'cancelled' });
    else if (message.batchFailure)
      entry.settle({ kind: 'failed', error: batchError(message.batchFailure, entry.request.first) });
    else {
      entry.settle({
        kind: 'done',
        values: unpack(message.values),
        ran: message.ran,
        failures: message.failures,
        worker: worker.number,
        startedAt: message.startedAt,
        duration: message.duration,
        itemTimes: message.itemTimes,
      });
    }
    if (
      !worker.retiring &&
      (worker.tasksRun >= this.options.maxTasksPerWorker || message.heapUsed > this.options.maxWorkerMemory)
    ) {
      this.retire(worker);
    }
    if (at === 0) this.headStarted(worker);
    this.afterBatch(worker);
  }

  private afterBatch(worker: WorkerState): void {
    if (worker.queue.length === 0) {
      if (worker.retiring) this.stop(worker);
      else {
        worker.channel.setBusy(false);
        if (Number.isFinite(this.options.idleTimeout)) {
          worker.idleTimer = setTimeout(() => this.retire(worker), this.options.idleTimeout);
          worker.idleTimer.unref();
        }
      }
    }
    this.pump();
  }

  /** No new work for this worker; it stops when its queue is empty. A replacement starts on demand. */
  private retire(worker: WorkerState): void {
    if (worker.retiring || worker.killReason) return;
    worker.retiring = true;
    clearTimeout(worker.idleTimer);
    if (worker.queue.length === 0) this.stop(worker);
    this.pump();
  }

  private stop(worker: WorkerState): void {
    if (worker.stopTimer || worker.killReason) return;
    this.trySend(worker, { fanout: BRAND, t: 'stop' });
    worker.channel.setBusy(true);
    worker.stopTimer = setTimeout(() => this.kill(worker, 'retired'), this.options.stopTimeout);
    worker.stopTimer.unref();
  }

  private kill(worker: WorkerState, reason: KillReason): void {
    if (worker.killReason) return;
    worker.killReason = reason;
    // Keep the process alive until the exit is seen, so whoever awaits it is not left hanging.
    worker.channel.setBusy(true);
    worker.channel.kill();
  }

  private trySend(worker: WorkerState, message: Parameters<WorkerChannel['send']>[0]): void {
    // A cancel, a stop or a release must not overtake batches still in the outbox.
    this.flush(worker);
    try {
      worker.channel.send(message);
    } catch {
      // The worker is already gone; its exit handler settles what it held.
    }
  }

  private onExit(worker: WorkerState, code: number | null, signal: string | null, error: unknown): void {
    this.workers.delete(worker);
    clearTimeout(worker.idleTimer);
    clearTimeout(worker.stopTimer);
    worker.markExited();
    worker.outbox.length = 0;
    const queue = worker.queue.splice(0);
    if (!worker.ready && !worker.killReason) {
      // Died before it could take any work: a failed start. Its batches never ran.
      this.pending.unshift(...queue.map(unassign));
      this.startFailed(worker.fatal ?? error ?? exitReason(code, signal));
      return;
    }
    const [head, ...rest] = queue;
    if (head && !head.settled) {
      if (worker.killReason === 'terminated') {
        head.settle({ kind: 'failed', error: new PoolClosedError('The pool was terminated') });
      } else {
        head.settle(this.crashOutcome(head, code, signal, worker.fatal ?? error));
      }
    }
    if (this.terminated) {
      for (const entry of rest)
        entry.settle({ kind: 'failed', error: new PoolClosedError('The pool was terminated') });
    } else {
      this.pending.unshift(...rest.filter((e) => !e.settled).map(unassign));
    }
    this.pump();
  }

  private crashOutcome(
    entry: Entry,
    code: number | null,
    signal: string | null,
    error: unknown,
  ): BatchOutcome {
    const { request, offset } = entry;
    const tracked = isTracked(request);
    const reason = `${exitReason(code, signal)}${error ? ` (${describe(error)})` : ''}`;
    return {
      kind: 'lost',
      error: new WorkerCrashedError(reason, {
        exitCode: code,
        signal,
        cause: error,
        location:
          offset === undefined ? undefined : { task: request.taskName, index: request.first + offset },
      }),
      offset,
      started: tracked ? offset !== undefined : true,
    };
  }
}

/** The buffers of arguments marked with transfer(): they move to the worker. */
function collectTransfers(items: Iterable<unknown>, spread: boolean, into: TransferListItem[]): void {
  // A Float64Array holds numbers only; iterating it would cost ~30 ns a number.
  if (items instanceof Float64Array) return;
  const buffers: ArrayBuffer[] = [];
  for (const item of items) {
    if (typeof item !== 'object' || item === null) continue;
    if (spread && Array.isArray(item)) for (const arg of item) transferablesOf(arg, buffers);
    else transferablesOf(item, buffers);
  }
  into.push(...buffers);
}

/** Whether the worker reports each item's start: for timeouts, and when the caller asked. */
function isTracked(request: BatchRequest): boolean {
  return request.track || request.timeout !== undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Outgoing {
  readonly message: RunMessage;
  readonly transfer: TransferListItem[];
  readonly entry: Entry;
}

function unsendableError(request: BatchRequest, error: unknown): NotCloneableError {
  const last = request.first + request.items.length - 1;
  return new NotCloneableError(
    `Task "${request.taskName}": items ${request.first}–${last} could not be sent to a worker: ${describe(error)}`,
    { cause: error },
  );
}

function unassign(entry: Entry): Entry {
  entry.worker = undefined;
  entry.offset = undefined;
  clearTimeout(entry.timer);
  return entry;
}

function exitReason(code: number | null, signal: string | null): string {
  if (signal) return `killed by signal ${signal}`;
  return `exited with code ${code ?? 'unknown'}`;
}

function batchError(failure: BatchFailure, first: number): Error {
  switch (failure.kind) {
    case 'module-load': {
      const cause = deserializeError(failure.error);
      return new TaskModuleLoadError(failure.module, describe(cause), { cause });
    }
    case 'task-not-found':
      return new TaskNotFoundError(failure.message);
    case 'inline':
      return new InlineFunctionError(failure.message);
    case 'wrapper':
      return new TaskError({ task: failure.name, index: first }, deserializeError(failure.error));
  }
}
