/**
 * The worker's side of the redis backend (`fanout worker`): take jobs from the queue and run
 * each batch on this machine's worker threads, through the same worker set the threads backend
 * uses. Crashes, timeouts and module errors are therefore detected exactly as they are locally;
 * this module only translates between BullMQ jobs and the worker set's batches.
 *
 * A job may name only a task module the worker was started with (`TaskDirectory`), and only a
 * wrapper its operator allowed (`redis/wrappers.ts`); its counts must match its payload (`redis/codec.ts`).
 * Anything else fails as unrecoverable, so BullMQ never retries it, with a code saying which.
 */

import { hostname } from 'node:os';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { nestedRunner } from '../api/nested.js';
import { unpack } from '../codec/values.js';
import {
  AbortError,
  describe,
  FanoutError,
  MalformedJobError,
  TaskNotFoundError,
  WrapperNotAllowedError,
} from '../errors.js';
import { threadsTransport } from '../local/threads.js';
import { WorkerSet } from '../local/worker-set.js';
import { type Heartbeat, heartbeatKeys, startHeartbeat } from '../observe/dashboard/heartbeat.js';
import { WorkerCollector } from '../observe/dashboard/workers.js';
import { redactUrl } from '../options/checks.js';
import { defaultWorkerSetSettings } from '../options/resolve.js';
import {
  type BatchPayload,
  encodeResult,
  failureHeadline,
  failureReason,
  type JobData,
  readJob,
  readPayload,
} from '../redis/codec.js';
import { atMost, type BullModule, closeClient, loadDrivers } from '../redis/connection.js';
import { broadcastKey, controlChannel } from '../redis/control.js';
import { isModuleId, isTaskName, type TaskDirectory } from '../redis/identity.js';
import { exposureWarning } from '../redis/url.js';
import { isWrapperId, WRAPPER_IDS, WRAPPERS, type WrapperId } from '../redis/wrappers.js';
import type { BatchOutcome, BatchRequest, Ticket } from '../scheduler/backend.js';
import type { TaskSpec } from '../tasks/task-spec.js';
import { WorkerBroadcasts } from './broadcasts.js';
import { listenForControl } from './control.js';

export interface RedisWorkerOptions {
  readonly url: string;
  readonly queue: string;
  readonly prefix: string;
  readonly tls?: TlsOptions | undefined;
  readonly directory: TaskDirectory;
  /** The wrappers (task decorations) jobs may ask for; any other is refused. */
  readonly allowedWrappers: ReadonlySet<WrapperId>;
  /** Worker threads that run the batches. */
  readonly threads: number;
  /** Jobs taken at once (a few more than threads, so a thread never waits for Redis). */
  readonly concurrency: number;
  /** Async items in flight at once per thread (`--concurrent-tasks-per-worker`; default: the pool option's). */
  readonly concurrentTasks?: number | undefined;
  /** BullMQ's job lock: a worker that stops renewing it for this long has its jobs re-run elsewhere. */
  readonly lockDuration: number;
  /** How often this worker looks for jobs whose lock expired (stalled jobs). */
  readonly stalledInterval: number;
  /** How many times a job may stall before it fails (its caller sees ERR_WORKER_CRASHED). */
  readonly maxStalled: number;
  readonly log: (line: string) => void;
  /** Collects what its threads do, for its heartbeat in Redis (and `--metrics-port`); made here when not given. */
  readonly collector?: WorkerCollector | undefined;
}

export interface RedisWorker {
  /** This worker's name in Redis (`host:pid`), also stored on the jobs it runs. */
  readonly name: string;
  /** Jobs being run now. */
  readonly running: number;
  /** Broadcast values this process read from Redis (each once, whatever the number of jobs). */
  readonly broadcastFetches: number;
  /**
   * Stop taking jobs and leave. Jobs in progress are finished, or, with `handBack`, cancelled
   * and moved back to the queue at once for another worker. Safe to call again (to hand back).
   */
  stop(handBack: boolean): Promise<void>;
}

interface Running {
  readonly job: Job;
  readonly ticket: Ticket;
}

