/**
 * The worker set: the lifecycle of a local backend's workers, written once for all of them.
 *
 * Dispatch is fair: batches wait here, in submission order, and go to a worker that is idle,
 * or to one whose queue is expected to be through within PREFETCH_COVER_MS (so a worker never
 * waits for the main thread between short batches); on shared-memory backends also one batch
 * behind any predictable running one. Nothing is queued behind a batch whose length cannot be
 * predicted (the first ones of a call) or that is running far past its estimate. An isolated
 * re-run goes only to a worker that holds nothing, and nothing goes behind it (see pickWorker);
 * the batches behind it pass it while it waits for one. A worker that goes idle while another
 * still holds batches that have not started takes them over (work stealing); on shared-memory
 * backends a claim cell decides who runs such a batch without a message, so this works even
 * while the other worker is stuck in a long task.
 *
 * It starts workers on demand, no more than there are batches waiting, and turns every way a
 * worker can fail into one outcome: a crash (exit code, signal, out of memory, uncaught error),
 * a per-item timeout, a module that never finishes loading, a start that keeps failing. A worker
 * that had to be killed is replaced; batches queued behind the one that failed never started
 * and are handed to another worker. A worker keeps the process alive only while it holds work
 * (or is starting for work that waits), is stopping, or is being killed.
 */

import type { TransferListItem } from 'node:worker_threads';
import { errorFromWire, failuresFromWire, fromWire, toWire } from '../codec/errors.js';
import { pack, packTuples, unpack } from '../codec/values.js';
import { Broadcasts } from '../data/broadcast.js';
import { type BatchHandles, handlesIn } from '../data/handles.js';
import { transferablesOf } from '../data/shared.js';
import { syncAttachment, syncPrimitivesCreated } from '../data/sync-serve.js';
import {
  describe,
  InvalidArgValueError,
  NotCloneableError,
  PoolClosedError,
  TaskError,
  TaskModuleLoadError,
  TaskTimeoutError,
  WorkerCrashedError,
} from '../errors.js';
import type { WorkerSetSettings } from '../options/resolve.js';
import {
  type Backend,
  type BackendSupports,
  type BatchOutcome,
  type BatchRequest,
  itemIndex,
  type NestedRunner,
  type Ticket,
  type WorkerPin,
} from '../scheduler/backend.js';
import { modulesOf, type TaskSpec } from '../tasks/task-spec.js';
import type { BroadcastHandle } from '../types.js';
import { clockShift, elapsed } from '../worker/clock.js';
import {
  BRAND,
  type CalledMessage,
  type CallMessage,
  type DoneMessage,
  type FromWorker,
  type RunMessage,
  type SpmdRelayMessage,
  type ToWorker,
} from '../worker/protocol.js';
import type { WorkerSetObserver } from './observer.js';
import { RecheckTimer } from './recheck-timer.js';
import { type SyncClient, serveSyncMessage, syncClient, syncClientGone } from './sync-broker.js';
import type { Transport, WorkerChannel } from './transport.js';

/** What a worker set is built with: its settings (options/resolve.ts), and who watches it. */
export interface WorkerSetOptions extends WorkerSetSettings {
  /** Told of every worker's lifecycle and every batch's outcome (a dashboard's collector). */
  readonly observer?: WorkerSetObserver | undefined;
  /**
   * The time in ms (default: the monotonic clock, worker/clock.ts `elapsed`, which needs no
   * perf_hooks, so a first worker is started before anything loads them). Where a batch goes
   * depends on when the batch ahead of it started; a test gives a clock of its own, so that
   * never depends on how fast the machine happens to run it.
   */
  readonly clock?: (() => number) | undefined;
}

/** Batches queued in one worker at most; the scheduler's window normally keeps it lower. */
const MAX_QUEUE_PER_WORKER = 16;
/**
 * A batch is queued behind a running one only if that one is expected to end within this many
 * ms: enough to hide the round trip of its result (~0.1–1 ms) and a late timer, short enough
 * that little waits behind a batch that turns out to run long. It is also the least wait a
 * steal must save.
 */
const PREFETCH_COVER_MS = 2;
/**
 * A running batch past OVERRUN_FACTOR × its estimate plus OVERRUN_SLACK_MS is no longer
 * predictable. The slack covers what makes a short batch look long from here: a worker holds
 * back short batches' results for up to 1 ms, and this thread may be busy for a few ms.
 */
const OVERRUN_FACTOR = 2;
const OVERRUN_SLACK_MS = 10;
/**
 * A batch whose worker died of an error raised while it had not started it (see `FatalMessage.running`)
 * waits again this many times; past that the loss counts (something about it may be the cause).
 */
const UNRELATED_LOSSES = 3;
/** After this many failed starts in a row with no worker alive, pending work fails. */
const START_FAILURE_LIMIT = 3;
/**
 * What a worker's start is taken to cost (ms, spawn to ready) until the pool has timed one of its
 * own: a worker thread starts in ~35 ms on an idle 2-core machine.
 */
const FIRST_START_GUESS_MS = 40;
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5000;

type KillReason = 'timeout' | 'aborted' | 'load-timeout' | 'retired' | 'terminated' | 'init-failed';

/** What the worker set runs on every worker as it starts, before anything else (the pool's `initializer`). */
export interface WorkerInitializer {
  /** A one-item batch (its `first` is 0); its outcome decides whether the worker starts. */
  readonly request: BatchRequest;
}

interface Entry {
  readonly id: number;
  readonly request: BatchRequest;
  readonly settle: (outcome: BatchOutcome) => void;
  worker: WorkerState | undefined;
  /** How often its worker died of an error raised before it started it (see UNRELATED_LOSSES). */
  unrelatedLosses?: number;
  /** Offset of the item running now (tracked batches only). */
  offset: number | undefined;
  cancelled: boolean;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
  graceTimer: NodeJS.Timeout | undefined;
  /** Its expected run time in ms, as its call estimated when it went to a worker (see expected()). */
  expectedMs: number | undefined;
  /** When it became the head of its worker's queue (the set's clock): about when it started. */
  headSince: number;
  /** Its cell in the worker's claim array (shared-memory backends). */
  slot: number | undefined;
  /** A request to take it back from its worker is on its way (backends without shared memory). */
  unqueueing: boolean;
  /** False when it moved transferred buffers to its worker: it cannot be sent to another. */
  movable: boolean;
  /**
   * Time limits of its items that await (tracked batches whose items overlap): by offset, from
   * the item's start to its `ended`.
   */
  waits: Map<number, NodeJS.Timeout> | undefined;
  /** Submitted for one worker (a pin, or the initializer): it runs there or fails, never moves. */
  readonly pinned: boolean;
  /** The synchronisation primitives its items or context hold (see data/handles.ts). */
  sync: readonly object[] | undefined;
}

