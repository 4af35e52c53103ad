/**
 * The redis backend, the caller's side of it. Each batch the scheduler hands it
 * becomes one BullMQ job; `fanout worker` processes anywhere run it and store the outcome as the
 * job's return value.
 *
 * Results come back through QueueEvents (`completed`, `failed`), and also through a check of
 * every pending job by id each `checkInterval` ms, so a missed event (a reconnect, a trimmed
 * event stream) delays a result but never loses it. The same check probes Redis: pending work
 * with no answer from Redis for `unavailableTimeout` ms fails with ERR_BACKEND_UNAVAILABLE. A job
 * whose result was delivered is removed from Redis at once.
 *
 * Job ids are chosen here (`<run>-<n>`), which makes adding idempotent: a job re-added after it
 * vanished (Redis restarted empty) or re-sent by a reconnect is never queued twice.
 */

import { randomBytes } from 'node:crypto';
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  BackendUnavailableError,
  describe,
  FanoutError,
  InlineFunctionError,
  InvalidArgValueError,
  NotCloneableError,
  PoolClosedError,
  WorkerCrashedError,
} from '../errors.js';
import { redactUrl } from '../options/checks.js';
import type { RedisSettings } from '../options/resolve.js';
import type { Backend, BatchOutcome, BatchRequest, Ticket } from '../scheduler/backend.js';
import type { TaskSpec } from '../tasks/task-spec.js';
import type { BroadcastHandle } from '../types.js';
import { CallerBroadcasts } from './broadcasts.js';
import { REDIS_BATCH_LIMITS, REDIS_SUPPORTS } from './capabilities.js';
import { type DecodedResult, decodeFailure, decodeResult, encodeJob, type JobData } from './codec.js';
import { atMost, type BullModule, ConnectionHold, closeClient, loadDrivers } from './connection.js';
import { type ControlMessage, controlChannel, MAX_CONTROL_IDS } from './control.js';
import { ModuleIds } from './identity.js';
import { exposureWarning } from './url.js';
import { wrapperIdOf } from './wrappers.js';

/** Servers already warned about in this process (by redacted URL): the warning is said once. */
const warnedAbout = new Set<string>();

/** Warn (once per server and process) when Redis is reached in plaintext without a password on another machine. */
function warnIfExposed(url: string): void {
  const warning = exposureWarning(url);
  const key = redactUrl(url);
  if (!warning || warnedAbout.has(key)) return;
  warnedAbout.add(key);
  process.emitWarning(warning, { type: 'FanoutSecurityWarning', code: 'FANOUT_REDIS_EXPOSED' });
}

/** Events kept in the queue's stream (~5 per job); older ones are trimmed, and the check covers them. */
const EVENTS_MAX_LEN = 500;
/** Finished jobs nobody collected (the caller went away) are deleted after this long. */
const ORPHAN_AGE_SECONDS = 3600;
/** Job fields read by the check: existence, then outcome. */
const CHECK_FIELDS = ['timestamp', 'finishedOn', 'returnvalue', 'failedReason'] as const;

/**
 * How long the event reader stays open after the last outstanding job, for the next call. It is
 * closed then because its blocking read keeps a timer that would keep the process alive.
 */
const EVENTS_LINGER_MS = 1000;

interface Connected {
  readonly bull: BullModule;
  readonly client: Redis;
  readonly queue: Queue;
}

interface PendingJob {
  readonly id: string;
  readonly request: BatchRequest;
  readonly data: JobData;
  readonly settle: (outcome: BatchOutcome) => void;
  /** The broadcast values its items refer to (written to Redis before the job is added). */
  readonly broadcasts: readonly number[];
  /** Redis has the job (its add was answered). */
  added: boolean;
  /** When we last heard of it; the check skips jobs heard of recently. */
  heardAt: number;
}

export class RedisBackend implements Backend {
  readonly supports = REDIS_SUPPORTS;
  readonly batchLimits = REDIS_BATCH_LIMITS;
  /** The caller owns no workers: `fanout worker` processes do the work. */
  readonly liveWorkers = 0;