/** Connect, and start taking jobs. Resolves once the worker is listening. */
export async function startRedisWorker(options: RedisWorkerOptions): Promise<RedisWorker> {
  const { bull, connect } = await loadDrivers();
  const { log } = options;
  const name = `${hostname()}:${process.pid}`;
  const errors = errorReporter(log);
  const exposure = exposureWarning(options.url);
  if (exposure) log(`WARNING: ${exposure}`);
  const client = connect(options.url, { name: `fanout-worker-${name}`, tls: options.tls, onError: errors });
  client.on('ready', () => errors.recovered());
  const collector = options.collector ?? new WorkerCollector({ modules: options.directory.ids });
  // The same worker set a pool of threads runs on, with the pool's defaults, watched for the heartbeat.
  const settings = defaultWorkerSetSettings(options.threads);
  const local = new WorkerSet(threadsTransport({}), {
    ...settings,
    concurrentTasks: options.concurrentTasks ?? settings.concurrentTasks,
    observer: collector,
  });
  // Child calls of its tasks (`taskContext().pool`) run on this worker's own threads: nested
  // parallelism stays on the machine that runs the parent.
  local.setNested(nestedRunner(local));
  const running = new Set<Running>();
  const broadcasts = new WorkerBroadcasts(
    client,
    (token) => broadcastKey(options.prefix, options.queue, token),
    local,
  );
  const reported = new Set<string>();
  /** Jobs their callers cancelled (kept for a while: a message may come before its job starts here). */
  const cancelled = new RecentIds(CANCELLED_KEPT);
  let handingBack = false;
  /** Fail a job for good, logging each distinct reason once (a bounded number of them). */
  const refuse = (job: Job, error: Error): Error => {
    const headline = failureHeadline(error);
    if (!reported.has(headline) && reported.size < 100) {
      reported.add(headline);
      log(`job ${job.id} failed: ${headline}`);
    }
    return new bull.UnrecoverableError(failureReason(error));
  };

  const processor = async (job: Job, token?: string): Promise<string> => {
    let request: BatchRequest;
    let task: string;
    let shared: BatchPayload['broadcasts'];
    try {
      const data = readJob(job.data);
      task = data.task;
      ({ request, broadcasts: shared } = batchOf(options, data));
      if (shared) request = await broadcasts.resolve(request, shared);
    } catch (error) {
      if (error instanceof MalformedJobError) {
        throw refuse(job, new MalformedJobError(`this worker refuses job ${job.id}: ${error.message}`));
      }
      if (error instanceof FanoutError) throw refuse(job, error as Error);
      throw refuse(job, new MalformedJobError(`this worker cannot run job ${job.id}: ${describe(error)}`));
    }
    if (cancelled.has(job.id)) {
      if (shared) broadcasts.finished(shared);
      return cancelledResult();
    }
    const ticket = local.submit(request);
    const entry = { job, ticket };
    running.add(entry);
    if (handingBack) ticket.cancel();
    let outcome: BatchOutcome;
    try {
      outcome = await ticket.outcome;
    } finally {
      running.delete(entry);
      if (shared) broadcasts.finished(shared);
    }
    switch (outcome.kind) {
      case 'done':
        return encodeResult({
          k: 'done',
          values: outcome.values,
          ran: outcome.ran,
          failures: outcome.failures,
          startedAt: outcome.startedAt,
          duration: outcome.duration,
          worker: `${name}/${outcome.worker}`,
        });
      case 'lost':
        log(`job ${job.id} (${task}): ${outcome.error.message}`);
        return encodeResult({
          k: 'lost',
          offset: outcome.offset,
          started: outcome.started,
          error: outcome.error,
        });
      case 'failed':
        // (By code: FanoutError's instanceof checks the brand, so any fanout error passes for any class.)
        if ((outcome.error as { code?: unknown }).code === 'ERR_POOL_CLOSED')
          return handBack(bull, job, token);
        throw refuse(job, outcome.error);
      case 'cancelled':
        // Stopped for its caller, who wants nothing back: the job ends here. Else we are stopping.
        if (cancelled.has(job.id)) return cancelledResult();
        return handBack(bull, job, token);
    }
  };

  const worker: Worker = new bull.Worker(options.queue, processor, {
    connection: client,
    prefix: options.prefix,
    name,
    concurrency: options.concurrency,
    lockDuration: options.lockDuration,
    stalledInterval: options.stalledInterval,
    maxStalledCount: options.maxStalled,
    autorun: false,
  });
  worker.on('error', errors);
  worker.on('stalled', (jobId) => log(`job ${jobId} stalled (its worker stopped responding): queued again`));
  worker.on('failed', (job, error) => {
    if (job && !(error instanceof bull.UnrecoverableError) && error.name !== 'WaitingError') {
      log(`job ${job.id} failed: ${error.message}`);
    }
  });
  await worker.waitUntilReady();
  const heartbeat = startHeartbeat(client, heartbeatKeys(options.prefix, options.queue), name, collector);
  const control = await listenForControl(client, controlChannel(options.prefix, options.queue), (message) => {
    if (message.t === 'release') broadcasts.release(message.tokens);
    else {
      // As a local pool cancels a batch: its tasks' signal aborts, and a task still running
      // abortGrace ms later has its thread replaced (local/worker-set.ts).
      for (const id of message.jobs) cancelled.add(id);
      for (const entry of running)
        if (entry.job.id !== undefined && cancelled.has(entry.job.id)) entry.ticket.cancel();
    }
  });
  control.on('error', errors);
  void worker.run().catch((error: unknown) => log(`stopped taking jobs: ${describe(error)}`));
  log(
    `ready: queue ${options.prefix}:${options.queue} on ${redactUrl(options.url)}, ` +
      `${options.threads} threads, ${options.concurrency} jobs at once, ` +
      `tasks: ${options.directory.ids.join(', ')}; wrappers allowed: ${[...options.allowedWrappers].join(', ') || 'none'}`,
  );

  let stopping: Promise<void> | undefined;
  return {
    name,
    get running() {
      return running.size;
    },
    get broadcastFetches() {
      return broadcasts.fetches;
    },
    stop(handBackNow) {
      if (collector.state !== 'stopping') {
        collector.state = 'stopping';
        void heartbeat.beat();
      }
      if (handBackNow && !handingBack) {
        handingBack = true;
        for (const entry of running) entry.ticket.cancel();
      }
      stopping ??= shutdown(worker, local, client, heartbeat).finally(() => {
        broadcasts.close();
        return closeClient(control, 1000);
      });
      return stopping;
    },
  };
}