interface WorkerState {
  readonly number: number;
  readonly channel: WorkerChannel;
  readonly queue: Entry[];
  /**
   * Batches that started every item and only await (the worker said `parked`): they hold no
   * core, so the worker takes other batches meanwhile; they leave `queue`.
   */
  readonly parked: Set<Entry>;
  readonly loaded: Set<string>;
  /** Batches assigned this tick, posted together at the end of it. */
  readonly outbox: Outgoing[];
  /** Task specs this worker knows, with their keys (a mixed spec also by how many tasks it had). */
  readonly taskKeys: Map<TaskSpec, { key: number; size: number }>;
  /** Broadcast values this worker has received. */
  readonly broadcastsSent: Set<number>;
  /** Child calls its tasks made that have not been answered, by the id of the submitting batch. */
  readonly children: Map<number, Set<AbortController>>;
  /** The same child calls by their `ref`, for a worker that cancels one (`uncall`). */
  readonly childRefs: Map<number, AbortController>;
  /** Its tasks made child calls: it hears of `hunger` changes (backends without shared memory). */
  nests: boolean;
  /**
   * It is running child tasks of its own (the worker said `busy`): not idle, even while its
   * batches only await. It gets a batch only when no worker is idle.
   */
  busyWithChildren: boolean;
  /** The synchronisation primitives it was sent, what it holds of them, its brokered waits. */
  readonly sync: SyncClient;
  /** Claim cells shared with the worker (see ClaimsMessage), and the ones no queued batch uses. */
  readonly claims: Int32Array | undefined;
  readonly freeSlots: number[];
  /** Whether the worker keeps the process alive now (undefined before it was first decided). */
  held: boolean | undefined;
  /** Started and initialized: takes work. (`initializing`: started, its initializer runs.) */
  ready: boolean;
  /** When it was spawned (the set's clock): its start time is timed from here. */
  readonly spawnedAt: number;
  initializing: boolean;
  /** Why its initializer failed (it is then killed, and counts as a failed start). */
  initError: Error | undefined;
  /** The pins holding it (see pin()). */
  readonly pins: Set<Pin>;
  /** Its exit was handled. */
  gone: boolean;
  retiring: boolean;
  killReason: KillReason | undefined;
  tasksRun: number;
  fatal: unknown;
  /** The batches it was running when that error was raised, as it said (see `FatalMessage.running`). */
  fatalRunning?: Set<number>;
  idleTimer: NodeJS.Timeout | undefined;
  stopTimer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
  markExited: () => void;
}

export class WorkerSet implements Backend {
  private readonly workers = new Set<WorkerState>();
  private readonly pending: Entry[] = [];
  private nextEntryId = 1;
  private nextTaskKey = 1;
  private nextWorkerNumber = 0;
  private startFailures = 0;
  private spawnBlockedUntil = 0;
  /** Waits out a backoff after failed starts (see ensureWorkers). */
  private backoffTimer: NodeJS.Timeout | undefined;
  /** Re-checks whether a worker pays for its start (see workersThatPay). */
  private readonly spawnCheck = new RecheckTimer(
    () => this.now(),
    () => this.pump(),
  );
  /** How long the last worker took from spawn to ready (ms): what starting another one costs. */
  private startMs = FIRST_START_GUESS_MS;
  /** Since when batches of unknown length wait for a worker the pool held back (see workersThatPay). */
  private heldSince: number | undefined;
  /** Wakes the dispatch when a busy worker is about to finish (see armPrefetch). */
  private readonly prefetch = new RecheckTimer(
    () => this.now(),
    () => this.pump(),
  );
  /** Looks for batches an idle worker can take over (see rebalance). */
  private readonly rebalanceCheck = new RecheckTimer(
    () => this.now(),
    () => this.rebalance(),
  );
  private rebalanceSoon = false;
  private terminated = false;
  private closing = false;
  private readonly closeWaiters: (() => void)[] = [];
  private readonly broadcasts = new Broadcasts((id) => this.releaseEverywhere(id));
  /** Requests for pinned workers, served in order (see servePins). */
  private readonly pinWaiters: PinWaiter[] = [];

  constructor(
    private readonly transport: Transport,
    private readonly options: WorkerSetOptions,
    private readonly initializer?: WorkerInitializer,
  ) {
    this.now = options.clock ?? elapsed;
  }

  /** The time in ms, by the set's clock (see WorkerSetOptions.clock). */
  private readonly now: () => number;

  get size(): number {
    return this.options.size;
  }

  get supports(): BackendSupports {
    return this.transport.supports;
  }

  /** Workers alive now (for tests and reports). */
  get liveWorkers(): number {
    return this.workers.size;
  }

  submit(request: BatchRequest): Ticket {
    const { entry, ticket } = this.newEntry(request, false);
    if (this.terminated) {
      entry.settle({ kind: 'failed', error: new PoolClosedError('The pool was terminated') });
    } else {
      this.pending.push(entry);
      this.pump();
    }
    return ticket;
  }