  private readonly run = randomBytes(6).toString('base64url');
  private readonly ids = new ModuleIds();
  private readonly pending = new Map<string, PendingJob>();
  /** Jobs whose result nobody wants any more (cancelled while running): removed once finished. */
  private readonly abandoned = new Set<string>();
  private readonly toAdd: PendingJob[] = [];
  /** Jobs abandoned in this tick, announced together on the control channel. */
  private readonly toCancel: string[] = [];
  private readonly chores = new Set<Promise<unknown>>();
  /** The connections keep the process alive only while jobs or Redis commands are outstanding. */
  private readonly hold = new ConnectionHold();
  private readonly workerNumbers = new Map<string, number>();
  private readonly idleWaiters: (() => void)[] = [];
  private connecting: Promise<Connected> | undefined;
  private connection: Connected | undefined;
  /** What exists of the connection so far, so that shutting down mid-connect closes it. */
  private readonly parts: { client?: Redis; queue?: Queue; events?: QueueEvents } = {};
  /** The event reader, open (or opening) while jobs are outstanding and a moment after. */
  private listening: Promise<void> | undefined;
  /** The last reader's close, which a new reader waits for. */
  private unlistening: Promise<unknown> = Promise.resolve();
  private lingerTimer: NodeJS.Timeout | undefined;
  private nextJob = 0;
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  /** Last time Redis answered anything. */
  private lastContact = 0;
  /** When the engine last went from idle to having pending work. */
  private busySince = 0;
  /**
   * When the first connection was attempted, once the drivers had loaded: the time spent loading
   * them (long on a busy machine) is not Redis failing to answer, and does not count towards
   * `unavailableTimeout`.
   */
  private askingSince = 0;
  /** Redis stayed away past `unavailableTimeout`: new work fails at once until it answers again. */
  private outage: BackendUnavailableError | undefined;
  private lastError: Error | undefined;
  private closed = false;

  /** `broadcasts`: the pool's handles, made before this engine was loaded. */
  constructor(
    private readonly options: RedisSettings,
    private readonly broadcasts = new CallerBroadcasts(options.prefix, options.queue),
  ) {
    broadcasts.released = (tokens) => this.dropBroadcasts(tokens);
  }

  get size(): number {
    return this.options.size;
  }