/** How many cancelled job ids a worker remembers. */
const CANCELLED_KEPT = 10_000;

/** The ids last added, at most `limit` of them. */
class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly limit: number) {}
  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.limit) this.ids.delete(this.ids.values().next().value as string);
  }
  has(id: string | undefined): boolean {
    return id !== undefined && this.ids.has(id);
  }
}

/** The result of a job stopped because its caller cancelled it (the caller ignores it, then removes the job). */
function cancelledResult(): string {
  return encodeResult({
    k: 'lost',
    offset: undefined,
    started: true,
    error: new AbortError('The job was cancelled by its caller'),
  });
}

async function shutdown(
  worker: Worker,
  local: WorkerSet,
  client: Redis,
  heartbeat: Heartbeat,
): Promise<void> {
  // Stop taking jobs; wait for the running ones (finished or handed back) to be recorded.
  await worker.close();
  await local.close();
  await heartbeat.stop();
  await closeClient(client, 5000);
}

/** Give a job back to the queue at once, for another worker (used when stopping). */
async function handBack(bull: BullModule, job: Job, token: string | undefined): Promise<never> {
  await atMost(job.moveToWait(token), 5000);
  throw new bull.WaitingError();
}

/** `moduleId#name` → the module of that id this worker was started with; anything else throws. */
function specOf(directory: TaskDirectory, qualified: string): { module: string; name: string } {
  const at = qualified.indexOf('#');
  const id = qualified.slice(0, at);
  const name = qualified.slice(at + 1);
  const module = at > 0 && isModuleId(id) && isTaskName(name) ? directory.urlOf(id) : undefined;
  if (!module) {
    throw new TaskNotFoundError(
      `No task module for task ${JSON.stringify(qualified.slice(0, 200))} on this worker: it runs only ` +
        `the modules it was started with (${directory.ids.join(', ')}), known by file name; start it ` +
        'with --tasks for that module',
    );
  }
  return { module, name };
}