  private newEntry(request: BatchRequest, pinned: boolean): { entry: Entry; ticket: Ticket } {
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
        if (entry.waits) for (const t of entry.waits.values()) clearTimeout(t);
        settle(o);
        this.options.observer?.settled(entry.worker?.number, request, o);
      },
      worker: undefined,
      offset: undefined,
      cancelled: false,
      settled: false,
      timer: undefined,
      graceTimer: undefined,
      expectedMs: undefined,
      headSince: 0,
      slot: undefined,
      unqueueing: false,
      movable: !pinned,
      pinned,
      waits: undefined,
      sync: undefined,
    };
    return { entry, ticket: { outcome, cancel: () => this.cancel(entry) } };
  }

  /**
   * `count` distinct live workers, pinned (see `Backend.pin`): resolves once they are started
   * and initialized.
   */
  pin(count: number | 'all'): Promise<WorkerPin[]> {
    if (count !== 'all' && (!Number.isInteger(count) || count < 1 || count > this.options.size)) {
      return Promise.reject(
        new InvalidArgValueError(
          `Cannot address ${count} workers at once: the pool has ${this.options.size} (expected an integer from 1 to ${this.options.size})`,
        ),
      );
    }
    if (this.terminated || this.closing) {
      return Promise.reject(new PoolClosedError('The pool is closed: no worker can be addressed'));
    }
    return new Promise<WorkerPin[]>((resolve, reject) => {
      this.pinWaiters.push({
        count: count === 'all' ? this.options.size : count,
        all: count === 'all',
        resolve,
        reject,
      });
      this.pump();
    });
  }

  /**
   * How many workers the first pin request needs alive: `count` of them unpinned where the pool
   * has room (pinned workers are spread out before any is shared), else the pool's size.
   */
  private pinTarget(): number {
    const waiter = this.pinWaiters[0];
    if (!waiter) return 0;
    if (waiter.all) return this.options.size;
    let pinned = 0;
    for (const worker of this.workers) if (this.takesWork(worker) && worker.pins.size > 0) pinned++;
    return Math.min(this.options.size, pinned + waiter.count);
  }

  /** Serve pin requests in order, as far as ready workers allow (ensureWorkers starts the rest). */
  private servePins(): void {
    while (this.pinWaiters.length > 0) {
      const waiter = this.pinWaiters[0] as PinWaiter;
      const target = this.pinTarget();
      let active = 0;
      const ready: WorkerState[] = [];
      for (const worker of this.workers) {
        if (worker.retiring || worker.killReason) continue;
        active++;
        if (this.takesWork(worker)) ready.push(worker);
      }
      // Wait for the workers still starting for it (or for room to start them).
      if (ready.length < target && (active > ready.length || active < target)) return;
      if (ready.length < waiter.count) return;
      ready.sort(
        (a, b) => a.pins.size - b.pins.size || a.queue.length - b.queue.length || a.number - b.number,
      );
      this.pinWaiters.shift();
      const pins = ready.slice(0, waiter.count).map((worker) => {
        const pin = new Pin(this, worker);
        worker.pins.add(pin);
        clearTimeout(worker.idleTimer);
        return pin;
      });
      waiter.resolve(pins.sort((a, b) => a.worker - b.worker));
    }
  }

  /** A batch for one pinned worker: queued there now, behind what it holds. */
  submitPinned(pin: Pin, worker: WorkerState, request: BatchRequest): Ticket {
    const { entry, ticket } = this.newEntry(request, true);
    if (pin.gone) entry.settle({ kind: 'failed', error: pin.gone });
    else if (pin.released) {
      entry.settle({
        kind: 'failed',
        error: new InvalidArgValueError('This worker was unpinned: nothing more can be sent through its pin'),
      });
    } else {
      this.assign(worker, entry, this.now());
      this.updateHold(worker);
    }
    return ticket;
  }

  /** A pin let go: its worker may retire again once idle. */
  unpinned(pin: Pin, worker: WorkerState): void {
    if (!worker.pins.delete(pin) || worker.pins.size > 0) return;
    if (worker.queue.length === 0 && this.takesWork(worker)) this.armIdle(worker);
    this.pump();
  }

  /** Start a worker's initializer (it takes no other work until the initializer succeeded). */
  private initialize(worker: WorkerState): void {
    const init = this.initializer;
    if (!init) {
      // A batch it was sent while starting (startingWithoutWork) runs from now: so it counts
      // already for what markReady's dispatch decides (how long the head has run: workersThatPay).
      const sentEarly = worker.queue[0];
      const now = this.now();
      if (sentEarly) sentEarly.headSince = now;
      this.markReady(worker);
      if (sentEarly && worker.queue[0] === sentEarly) this.headStarted(worker, now);
      return;
    }
    worker.initializing = true;
    const { entry, ticket } = this.newEntry(init.request, true);
    ticket.outcome.then((outcome) => this.initialized(worker, outcome));
    this.assign(worker, entry, this.now());
    this.updateHold(worker);
  }

  private initialized(worker: WorkerState, outcome: BatchOutcome): void {
    // (A worker killed meanwhile, say its initializer's module did not load in time, still
    // records why below: its start failed.)
    if (worker.gone) return;
    worker.initializing = false;
    const { taskName } = this.initializer?.request ?? { taskName: '' };
    let error: Error | undefined;
    if (outcome.kind === 'failed' || outcome.kind === 'lost') error = outcome.error;
    else if (outcome.kind === 'cancelled') error = new WorkerCrashedError('its initializer was cancelled');
    else {
      const failure = outcome.failures?.[0];
      if (failure?.kind === 'threw') {
        error = new TaskError({ task: `${taskName} (the pool's initializer)`, index: 0 }, failure.error);
      } else if (failure) {
        error = new NotCloneableError(`The pool's initializer, task "${taskName}": ${failure.problem}`);
      }
    }
    if (!error) {
      if (!worker.killReason) this.markReady(worker);
      return;
    }
    // A worker whose initializer failed did not start: killed, it counts as a failed start.
    worker.initError = error;
    this.kill(worker, 'init-failed');
  }

  private markReady(worker: WorkerState): void {
    worker.ready = true;
    this.startMs = Math.max(0, this.now() - worker.spawnedAt);
    this.options.observer?.ready(worker.number);
    this.startFailures = 0;
    this.pump();
    // Started for work another worker took meanwhile: idle from the start.
    if (worker.queue.length === 0 && !worker.retiring) this.armIdle(worker);
  }

  private nested: NestedRunner | undefined;
  /**
   * How many workers could take a batch now (idle or not started, less the batches waiting
   * here): shared with the workers where memory is (see ConfigMessage.hunger).
   */
  private hunger: Int32Array | undefined;
  private idleReported = -1;

  private updateHunger(): void {
    if (!this.nested) return;
    let busy = 0;
    for (const worker of this.workers) if (!this.idleNow(worker)) busy++;
    const idle = Math.max(0, this.options.size - busy - this.pending.length);
    if (idle === this.idleReported) return;
    this.idleReported = idle;
    if (this.hunger) Atomics.store(this.hunger, 0, idle);
    else
      for (const worker of this.workers)
        if (worker.nests) this.trySend(worker, { fanout: BRAND, t: 'hunger', idle });
  }

  setNested(runner: NestedRunner): void {
    this.nested = runner;
    if (this.transport.supports.sharedMemory) this.hunger = new Int32Array(new SharedArrayBuffer(4));
  }

  /**
   * A task on `worker` submitted a child call: run it on this pool (through the runner its owner
   * set) and answer with its values or its error. Cancelling the submitting batch, or losing the
   * worker, cancels it.
   */
  private childCall(worker: WorkerState, message: CallMessage): void {
    if (!worker.nests && !this.hunger) {
      worker.nests = true;
      // Its first count, once this call has been placed: sent now, it would still count the
      // idle worker this call is about to take, and the worker would give a second child to it.
      setImmediate(() => {
        if (this.workers.has(worker) && !worker.killReason)
          this.trySend(worker, { fanout: BRAND, t: 'hunger', idle: Math.max(0, this.idleReported) });
      });
    }
    const answer = (reply: { values?: unknown[]; error?: unknown }) => {
      if (!this.workers.has(worker) || worker.killReason) return;
      const called: Mutable<CalledMessage> = { fanout: BRAND, t: 'called', ref: message.ref };
      if (reply.error !== undefined) called.error = toWire(reply.error);
      else called.values = reply.values as unknown[];
      try {
        worker.channel.send(called);
      } catch (error) {
        // Values that passed the checks but still cannot be cloned: the child call fails instead.
        worker.channel.send({ fanout: BRAND, t: 'called', ref: message.ref, error: toWire(error) });
      }
    };
    const runner = this.nested;
    if (!runner) {
      answer({
        error: new InvalidArgValueError(
          'taskContext().pool: this backend takes no child calls from its tasks',
        ),
      });
      return;
    }
    const controller = new AbortController();
    let siblings = worker.children.get(message.batch);
    if (!siblings) worker.children.set(message.batch, (siblings = new Set()));
    siblings.add(controller);
    worker.childRefs.set(message.ref, controller);
    const done = () => {
      worker.childRefs.delete(message.ref);
      siblings.delete(controller);
      if (siblings.size === 0 && worker.children.get(message.batch) === siblings)
        worker.children.delete(message.batch);
    };
    runner(message.call, controller.signal).then(
      (values) => {
        done();
        answer({ values });
      },
      (error: unknown) => {
        done();
        answer({ error });
      },
    );
  }

  /** Cancel the child calls of batch `id` on `worker` (or of every batch: the worker is gone). */
  private cancelChildren(worker: WorkerState, id?: number): void {
    const sets = id === undefined ? [...worker.children.values()] : [worker.children.get(id)];
    for (const set of sets) for (const controller of set ?? []) controller.abort();
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

  /** Send the handles a batch needs that this worker does not have yet (data/handles.ts). */
  private sendHandles(worker: WorkerState, handles: BatchHandles): void {
    for (const primitive of handles.sync) {
      const { key } = syncAttachment(primitive, false);
      if (worker.sync.sent.has(key)) continue;
      // Inline tasks are given the caller's own primitives: nothing to send.
      if (this.transport.supports.crossesBoundary) {
        const attachment = syncAttachment(primitive, this.transport.supports.sharedMemory);
        worker.channel.send({ fanout: BRAND, t: 'attach', attachment });
      }
      worker.sync.sent.set(key, primitive);
    }
    for (const id of handles.broadcasts) {
      if (worker.broadcastsSent.has(id)) continue;
      worker.channel.send({ fanout: BRAND, t: 'broadcast', id, value: this.broadcasts.valueOf(id) });
      worker.broadcastsSent.add(id);
    }
  }

  /**
   * Finish the work submitted, stopping each worker once nothing is left for it; resolves when
   * all have exited. (A worker that crashes meanwhile hands its batches to a replacement.)
   */
  close(): Promise<void> {
    this.closing = true;
    for (const waiter of this.pinWaiters.splice(0)) {
      waiter.reject(new PoolClosedError('The pool is closed: no worker can be addressed'));
    }
    const closed = new Promise<void>((resolve) => {
      this.closeWaiters.push(resolve);
    });
    this.pump();
    this.checkClosed();
    return closed;
  }

  private checkClosed(): void {
    if (!this.closing || this.workers.size > 0 || this.pending.length > 0) return;
    this.clearTimers();
    for (const resolve of this.closeWaiters.splice(0)) resolve();
  }

  private clearTimers(): void {
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.spawnCheck.clear();
    this.prefetch.clear();
    this.rebalanceCheck.clear();
  }

  /** Kill every worker now; work not finished fails with ERR_POOL_CLOSED. */
  async terminate(): Promise<void> {
    this.terminated = true;
    this.clearTimers();
    const closed = () => new PoolClosedError('The pool was terminated');
    for (const entry of this.pending.splice(0)) entry.settle({ kind: 'failed', error: closed() });
    for (const waiter of this.pinWaiters.splice(0)) waiter.reject(closed());
    const exits: Promise<void>[] = [];
    for (const worker of this.workers) {
      for (const entry of [...worker.queue, ...worker.parked])
        entry.settle({ kind: 'failed', error: closed() });
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
    this.cancelChildren(worker, entry.id);
    if (isRunning(worker, entry)) this.armGrace(worker, entry);
  }

  /** A running batch was cancelled: give its tasks `abortGrace` ms to notice, then replace the worker. */
  private armGrace(worker: WorkerState, entry: Entry): void {
    entry.graceTimer = setTimeout(() => {
      if (entry.settled || !isRunning(worker, entry)) return;
      entry.settle({ kind: 'cancelled' });
      this.kill(worker, 'aborted');
    }, entry.request.abortGrace ?? this.options.abortGrace);
    entry.graceTimer.unref();
  }

  /**
   * Hand waiting batches to workers that can take them, start the workers still missing for
   * the rest, and decide which workers keep the process alive.
   */
  private pump(): void {
    if (this.terminated) return;
    if (this.pinWaiters.length > 0) {
      this.servePins();
      if (this.pinWaiters.length > 0) this.ensureWorkers();
    }
    if (this.pending.length > 0) {
      const now = this.now();
      this.assignWaiting(now);
      if (this.pending.length > 0) {
        this.ensureWorkers();
        // A worker that just started may be sent its first batch already (startingWithoutWork).
        this.assignWaiting(now);
        this.armPrefetch(now);
      }
    }
    if (this.pending.length === 0) {
      this.heldSince = undefined;
      if (this.closing) for (const worker of this.workers) this.retire(worker, false);
      else this.scheduleRebalance();
    }
    for (const worker of this.workers) this.updateHold(worker);
    this.updateHunger();
  }

  /**
   * Hand waiting batches, in order, to the workers pickWorker chooses, while it chooses one; a
   * batch that runs alone may wait for a worker of its own while those behind it go on.
   */
  private assignWaiting(now: number): void {
    for (let i = 0; i < this.pending.length; ) {
      const entry = this.pending[i] as Entry;
      const worker = this.pickWorker(entry.request, now);
      if (worker) {
        if (i === 0) this.pending.shift();
        else this.pending.splice(i, 1);
        this.assign(worker, entry, now);
      } else if (entry.request.alone) {
        // It waits for a worker with nothing in flight; those behind it may go where items await.
        i++;
      } else break;
    }
  }

  /** Not retiring, not being killed, started: a worker that may be given batches. */
  private takesWork(worker: WorkerState): boolean {
    return worker.ready && !worker.retiring && !worker.killReason && !holdsCancelledRun(worker);
  }

  /** Takes work and has none: nothing queued, not running children of its own. */
  private idleNow(worker: WorkerState): boolean {
    return worker.queue.length === 0 && !worker.busyWithChildren && this.takesWork(worker);
  }

  /**
   * The worker a batch should go to now: an idle one; else one that will be through its queue
   * within PREFETCH_COVER_MS; else, where a queued batch can be taken back at any time (claim
   * cells), one running a predictable batch with nothing behind it yet (so long batches follow
   * each other with no gap). The shortest such queue wins: batches assigned in one tick then
   * go out in one message. Undefined: the batch waits here.
   *
   * A batch that runs alone (an isolated re-run, see `BatchRequest.alone`) goes only to a worker
   * that holds nothing, and nothing is queued behind one: a worker starts it only once nothing
   * else is in flight there, and nothing beside it (worker/runtime.ts). Sent to a worker whose
   * items await, it would wait there for them, for ever if they await it (items that meet),
   * where here it waits at most one worker start for a worker of its own (see workersThatPay).
   */
  private pickWorker(request: BatchRequest, now: number): WorkerState | undefined {
    let best: WorkerState | undefined;
    // Among idle workers, the one with the fewest batches awaiting (async items in flight).
    let idle: WorkerState | undefined;
    for (const worker of this.workers) {
      if (!this.takesWork(worker)) continue;
      const queued = worker.queue.length;
      // One running children of its own is not idle; it takes a batch only if none is.
      if (queued === 0 && !worker.busyWithChildren) {
        if (worker.parked.size === 0) return worker;
        if (!request.alone && (!idle || worker.parked.size < idle.parked.size)) idle = worker;
        continue;
      }
      if (request.alone || runsAlone(worker)) continue;
      if (idle || queued >= (best?.queue.length ?? MAX_QUEUE_PER_WORKER)) continue;
      const backlog = this.backlog(worker, now);
      const next = queued === 1 && worker.claims !== undefined && backlog !== Number.POSITIVE_INFINITY;
      if (next || backlog <= PREFETCH_COVER_MS) best = worker;
    }
    return idle ?? best ?? this.startingWithoutWork();
  }

  /**
   * A worker still starting that holds nothing yet: it may be sent its first batch now, which it
   * runs as soon as its code is loaded, without the round trip of saying `ready` and being sent
   * one (~2 ms of a small job's start-up). Only where no initializer must run first, and where a
   * worker that is idle sooner can take the batch back at once (claim cells: threads, inline; a
   * process would give it back only once it had started).
   */
  private startingWithoutWork(): WorkerState | undefined {
    if (this.initializer) return undefined;
    for (const worker of this.workers) {
      const free = !worker.ready && !worker.retiring && !worker.killReason && worker.queue.length === 0;
      if (free && worker.claims !== undefined) return worker;
    }
    return undefined;
  }

  /**
   * A batch's expected run time. It is fixed when the batch goes to a worker: one that started
   * while its call knew nothing stays unpredictable, even once its call has timed other batches
   * (it may be the one item that runs long).
   */
  private expected(entry: Entry): number | undefined {
    return entry.worker ? entry.expectedMs : estimate(entry.request);
  }

  /**
   * How long until `worker` has finished what it holds, in ms: Infinity when that cannot be
   * predicted (a batch with no estimate, or a running one far past its estimate).
   */
  private backlog(worker: WorkerState, now: number): number {
    const { queue } = worker;
    if (queue.length === 0) return 0;
    let total = this.remaining(queue[0] as Entry, now);
    for (let i = 1; i < queue.length && total !== Number.POSITIVE_INFINITY; i++) {
      total += this.expected(queue[i] as Entry) ?? Number.POSITIVE_INFINITY;
    }
    return total;
  }

  /** How long the running batch `head` has left, in ms (Infinity: cannot be predicted). */
  private remaining(head: Entry, now: number): number {
    const expected = this.expected(head);
    if (expected === undefined) return Number.POSITIVE_INFINITY;
    const ran = now - head.headSince;
    if (ran > OVERRUN_FACTOR * expected + OVERRUN_SLACK_MS) return Number.POSITIVE_INFINITY;
    return Math.max(0, expected - ran);
  }

  /**
   * Batches wait because every worker is busy: wake up when the first of them is expected to be
   * within PREFETCH_COVER_MS of its end, so the next batch reaches it before it finishes.
   * (Batches that run alone are never queued behind another, see pickWorker: they wait for a
   * worker that holds nothing, which its last batch's end tells.)
   */
  private armPrefetch(now: number): void {
    if (this.pending.every((entry) => entry.request.alone)) return;
    let wait = Number.POSITIVE_INFINITY;
    for (const worker of this.workers) {
      if (!this.takesWork(worker) || worker.queue.length >= MAX_QUEUE_PER_WORKER) continue;
      wait = Math.min(wait, this.backlog(worker, now) - PREFETCH_COVER_MS);
    }
    if (wait === Number.POSITIVE_INFINITY) return;
    this.prefetch.at(now + Math.max(1, wait));
  }

  /** Once the scheduler has reacted to a finished batch, let idle workers take over queued ones. */
  private scheduleRebalance(): void {
    if (this.rebalanceSoon || !this.someIdle() || !this.someQueued()) return;
    this.rebalanceSoon = true;
    // After the microtasks of the batch that just finished: its call may submit more work first.
    setImmediate(() => {
      this.rebalanceSoon = false;
      this.rebalance();
    }).unref();
  }

  private someIdle(): boolean {
    for (const worker of this.workers) if (this.idleNow(worker)) return true;
    return false;
  }

  /** Some worker holds a batch it has not started. */
  private someQueued(): boolean {
    for (const worker of this.workers) if (worker.queue.length > startedIn(worker)) return true;
    return false;
  }

  /**
   * Work stealing: while nothing waits here, each idle worker takes the queued, not started batch
   * that would otherwise wait longest in another worker's queue (if that wait is worth a move).
   */
  private rebalance(): void {
    if (this.terminated || this.pending.length > 0) return;
    const now = this.now();
    let recheck = Number.POSITIVE_INFINITY;
    for (const thief of this.workers) {
      if (!this.idleNow(thief)) continue;
      const { found, recheckAt } = this.stealable(now, thief);
      if (!found || found.wait < PREFETCH_COVER_MS) {
        // Whatever is queued should start soon where it is; look again when that may no longer hold.
        recheck = recheckAt;
        break;
      }
      this.steal(found.victim, found.entry, thief, now);
    }
    for (const worker of this.workers) this.updateHold(worker);
    if (recheck !== Number.POSITIVE_INFINITY) this.rebalanceCheck.at(recheck);
  }

  /**
   * The queued batch that would wait longest before its worker starts it, and how long; and
   * when the first running batch with movable ones behind it would count as overrunning.
   */
  private stealable(now: number, thief: WorkerState): { found?: Stealable; recheckAt: number } {
    let found: Stealable | undefined;
    let recheckAt = Number.POSITIVE_INFINITY;
    for (const victim of this.workers) {
      const { queue } = victim;
      const started = startedIn(victim);
      if (queue.length <= started) continue;
      const head = queue[0] as Entry;
      // Still starting: when it will run anything is not known.
      let wait = started ? this.remaining(head, now) : Number.POSITIVE_INFINITY;
      let movable = false;
      for (let i = started; i < queue.length; i++) {
        const entry = queue[i] as Entry;
        // A batch that runs alone moves only to a worker with nothing in flight (see pickWorker).
        const fits = !entry.request.alone || thief.parked.size === 0;
        if (entry.movable && !entry.unqueueing && !entry.cancelled && fits) {
          movable = true;
          if (!found || wait >= found.wait) found = { victim, entry, wait };
        }
        wait += this.expected(entry) ?? Number.POSITIVE_INFINITY;
      }
      const expected = started ? this.expected(head) : undefined;
      if (movable && expected !== undefined) {
        recheckAt = Math.min(recheckAt, head.headSince + OVERRUN_FACTOR * expected + OVERRUN_SLACK_MS + 1);
      }
    }
    return { found, recheckAt };
  }

  /** Move a queued, not started batch from `victim` to the idle `thief`. */
  private steal(victim: WorkerState, entry: Entry, thief: WorkerState, now: number): void {
    if (victim.claims && entry.slot !== undefined) {
      // The worker starts a batch only by swapping its cell from the batch's id to 0: if we swap
      // first, it will skip the batch; if it did, the batch has just started there after all.
      if (Atomics.compareExchange(victim.claims, entry.slot, entry.id, 0) !== entry.id) return;
      this.leaveQueue(victim, entry);
      this.assign(thief, unassign(entry), now);
      return;
    }
    // No shared memory: ask the worker to drop it if it has not started it; its `cancelled`
    // answer sends the batch back to wait here, for the first idle worker.
    entry.unqueueing = true;
    this.trySend(victim, { fanout: BRAND, t: 'cancel', id: entry.id, queuedOnly: true });
  }

  /** Take `entry` out of its worker's queue (not the head: that one is running). */
  private leaveQueue(worker: WorkerState, entry: Entry): void {
    const at = worker.queue.indexOf(entry);
    if (at >= 0) worker.queue.splice(at, 1);
    this.freeSlot(worker, entry);
  }

  private freeSlot(worker: WorkerState, entry: Entry): void {
    if (entry.slot === undefined) return;
    worker.freeSlots.push(entry.slot);
    entry.slot = undefined;
  }

  /**
   * A worker keeps the process alive while it holds work, starts for work that waits, stops or
   * is being killed (whoever awaits its exit must not be left hanging); never while idle.
   */
  private updateHold(worker: WorkerState): void {
    const held =
      worker.queue.length > 0 ||
      worker.parked.size > 0 ||
      worker.stopTimer !== undefined ||
      worker.killReason !== undefined ||
      (!worker.ready && (this.pending.length > 0 || this.pinWaiters.length > 0));
    if (worker.held === held) return;
    worker.held = held;
    worker.channel.setBusy(held);
  }

  /** Start workers for the batches no worker can take now, up to the pool's size. */
  private ensureWorkers(): void {
    let active = 0;
    let starting = 0;
    let startingIdle = 0;
    for (const worker of this.workers) {
      if (worker.retiring || worker.killReason) continue;
      active++;
      if (worker.ready) continue;
      starting++;
      if (worker.queue.length === 0) startingIdle++;
    }
    // A worker that is starting with no batch yet will take one of the waiting batches: start none for that one.
    const forWork = Math.min(this.options.size - active, this.pending.length - startingIdle);
    const wanted = Math.max(
      this.workersThatPay(forWork, active - starting, starting),
      this.pinTarget() - active,
    );
    if (wanted <= 0) return;
    const wait = this.spawnBlockedUntil - Date.now();
    if (wait > 0) {
      this.backoffTimer ??= setTimeout(() => {
        this.backoffTimer = undefined;
        this.pump();
      }, wait);
      return;
    }
    for (let i = 0; i < wanted; i++) {
      const first = this.pending[startingIdle + i];
      this.spawn(first ? modulesOf(first.request.task) : []);
    }
  }

  /**
   * A call of `task` is about to submit its first batches. With no worker alive, one starts now,
   * importing the task's modules: its start (~25 ms) then runs while the call sets itself up
   * (options, reader, pipeline: ~2 ms of a program's first call) rather than after, and the
   * call's first batch goes to it as it starts (startingWithoutWork). Anything more is left to
   * ensureWorkers, as the batches come.
   */
  expect(task: TaskSpec): void {
    if (this.terminated || this.closing || this.workers.size > 0 || this.pending.length > 0) return;
    if (this.spawnBlockedUntil > Date.now()) return;
    this.spawn(modulesOf(task));
  }

  /**
   * Of `wanted` workers that waiting batches could use, how many to start now: only those that
   * pay for their start. A worker thread takes ~35 ms to start (more under load), and one that is
   * still starting when the pool closes cannot be stopped before it has started (Node's worker
   * start is not interruptible early on): a small job that one worker finishes before a second is
   * up would pay for the second's whole start. So:
   * - with no worker ready, nothing is known of the batches: one worker starts, and the pool
   *   decides on the rest when it is ready;
   * - once one is, more start at once if the waiting batches' estimated run time (their call's
   *   pace) exceeds a worker's start (`startMs`, as timed on this pool), or if every worker
   *   that could take them is busy for longer than a start (`freeAfterAStart`: a short task
   *   behind a long one would wait for the long one); else once batches have waited a start
   *   with a worker ready (a timer re-checks). A call keeps only a window of its batches here,
   *   so a small estimate does not mean little work is left: waiting bounds what a long job
   *   loses to about one worker start.
   */
  private workersThatPay(wanted: number, ready: number, starting: number): number {
    if (wanted <= 0) return wanted;
    if (ready === 0) return starting === 0 ? 1 : 0;
    let work = 0;
    for (const entry of this.pending) work += estimate(entry.request) ?? Number.POSITIVE_INFINITY;
    if (work !== Number.POSITIVE_INFINITY && work > this.startMs) return wanted;
    const now = this.now();
    const busy = this.freeAfterAStart(now);
    if (busy === true) return wanted;
    this.heldSince ??= now;
    const wait = Math.min(this.heldSince + this.startMs, busy) - now;
    if (wait <= 0) return wanted;
    this.spawnCheck.at(now + wait);
    return 0;
  }

  /**
   * Whether every ready worker is busy for longer than a worker's start: its queue is expected
   * to take longer, or its running batch, whose length is unknown, has run that long already (a
   * long task's length is known only when it ends; a first batch's, only when it has run). If
   * not, when that could next become true (Infinity: not before some batch ends).
   */
  private freeAfterAStart(now: number): true | number {
    let busy = 0;
    let next = Number.POSITIVE_INFINITY;
    for (const worker of this.workers) {
      if (!worker.ready || !this.takesWork(worker)) continue;
      const head = worker.queue[0];
      if (!head) return Number.POSITIVE_INFINITY;
      const backlog = this.backlog(worker, now);
      if (backlog !== Number.POSITIVE_INFINITY) {
        if (backlog <= this.startMs) return Number.POSITIVE_INFINITY;
      } else if (now - head.headSince < this.startMs) {
        next = Math.min(next, head.headSince + this.startMs);
      }
      busy++;
    }
    return busy > 0 && next === Number.POSITIVE_INFINITY ? true : next;
  }

  /** Start a worker; `modules`, those of the batch it will likely take first: it imports them as it starts. */
  private spawn(modules: readonly string[]): void {
    let markExited!: () => void;
    const exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const claims = this.transport.supports.sharedMemory
      ? new Int32Array(new SharedArrayBuffer(4 * MAX_QUEUE_PER_WORKER))
      : undefined;
    const partial = {
      number: this.nextWorkerNumber++,
      queue: [] as Entry[],
      parked: new Set<Entry>(),
      loaded: new Set<string>(),
      taskKeys: new Map<TaskSpec, { key: number; size: number }>(),
      outbox: [] as Outgoing[],
      broadcastsSent: new Set<number>(),
      children: new Map<number, Set<AbortController>>(),
      childRefs: new Map<number, AbortController>(),
      nests: false,
      busyWithChildren: false,
      claims,
      freeSlots: claims ? Array.from({ length: claims.length }, (_, i) => claims.length - 1 - i) : [],
      held: undefined,
      ready: false,
      spawnedAt: this.now(),
      initializing: false,
      initError: undefined,
      pins: new Set<Pin>(),
      gone: false,
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
      channel = this.transport.spawn(
        {
          message: (message) => worker && this.onMessage(worker, message),
          exit: (code, signal, error) => worker && this.onExit(worker, code, signal, error),
        },
        modules,
      );
      if (claims) channel.send({ fanout: BRAND, t: 'claims', cells: claims });
      // The pool's clock goes with the first message, not the worker's start: measuring it loads
      // perf_hooks here (~0.7 ms), which the worker's start then overlaps.
      channel.send({
        fanout: BRAND,
        t: 'config',
        concurrentTasks: this.options.concurrentTasks,
        clockShift: clockShift(),
        ...(this.hunger ? { hunger: this.hunger } : {}),
      });
    } catch (error) {
      markExited();
      queueMicrotask(() => this.startFailed(error));
      return;
    }
    worker = { ...partial, channel, sync: syncClient(channel.syncTag, partial.number) };
    this.workers.add(worker);
    this.options.observer?.started(worker.number, channel.label);
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
      for (const waiter of this.pinWaiters.splice(0)) waiter.reject(fail());
      for (const worker of this.workers) {
        for (const entry of worker.queue.splice(0)) entry.settle({ kind: 'failed', error: fail() });
      }
    }
    this.pump();
    this.checkClosed();
  }

  private assign(worker: WorkerState, entry: Entry, now: number): void {
    const { request } = entry;
    const transfer: TransferListItem[] = [];
    const handles =
      this.broadcasts.used || syncPrimitivesCreated() ? handlesIn(request.items, request.context) : undefined;
    const released = handles?.broadcasts.find((id) => !this.broadcasts.has(id));
    if (released !== undefined) {
      entry.settle({
        kind: 'failed',
        error: new InvalidArgValueError(
          `Task "${request.taskName}" was given broadcast value ${released}, which was released`,
        ),
      });
      return;
    }
    if (this.transport.supports.transfer) collectTransfers(request.items, request.spread, transfer);
    // Buffers the caller transferred are gone from here once posted: such a batch stays put.
    if (transfer.length > 0) entry.movable = false;
    // Only what is set is sent: a run message is cloned once per batch.
    const message: Mutable<RunMessage> = {
      fanout: BRAND,
      t: 'run',
      id: entry.id,
      task: 0,
      items: this.transport.supports.crossesBoundary
        ? ((request.spread && !(request.items instanceof Float64Array)
            ? packTuples(request.items)
            : undefined) ?? pack(request.items))
        : request.items,
      first: request.first,
      seed: request.seed,
    };
    if (request.spread) message.spread = true;
    if (isTracked(request)) message.track = true;
    if (request.stopOnError) message.stopOnError = true;
    if (request.alone) message.alone = true;
    if (request.context !== undefined) message.context = request.context;
    if (request.taskIndex) message.taskIndex = request.taskIndex;
    if (request.indices) message.indices = request.indices;
    if (handles) message.handles = true;
    entry.sync = handles && handles.sync.length > 0 ? handles.sync : undefined;
    if (request.timeItems) message.timeItems = true;
    try {
      message.task = this.taskKey(worker, request.task);
      if (handles) this.sendHandles(worker, handles);
    } catch (error) {
      entry.settle({ kind: 'failed', error: unsendableError(request, error) });
      return;
    }
    // A pinned batch is never taken back: it needs no claim cell.
    const slot = entry.pinned ? undefined : worker.freeSlots.pop();
    if (worker.claims && slot !== undefined) {
      Atomics.store(worker.claims, slot, entry.id);
      message.claim = slot;
      entry.slot = slot;
    }
    this.post(worker, { message, transfer, entry });
    entry.expectedMs = estimate(request);
    entry.worker = worker;
    worker.queue.push(entry);
    clearTimeout(worker.idleTimer);
    // A worker that has not said it is ready starts its first batch when it does (initialize);
    // one running its initializer runs that first.
    if (worker.queue.length === 1 && (worker.ready || worker.initializing)) this.headStarted(worker, now);
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
    this.freeSlot(worker, entry);
    entry.settle({ kind: 'failed', error: unsendableError(entry.request, error) });
    if (at === 0) this.headStarted(worker);
    this.afterBatch(worker);
  }

  /** The first batch in a worker's queue is the one it runs now. */
  private headStarted(worker: WorkerState, now = this.now()): void {
    const entry = worker.queue[0];
    this.options.observer?.running(worker.number, entry?.request);
    if (!entry) return;
    entry.headSince = now;
    // A tracked batch says exactly when its first item starts; an untracked one starts about now.
    if (!isTracked(entry.request)) entry.request.onStart?.();
    if (entry.cancelled) this.armGrace(worker, entry);
    const { task } = entry.request;
    if ((task.kind === 'task' || task.kind === 'actor') && !worker.loaded.has(task.module)) {
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
        this.initialize(worker);
        return;
      case 'loaded': {
        worker.loaded.add(message.module);
        const head = worker.queue[0];
        const task = head?.request.task;
        if (task && (task.kind === 'task' || task.kind === 'actor') && task.module === message.module) {
          clearTimeout(head?.timer);
        }
        return;
      }
      case 'start':
        this.itemStarted(worker, message.id, message.offset);
        return;
      case 'parked':
        this.parked(worker, message.id);
        return;
      case 'call':
        this.childCall(worker, message);
        return;
      case 'uncall':
        worker.childRefs.get(message.ref)?.abort();
        return;
      case 'busy':
        worker.busyWithChildren = message.on;
        if (message.on) this.updateHunger();
        else this.pump();
        return;
      case 'wait':
      case 'ended':
        this.itemAwaits(worker, message.id, message.offset, message.t === 'wait');
        return;
      case 'progress':
        findEntry(worker, message.id)?.request.onProgress?.(message.amount);
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
        const entry = worker.queue[at] as Entry;
        worker.queue.splice(at, 1);
        this.freeSlot(worker, entry);
        // Taken back for an idle worker (and not cancelled meanwhile): it waits here again, first.
        if (entry.unqueueing && !entry.cancelled) this.pending.unshift(unassign(entry));
        else entry.settle({ kind: 'cancelled' });
        if (at === 0) this.headStarted(worker);
        this.afterBatch(worker);
        return;
      }
      case 'fatal':
        worker.fatal = fromWire(message.error);
        if (message.running) worker.fatalRunning = new Set(message.running);
        return;
      case 'sync':
        serveSyncMessage(worker.sync, message, (reply) => this.trySend(worker, reply));
        return;
      case 'spmd-relay':
        for (const pin of worker.pins) pin.relayed(message);
        return;
    }
  }

  /** The worker's head batch started all its items and only awaits: the worker is free for others. */
  private parked(worker: WorkerState, id: number): void {
    const at = worker.queue.findIndex((e) => e.id === id);
    if (at < 0) return;
    const [entry] = worker.queue.splice(at, 1) as [Entry];
    worker.parked.add(entry);
    if (at === 0) this.headStarted(worker);
    entry.request.onParked?.(this.options.concurrentTasks);
    this.pump();
  }

  /**
   * Item `offset` of a tracked batch awaits (`waiting`), or settled: its time limit moves from
   * the batch's running item to the batch's awaiting ones, or ends.
   */
  private itemAwaits(worker: WorkerState, id: number, offset: number, waiting: boolean): void {
    const entry = findEntry(worker, id);
    if (!entry || entry.settled) return;
    if (!waiting) {
      clearTimeout(entry.waits?.get(offset));
      entry.waits?.delete(offset);
      return;
    }
    if (entry.offset !== offset || entry.timer === undefined) return;
    (entry.waits ??= new Map()).set(offset, entry.timer);
    entry.timer = undefined;
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
      if (entry.settled || !isRunning(worker, entry)) return;
      const index = itemIndex(entry.request, offset);
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
    let entry: Entry | undefined;
    if (at >= 0) [entry] = worker.queue.splice(at, 1) as [Entry];
    else {
      entry = [...worker.parked].find((e) => e.id === message.id);
      if (!entry) return;
      worker.parked.delete(entry);
    }
    this.freeSlot(worker, entry);
    worker.tasksRun += message.ran;
    this.options.observer?.heap(worker.number, message.heapUsed);
    if (entry.cancelled) entry.settle({ kind: 'cancelled' });
    else if (message.batchFailure)
      entry.settle({ kind: 'failed', error: errorFromWire(message.batchFailure) });
    else {
      entry.settle({
        kind: 'done',
        values: unpack(message.values),
        ran: message.ran,
        failures: message.failures && failuresFromWire(message.failures),
        worker: worker.number,
        startedAt: message.startedAt,
        duration: message.duration,
        itemTimes: message.itemTimes,
        work: message.work,
      });
    }
    if (
      !worker.retiring &&
      worker.pins.size === 0 &&
      (worker.tasksRun >= this.options.maxTasksPerWorker || message.heapUsed > this.options.maxWorkerMemory)
    ) {
      this.retire(worker);
    }
    if (at === 0) this.headStarted(worker);
    this.afterBatch(worker);
  }

  private afterBatch(worker: WorkerState): void {
    if (worker.queue.length === 0 && worker.parked.size === 0) {
      if (worker.retiring) this.stop(worker);
      else this.armIdle(worker);
    }
    this.pump();
  }

  /** An idle worker retires after `idleTimeout` ms without work (assign() disarms it). */
  private armIdle(worker: WorkerState): void {
    // A pinned worker holds what its pinners keep there (an actor): it stays until unpinned.
    if (!Number.isFinite(this.options.idleTimeout) || worker.pins.size > 0) return;
    clearTimeout(worker.idleTimer);
    worker.idleTimer = setTimeout(() => this.retire(worker), this.options.idleTimeout);
    worker.idleTimer.unref();
  }

  /** No new work for this worker; it stops when its queue is empty. A replacement starts on demand. */
  private retire(worker: WorkerState, pump = true): void {
    if (worker.retiring || worker.killReason) return;
    worker.retiring = true;
    clearTimeout(worker.idleTimer);
    if (worker.queue.length === 0 && worker.parked.size === 0) this.stop(worker);
    if (pump) this.pump();
  }

  private stop(worker: WorkerState): void {
    if (worker.stopTimer || worker.killReason) return;
    // A worker still starting with nothing to run has run no task (at most its first batch's task
    // modules are loading), and would read a stop only once it had loaded everything: end it now,
    // so that closing a pool never waits for a worker it did not need.
    if (!worker.ready) {
      this.kill(worker, 'retired');
      return;
    }
    this.trySend(worker, { fanout: BRAND, t: 'stop' });
    worker.stopTimer = setTimeout(() => this.kill(worker, 'retired'), this.options.stopTimeout);
    worker.stopTimer.unref();
    this.updateHold(worker);
  }

  private kill(worker: WorkerState, reason: KillReason): void {
    if (worker.killReason) return;
    worker.killReason = reason;
    this.updateHold(worker);
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
    this.options.observer?.exited(worker.number, code, signal, worker.killReason);
    this.workers.delete(worker);
    // Child calls of tasks that died with their worker: nobody is left to take their values.
    this.cancelChildren(worker);
    worker.gone = true;
    clearTimeout(worker.idleTimer);
    clearTimeout(worker.stopTimer);
    worker.markExited();
    worker.outbox.length = 0;
    // What it held of the synchronisation primitives is freed before its batches move on.
    syncClientGone(worker.sync, worker.queue[0]?.sync ?? []);
    // Its pinners hear first, so that a batch failing below already finds them told.
    const goneError = this.goneError(worker, code, signal, worker.fatal ?? error);
    for (const pin of [...worker.pins]) pin.markGone(goneError);
    worker.pins.clear();
    const queue = worker.queue.splice(0);
    const parked = [...worker.parked];
    worker.parked.clear();
    const failedStart = worker.killReason === 'init-failed' || worker.killReason === 'load-timeout';
    if (!worker.ready && (!worker.killReason || failedStart)) {
      // Died before it could take any work: a failed start. Its batches never ran.
      const failed = worker.initError ?? worker.fatal ?? error ?? exitReason(code, signal);
      for (const entry of queue) if (entry.pinned) entry.settle({ kind: 'failed', error: goneError });
      this.pending.unshift(...queue.filter((e) => !e.pinned).map(unassign));
      this.startFailed(failed);
      return;
    }
    let head: Entry | undefined = queue[0];
    let queued = queue.slice(1);
    // A head it had not started when its fatal error was raised did not cause it: it waits again,
    // like the batches queued behind it (at most UNRELATED_LOSSES times, then it counts as lost).
    if (head && worker.fatalRunning && !worker.fatalRunning.has(head.id)) {
      head.unrelatedLosses = (head.unrelatedLosses ?? 0) + 1;
      if (head.unrelatedLosses <= UNRELATED_LOSSES) {
        queued = [head, ...queued];
        head = undefined;
      }
    }
    // Several items were in flight: which one killed the worker is not known.
    const overlapped = parked.length > 0 || (head?.waits?.size ?? 0) > 0;
    for (const entry of head ? [head, ...parked] : parked) {
      if (entry.settled) continue;
      if (worker.killReason === 'terminated') {
        entry.settle({ kind: 'failed', error: new PoolClosedError('The pool was terminated') });
      } else {
        entry.settle(this.crashOutcome(worker, entry, code, signal, worker.fatal ?? error, overlapped));
      }
    }
    // Batches for this worker alone cannot go to another: they fail with its death.
    const rest = queued.filter((e) => {
      if (e.pinned) e.settle({ kind: 'failed', error: goneError });
      return !e.pinned;
    });
    if (this.terminated) {
      for (const entry of rest)
        entry.settle({ kind: 'failed', error: new PoolClosedError('The pool was terminated') });
    } else {
      this.pending.unshift(...rest.filter((e) => !e.settled).map(unassign));
    }
    this.pump();
    this.checkClosed();
  }

  /** Why a worker is gone, for its pinners: its pool stopped it, or it died. */
  private goneError(worker: WorkerState, code: number | null, signal: string | null, error: unknown): Error {
    if (this.terminated || worker.killReason === 'terminated')
      return new PoolClosedError('The pool was terminated');
    if (worker.killReason === 'retired' || (worker.retiring && code === 0)) {
      return new PoolClosedError('The pool was closed, which stopped its workers');
    }
    const killed: Partial<Record<KillReason, string>> = {
      timeout: 'killed after a task on it timed out',
      aborted: 'killed after a cancelled task on it did not stop within abortGrace',
      'load-timeout': 'killed after a task module took longer than loadTimeout to load',
      'init-failed': "killed after the pool's initializer failed on it",
    };
    const why = (worker.killReason && killed[worker.killReason]) ?? exitReason(code, signal);
    return new WorkerCrashedError(`worker ${worker.number} ${why}${error ? ` (${describe(error)})` : ''}`, {
      exitCode: code,
      signal,
      cause: error,
    });
  }

  /**
   * What the batch a dead worker was running (or about to run) gets. If its task's module had not
   * finished loading there, no item of it had run: the worker died importing the module, which a
   * re-run cannot get past, so the batch fails. Otherwise it is lost: a tracked batch whose first
   * item never reported its start is known not to have started (it is run again, blamed for
   * nothing); an untracked one may have.
   */
  private crashOutcome(
    worker: WorkerState,
    entry: Entry,
    code: number | null,
    signal: string | null,
    error: unknown,
    overlapped: boolean,
  ): BatchOutcome {
    const { request } = entry;
    const offset = overlapped ? undefined : entry.offset;
    const loading =
      offset === undefined ? modulesOf(request.task).find((m) => !worker.loaded.has(m)) : undefined;
    const reason = `${exitReason(code, signal)}${loading ? ` while loading task module ${loading}` : ''}${error ? ` (${describe(error)})` : ''}`;
    const crash = new WorkerCrashedError(reason, {
      exitCode: code,
      signal,
      cause: error,
      location:
        offset === undefined ? undefined : { task: request.taskName, index: itemIndex(request, offset) },
    });
    if (loading) return { kind: 'failed', error: crash };
    const started = overlapped || (isTracked(request) ? offset !== undefined : true);
    return { kind: 'lost', error: crash, offset, started };
  }
}