  submit(request: BatchRequest): Ticket {
    let settle!: (outcome: BatchOutcome) => void;
    const outcome = new Promise<BatchOutcome>((resolve) => {
      settle = resolve;
    });
    const early = this.refusal(request);
    if (early) {
      settle({ kind: 'failed', error: early });
      return { outcome, cancel: () => {} };
    }
    let data: JobData;
    let broadcasts: number[];
    try {
      broadcasts = this.broadcasts.idsIn(request);
      data = this.jobData(request, broadcasts);
    } catch (error) {
      settle({
        kind: 'failed',
        error: error instanceof FanoutError ? error : asNotCloneable(request, error),
      });
      return { outcome, cancel: () => {} };
    }
    const id = `${this.run}-${this.nextJob++}`;
    let settled = false;
    const job: PendingJob = {
      id,
      request,
      data,
      settle: (o) => {
        if (settled) return;
        settled = true;
        this.pending.delete(id);
        settle(o);
        if (this.pending.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
        this.updateHold();
      },
      broadcasts,
      added: false,
      heardAt: Date.now(),
    };
    if (this.pending.size === 0) this.busySince = Date.now();
    this.pending.set(id, job);
    this.updateHold();
    this.toAdd.push(job);
    this.scheduleFlush();
    this.startTimer();
    return { outcome, cancel: () => this.cancel(job) };
  }

  /**
   * A value written to Redis once, read once by each worker process (which hands it to its
   * threads), instead of travelling in every job that uses it.
   */
  broadcast<T>(value: T): BroadcastHandle<T> {
    return this.broadcasts.create(value);
  }

  async close(): Promise<void> {
    // The pool closes its backend once its calls are over, so this normally waits for nothing.
    if (this.pending.size > 0) {
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
      });
    }
    await this.shutdown();
  }

  async terminate(): Promise<void> {
    for (const job of [...this.pending.values()]) {
      job.settle({ kind: 'failed', error: new PoolClosedError('The pool was terminated') });
      this.forget(job);
    }
    await this.shutdown();
  }

  /** Why a batch cannot be sent at all, if it cannot. */
  private refusal(request: BatchRequest): Error | undefined {
    if (this.closed) return new PoolClosedError('The pool is closed');
    if (this.outage) return this.outage;
    if (request.task.kind === 'inline') {
      return new InlineFunctionError(
        'Inline functions cannot run on the redis backend: workers run only the task modules they were started with',
      );
    }
    return undefined;
  }

  private jobData(request: BatchRequest, broadcasts: readonly number[]): JobData {
    const common = {
      first: request.first,
      ...(request.indices ? { indices: request.indices } : {}),
      spread: request.spread,
      seed: request.seed,
      stopOnError: request.stopOnError,
      track: request.track,
      ...(request.alone ? { alone: true } : {}),
      timeout: request.timeout,
      abortGrace: this.options.abortGrace,
      ...(broadcasts.length > 0 ? { broadcasts: this.broadcasts.pairs(broadcasts) } : {}),
    };
    // parallel() sends its calls as a table of tasks and, when they differ, which one each item
    // calls (no `taskIndex`: each calls the first). The table grows as the input is read.
    const { task: spec } = request;
    if (spec.kind === 'mixed' && request.taskIndex !== undefined && spec.specs.length > 1) {
      const names = spec.specs.map((each) => this.plainTaskName(each));
      return encodeJob(names, undefined, request.items, { ...common, taskIndex: request.taskIndex });
    }
    const task = spec.kind === 'mixed' ? (spec.specs[0] as TaskSpec) : spec;
    if (task.kind !== 'task')
      throw new InlineFunctionError('Inline functions cannot run on the redis backend');
    const name = this.nameOf(task);
    // A wrapper travels by its id, never by module: a worker applies only fanout's own (wrappers.ts).
    const wrap = task.wrapper ? wrapperIdOf(task.wrapper) : undefined;
    if (task.wrapper && wrap === undefined) {
      throw new InvalidArgValueError(
        `Task "${task.name}" is decorated by ${task.wrapper.name}, which the redis backend cannot send: ` +
          'its workers apply only the decorations of memory.cache and file sources',
      );
    }
    return encodeJob(name, wrap, request.items, {
      ...common,
      ...(task.wrapper ? { wrapOptions: task.wrapper.options } : {}),
    });
  }

  /** How a job names a task: `moduleId#name`. */
  private nameOf(task: Extract<TaskSpec, { kind: 'task' }>): string {
    return `${this.ids.idOf(task.module)}#${task.name}`;
  }

  /** The name of one task of a mixed call, which may be neither inline nor decorated. */
  private plainTaskName(task: TaskSpec): string {
    if (task.kind !== 'task')
      throw new InlineFunctionError('Inline functions cannot run on the redis backend');
    if (task.wrapper) {
      throw new InvalidArgValueError(
        `Task "${task.name}" is decorated (${task.wrapper.name}): on the redis backend a parallel() call ` +
          'that mixes tasks cannot hold decorated ones; run it in a call of its own',
      );
    }
    return this.nameOf(task);
  }

  // ---- connecting -------------------------------------------------------------------------

  private connect(): Promise<Connected> {
    this.connecting ??= this.open();
    return this.connecting;
  }

  private async open(): Promise<Connected> {
    const { bull, connect } = await loadDrivers();
    if (this.closed) throw new PoolClosedError('The pool is closed');
    this.askingSince = Date.now();
    const { redis: url, tls } = this.options;
    warnIfExposed(url);
    const client = connect(url, {
      name: `fanout-caller-${this.run}`,
      tls,
      onError: (error) => {
        this.lastError = error;
      },
    });
    client.on('ready', () => this.heard());
    this.hold.track(client);
    this.parts.client = client;
    let connection: Connected;
    try {
      connection = { bull, client, queue: this.openQueue(bull, client) };
    } catch (error) {
      client.disconnect();
      throw error;
    }
    if (this.closed) {
      // Closed while connecting: what was opened since is closed here.
      await this.closeParts(100);
      throw new PoolClosedError('The pool is closed');
    }
    this.connection = connection;
    return connection;
  }

  private openQueue(bull: BullModule, client: Redis): Queue {
    const { queue: name, prefix } = this.options;
    const queue = new bull.Queue(name, {
      connection: client,
      prefix,
      streams: { events: { maxLen: EVENTS_MAX_LEN } },
      defaultJobOptions: {
        attempts: 1,
        removeOnComplete: { age: ORPHAN_AGE_SECONDS },
        removeOnFail: { age: ORPHAN_AGE_SECONDS },
      },
    });
    queue.on('error', (error) => {
      this.lastError = error;
    });
    this.parts.queue = queue;
    return queue;
  }

  /**
   * Open the event reader, unless it is open: done before jobs are added, so none of their
   * events is missed. (While it is closed the periodic check would still find every result.)
   */
  private listen(connection: Connected): Promise<void> {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.listening ??= this.openEvents(connection).catch((error: unknown) => {
      this.listening = undefined;
      throw error;
    });
    return this.listening;
  }

  private async openEvents({ bull, client, queue }: Connected): Promise<void> {
    await this.unlistening;
    const { queue: name, prefix } = this.options;
    // Read events from the stream's current end: nothing between here and the first read is missed.
    const last = (await client.xrevrange(queue.keys.events as string, '+', '-', 'COUNT', 1))[0];
    this.heard();
    if (this.closed) return;
    const events = new bull.QueueEvents(name, {
      connection: client,
      prefix,
      lastEventId: last?.[0] ?? '0-0',
    });
    events.on('error', (error) => {
      this.lastError = error;
    });
    this.parts.events = events;
    events.on('completed', ({ jobId, returnvalue }) => this.completed(jobId, returnvalue));
    events.on('failed', ({ jobId, failedReason }) => this.failed(jobId, failedReason));
    events.on('active', ({ jobId }) => this.active(jobId));
  }

  /** Nothing is outstanding: close the event reader if no new job comes within EVENTS_LINGER_MS. */
  private linger(): void {
    if (!this.listening || this.lingerTimer || this.closed) return;
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      const opened = this.listening;
      this.listening = undefined;
      this.unlistening = (async () => {
        await opened?.catch(() => {});
        const events = this.parts.events;
        this.parts.events = undefined;
        await atMost(events?.close() ?? Promise.resolve(), 5000);
      })();
    }, EVENTS_LINGER_MS);
    this.lingerTimer.unref();
  }

  private heard(): void {
    this.lastContact = Date.now();
    this.outage = undefined;
  }

  // ---- adding -----------------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Batches submitted in the same tick go to Redis in one round trip.
    queueMicrotask(() => {
      this.flushScheduled = false;
      const jobs = this.toAdd.splice(0);
      if (jobs.length > 0) this.chore(this.add(jobs));
    });
  }

  private async add(jobs: PendingJob[]): Promise<void> {
    let queue: Queue;
    let client: Redis;
    try {
      const connection = await this.connect();
      await this.listen(connection);
      ({ queue, client } = connection);
    } catch (error) {
      // Setting up failed for a reason other than waiting (a refused command, say): try afresh next time.
      this.connecting = undefined;
      // Already ours (the drivers are not installed): passed on as it is, not wrapped again.
      const failure =
        error instanceof BackendUnavailableError
          ? error
          : new BackendUnavailableError(`Could not set up the Redis queue: ${describe(error)}`, {
              cause: error,
            });
      for (const job of jobs) job.settle({ kind: 'failed', error: failure });
      return;
    }
    const live = jobs.filter((job) => this.pending.has(job.id));
    if (live.length === 0) return;
    try {
      // Before the jobs: a worker may take one at once.
      await this.broadcasts.store(
        client,
        live.flatMap((job) => job.broadcasts),
      );
      await queue.addBulk(
        live.map((job) => ({ name: job.data.task, data: job.data, opts: { jobId: job.id } })),
      );
    } catch (error) {
      // Redis answered, but refused (an ACL without the rights BullMQ needs, out of memory, ...).
      this.heard();
      for (const job of live) {
        job.settle({
          kind: 'failed',
          error: new BackendUnavailableError(`Redis refused the job: ${describe(error)}`, { cause: error }),
        });
      }
      return;
    }
    this.heard();
    const now = Date.now();
    for (const job of live) {
      job.added = true;
      job.heardAt = now;
      // Cancelled while the add was on its way: take it back.
      if (!this.pending.has(job.id)) this.abandon(job.id);
    }
  }

  // ---- results ----------------------------------------------------------------------------

  private active(jobId: string): void {
    const job = this.pending.get(jobId);
    if (!job) return;
    job.heardAt = Date.now();
    job.request.onStart?.();
  }

  private completed(jobId: string, returnvalue: unknown): void {
    this.heard();
    const job = this.pending.get(jobId);
    if (!job) {
      if (this.abandoned.has(jobId)) this.remove(jobId);
      return;
    }
    let result: DecodedResult;
    try {
      result = decodeResult(returnvalue);
    } catch (error) {
      const why = `job ${jobId} returned a result this caller cannot read (another fanout version?): ${describe(error)}`;
      job.settle({ kind: 'failed', error: new WorkerCrashedError(why) });
      this.remove(jobId);
      return;
    }
    job.settle(this.outcomeOf(result));
    this.remove(jobId);
  }

  private failed(jobId: string, failedReason: unknown): void {
    this.heard();
    const job = this.pending.get(jobId);
    if (!job) {
      if (this.abandoned.has(jobId)) this.remove(jobId);
      return;
    }
    const failure = decodeFailure(failedReason);
    job.settle(
      failure.lost
        ? {
            kind: 'lost',
            error: failure.error,
            offset: job.request.items.length === 1 ? 0 : undefined,
            started: true,
          }
        : { kind: 'failed', error: failure.error },
    );
    this.remove(jobId);
  }

  private outcomeOf(result: DecodedResult): BatchOutcome {
    if (result.k === 'lost') {
      return { kind: 'lost', error: result.error, offset: result.offset, started: result.started };
    }
    return {
      kind: 'done',
      values: result.values,
      ran: result.ran,
      failures: result.failures,
      worker: this.workerNumber(result.worker),
      startedAt: result.startedAt,
      duration: result.duration,
    };
  }

  private workerNumber(label: string): number {
    let n = this.workerNumbers.get(label);
    if (n === undefined) {
      n = this.workerNumbers.size;
      this.workerNumbers.set(label, n);
    }
    return n;
  }

  // ---- cancelling and cleaning up ---------------------------------------------------------

  private cancel(job: PendingJob): void {
    if (!this.pending.has(job.id)) return;
    job.settle({ kind: 'cancelled' });
    this.forget(job);
  }

  /** A pending job nobody waits for: remove it if it has not started, else once it finishes. */
  private forget(job: PendingJob): void {
    if (job.added) this.abandon(job.id);
  }

  private abandon(id: string): void {
    this.abandoned.add(id);
    this.remove(id);
    // Removal fails for a job a worker has started: that worker is told to stop it.
    this.toCancel.push(id);
    if (this.toCancel.length === 1) queueMicrotask(() => this.announceCancels());
  }

  /** Tell the workers, in one message, which jobs nobody waits for any more. */
  private announceCancels(): void {
    const jobs = this.toCancel.splice(0);
    const connection = this.connection;
    if (!connection || jobs.length === 0) return;
    const { prefix, queue } = this.options;
    const pipeline = connection.client.pipeline();
    for (let at = 0; at < jobs.length; at += MAX_CONTROL_IDS) {
      const message: ControlMessage = { t: 'cancel', jobs: jobs.slice(at, at + MAX_CONTROL_IDS) };
      pipeline.publish(controlChannel(prefix, queue), JSON.stringify(message));
    }
    this.chore(pipeline.exec());
  }

  /** Remove a job from Redis; a running (locked) job refuses, and is removed when it finishes. */
  private remove(id: string): void {
    const connection = this.connection;
    if (!connection) return;
    this.chore(
      connection.queue.remove(id).then(
        (removed) => {
          if (removed === 1) this.abandoned.delete(id);
        },
        () => {},
      ),
    );
  }

  /** Delete released broadcast values from Redis and tell the workers to drop their copies. */
  private dropBroadcasts(tokens: readonly string[]): void {
    const connection = this.connection;
    if (!connection || tokens.length === 0) return;
    this.chore(this.dropIn(connection.client, tokens));
  }

  private dropIn(client: Redis, tokens: readonly string[]): Promise<unknown> {
    const { prefix, queue } = this.options;
    return client
      .pipeline()
      .del(...tokens.map((token) => this.broadcasts.keyOf(token)))
      .publish(
        controlChannel(prefix, queue),
        JSON.stringify({ t: 'release', tokens } satisfies ControlMessage),
      )
      .exec();
  }

  private chore(promise: Promise<unknown>): void {
    const tracked = promise.catch(() => {});
    this.chores.add(tracked);
    this.updateHold();
    tracked.finally(() => {
      this.chores.delete(tracked);
      this.updateHold();
    });
  }

  /** An open pool with nothing outstanding must not keep the process alive (README: idle workers). */
  private updateHold(): void {
    const busy = this.pending.size > 0 || this.chores.size > 0;
    this.hold.set(busy);
    if (!busy) this.linger();
  }

  // ---- the periodic check -----------------------------------------------------------------

  private startTimer(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.tick(), this.options.checkInterval);
    // Pending work keeps the process alive through its Redis connections, not through this timer.
    this.timer.unref();
  }

  private tick(): void {
    const now = Date.now();
    const { unavailableTimeout } = this.options;
    const silentSince = Math.max(this.lastContact, this.busySince, this.askingSince);
    if (this.pending.size > 0 && this.askingSince > 0 && now - silentSince > unavailableTimeout) {
      this.giveUp();
    }
    if (this.pending.size === 0 && this.abandoned.size === 0 && !this.outage) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    if (!this.checking && this.connection) {
      this.checking = true;
      this.check(this.connection).finally(() => {
        this.checking = false;
      });
    }
  }

  /** Redis stayed away too long: every pending batch fails, and new ones fail at once until it is back. */
  private giveUp(): void {
    const seconds = this.options.unavailableTimeout / 1000;
    const why = this.lastError ? ` (last error: ${describe(this.lastError)})` : '';
    this.outage = new BackendUnavailableError(
      `Redis at ${redactUrl(this.options.redis)} did not answer for ${seconds} s (unavailableTimeout)${why}`,
      { cause: this.lastError },
    );
    for (const job of [...this.pending.values()]) {
      job.settle({ kind: 'failed', error: this.outage });
      this.forget(job);
    }
  }

  /** Look up jobs by id: deliver what finished, re-add what vanished; the answer proves Redis is there. */
  private async check({ client, queue }: Connected): Promise<void> {
    const now = Date.now();
    const stale = [...this.pending.values()].filter(
      (job) => job.added && now - job.heardAt >= this.options.checkInterval,
    );
    const ids = [...stale.map((job) => job.id), ...this.abandoned];
    const pipeline = client.pipeline().ping();
    for (const id of ids) pipeline.hmget(queue.toKey(id), ...CHECK_FIELDS);
    const refreshed = this.broadcasts.refresh(pipeline);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch {
      return;
    }
    if (!replies) return;
    this.heard();
    refreshed.forEach((apply, i) => {
      apply(replies[1 + ids.length + i]?.[1]);
    });
    ids.forEach((id, i) => {
      const reply = replies[i + 1];
      if (!reply || reply[0]) return;
      const [timestamp, finishedOn, returnvalue, failedReason] = reply[1] as (string | null)[];
      const job = this.pending.get(id);
      if (timestamp === null) {
        // Gone: Redis lost it (restarted empty, evicted) or it was removed. Send it again.
        this.abandoned.delete(id);
        if (job) this.readd(job);
        return;
      }
      if (finishedOn === null) {
        if (job) job.heardAt = Date.now();
        return;
      }
      if (returnvalue !== null && returnvalue !== undefined) this.completed(id, parseJson(returnvalue));
      else this.failed(id, failedReason);
    });
  }

  private readd(job: PendingJob): void {
    // Redis lost the job, so perhaps everything: broadcast values are written again first.
    this.broadcasts.forgetStored();
    job.added = false;
    job.heardAt = Date.now();
    this.chore(this.add([job]));
  }

  // ---- shutting down ----------------------------------------------------------------------

  private async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Jobs abandoned just now (terminate()) are announced before the connection closes.
    this.announceCancels();
    clearInterval(this.timer);
    this.timer = undefined;
    clearTimeout(this.lingerTimer);
    // Still connecting means Redis is not answering: no point waiting for it.
    const wait = this.connection ? Math.min(this.options.unavailableTimeout, 5000) : 100;
    await atMost(Promise.all([...this.chores]), wait);
    // After the chores: a value being written now is deleted too.
    const tokens = this.broadcasts.takeAll();
    if (this.connection && tokens.length > 0) await atMost(this.dropIn(this.connection.client, tokens), wait);
    await this.closeParts(wait);
  }

  private async closeParts(wait: number): Promise<void> {
    const { client, queue, events } = this.parts;
    await atMost(Promise.all([events?.close(), queue?.close(), this.unlistening]), wait);
    if (client) await closeClient(client, wait);
  }
}

function asNotCloneable(request: BatchRequest, error: unknown): NotCloneableError {
  const last = request.first + request.items.length - 1;
  return new NotCloneableError(
    `Task "${request.taskName}": items ${request.first}–${last} could not be encoded for Redis: ${describe(error)}`,
    { cause: error },
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