/**
 * A job's wrapper id → this worker's copy of that wrapper factory, if its operator allowed it.
 * Never a served task: a task used as a factory would get a function and options of the job's choosing.
 */
function wrapperOf(allowed: ReadonlySet<WrapperId>, id: string): { module: string; name: string } {
  if (!isWrapperId(id)) {
    throw new WrapperNotAllowedError(
      `The job asks for wrapper ${JSON.stringify(id.slice(0, 200))}, which is not a fanout wrapper ` +
        `(${WRAPPER_IDS.join(', ')}); a task is never applied as one`,
    );
  }
  const entry = WRAPPERS[id];
  if (!allowed.has(id)) {
    throw new WrapperNotAllowedError(
      `The task is decorated by ${entry.feature} (wrapper "${id}"), which this worker does not apply: ` +
        `a job using it ${entry.reach} on the worker's machine. Start the worker with --allow ${id} ` +
        'to let it, or call the task undecorated',
    );
  }
  return { module: entry.module, name: entry.name };
}

/**
 * A job → the batch the local worker set runs, and the broadcast values it refers to; the task
 * and wrapper are checked before the payload is even decoded.
 */
function batchOf(
  options: RedisWorkerOptions,
  data: JobData,
): { request: BatchRequest; broadcasts: BatchPayload['broadcasts'] } {
  if (data.tasks) return mixedBatchOf(options, data);
  const task = specOf(options.directory, data.task);
  const wrapper = data.wrap === undefined ? undefined : wrapperOf(options.allowedWrappers, data.wrap);
  const payload: BatchPayload = readPayload(data);
  const spec: TaskSpec = {
    kind: 'task',
    module: task.module,
    name: task.name,
    ...(wrapper ? { wrapper: { ...wrapper, options: payload.wrapOptions } } : {}),
  };
  const request: BatchRequest = {
    task: spec,
    taskName: task.name,
    spread: payload.spread,
    // A Float64Array of numbers serves as well as an array: the worker set reads items by index.
    items: unpack(payload.items) as unknown as readonly unknown[],
    first: payload.first,
    indices: payload.indices,
    timeout: payload.timeout,
    track: payload.track,
    alone: payload.alone === true,
    stopOnError: payload.stopOnError,
    seed: payload.seed,
    abortGrace: payload.abortGrace,
  };
  return { request, broadcasts: payload.broadcasts };
}

/** A job of a parallel() call that mixes tasks: each task checked, then the payload (with its task per item). */
function mixedBatchOf(
  options: RedisWorkerOptions,
  data: JobData,
): { request: BatchRequest; broadcasts: BatchPayload['broadcasts'] } {
  const specs: TaskSpec[] = (data.tasks ?? []).map((name) => ({
    kind: 'task',
    ...specOf(options.directory, name),
  }));
  const payload = readPayload(data);
  const request: BatchRequest = {
    task: { kind: 'mixed', specs, name: 'parallel' },
    taskName: 'parallel',
    spread: payload.spread,
    items: unpack(payload.items) as unknown as readonly unknown[],
    first: payload.first,
    indices: payload.indices,
    timeout: payload.timeout,
    track: payload.track,
    stopOnError: payload.stopOnError,
    seed: payload.seed,
    abortGrace: payload.abortGrace,
    taskIndex: payload.taskIndex,
  };
  return { request, broadcasts: payload.broadcasts };
}

/** Log Redis errors without flooding: the first, then one with a count every 10 s, and the recovery. */
function errorReporter(log: (line: string) => void): ((error: Error) => void) & { recovered(): void } {
  let failing = false;
  let quiet = 0;
  let lastLog = 0;
  const report = (error: Error) => {
    const now = Date.now();
    if (failing && now - lastLog < 10_000) {
      quiet++;
      return;
    }
    log(`redis: ${describe(error)}${quiet > 0 ? ` (and ${quiet} more errors since)` : ''}`);
    failing = true;
    quiet = 0;
    lastLog = now;
  };
  return Object.assign(report, {
    recovered() {
      if (failing) log('redis: connected again');
      failing = false;
      quiet = 0;
    },
  });
}