interface PinWaiter {
  readonly count: number;
  readonly all: boolean;
  readonly resolve: (pins: WorkerPin[]) => void;
  readonly reject: (error: unknown) => void;
}

/** One worker held through `WorkerSet.pin` (see `WorkerPin`). */
class Pin implements WorkerPin {
  readonly size = 1;
  readonly worker: number;
  gone: Error | undefined;
  released = false;
  readonly #listeners: ((error: Error) => void)[] = [];

  constructor(
    private readonly set: WorkerSet,
    private readonly state: WorkerState,
  ) {
    this.worker = state.number;
  }

  submit(request: BatchRequest): Ticket {
    return this.set.submitPinned(this, this.state, request);
  }

  onGone(listener: (error: Error) => void): void {
    if (this.gone) queueMicrotask(() => listener(this.gone as Error));
    else this.#listeners.push(listener);
  }

  markGone(error: Error): void {
    if (this.gone) return;
    this.gone = error;
    for (const listener of this.#listeners.splice(0)) listener(error);
  }

  unpin(): void {
    if (this.released) return;
    this.released = true;
    this.#listeners.length = 0;
    this.#relay = undefined;
    if (!this.gone) this.set.unpinned(this, this.state);
  }

  #relay: ((message: SpmdRelayMessage) => void) | undefined;

  post(message: ToWorker, transfer?: TransferListItem[]): void {
    if (this.gone || this.released) return;
    this.state.channel.send(message, transfer);
  }

  onRelay(listener: ((message: SpmdRelayMessage) => void) | undefined): void {
    this.#relay = listener;
  }

  relayed(message: SpmdRelayMessage): void {
    this.#relay?.(message);
  }
}

/** How long a batch should run, in ms, from its call's timings so far (undefined: nothing known). */
function estimate(request: BatchRequest): number | undefined {
  const perItem = request.pace?.perItemMs;
  return perItem === undefined ? undefined : perItem * request.items.length;
}

/** A queued batch another worker could take over, and how long it would wait where it is. */
interface Stealable {
  readonly victim: WorkerState;
  readonly entry: Entry;
  readonly wait: number;
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

/** Whether `entry` runs on `worker` now: its running batch, or one whose items await. */
function isRunning(worker: WorkerState, entry: Entry): boolean {
  return worker.queue[0] === entry || worker.parked.has(entry);
}

/** Whether `worker` runs a batch that must run alone: nothing starts beside it (see pickWorker). */
function runsAlone(worker: WorkerState): boolean {
  return worker.queue[0]?.request.alone === true;
}

/**
 * Whether `worker` still runs a batch that was cancelled (its abortGrace is counting). Such a
 * worker takes no new batch until that one ends: if its tasks ignore their signal, the worker
 * is killed when abortGrace runs out, and a batch given to it meanwhile (which async items,
 * overlapping, would let it take) would die with it, blamed for a crash it did not cause.
 */
function holdsCancelledRun(worker: WorkerState): boolean {
  const head = worker.queue[0];
  if (head?.cancelled && !head.settled) return true;
  for (const entry of worker.parked) if (entry.cancelled && !entry.settled) return true;
  return false;
}

/** A batch `worker` holds, by id. */
function findEntry(worker: WorkerState, id: number): Entry | undefined {
  const queued = worker.queue.find((e) => e.id === id);
  if (queued) return queued;
  for (const entry of worker.parked) if (entry.id === id) return entry;
  return undefined;
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

/** A batch leaves its worker (it will wait for another): forget what that worker said of it. */
/** How many of a worker's queued batches it may have started: its head, once it is ready (a worker still starting runs none). */
function startedIn(worker: WorkerState): number {
  return worker.ready && worker.queue.length > 0 ? 1 : 0;
}

function unassign(entry: Entry): Entry {
  entry.worker = undefined;
  entry.offset = undefined;
  entry.unqueueing = false;
  entry.slot = undefined;
  clearTimeout(entry.timer);
  return entry;
}

function exitReason(code: number | null, signal: string | null): string {
  if (signal) return `killed by signal ${signal}`;
  return `exited with code ${code ?? 'unknown'}`;
}
