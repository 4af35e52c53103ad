/**
 * `fanout worker` processes launched by Slurm, as dask-jobqueue's SLURMCluster launches Dask
 * workers: each worker is one task of a job array submitted with `sbatch`, and the cluster grows
 * by submitting more, shrinks by cancelling some (`scancel`), and can follow the redis queue's
 * depth (`adapt`).
 *
 * The workers are identified by their Slurm job name, among this user's jobs: no state is kept
 * anywhere else, so `fanout slurm down` finds an earlier `up`'s workers from any shell, and a
 * program that died leaves nothing that `down` cannot find. Each job carries a hash of its
 * configuration (its `--comment`), so jobs of the same name that run something else are refused
 * rather than silently counted.
 *
 * Stopping never loses work: Slurm sends a cancelled job SIGTERM, and the worker (`exec`'d by
 * the script, so it is the job's own process) takes no new job, finishes its running ones for
 * `--grace` ms (set below KillWait, after which Slurm sends SIGKILL), and hands the rest back to
 * the queue. Even a SIGKILL loses nothing: the job's lock expires and another worker runs it.
 */

import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, InvalidArgValueError, PoolClosedError, SlurmError } from '../errors.js';
import { duration, func, nonNegativeInteger, positiveInteger } from '../options/checks.js';
import { keysMatch, optionSet, resolveOptions } from '../options/option-set.js';
import { type QueueDepth, queueDepth } from './queue-depth.js';
import {
  cancel,
  cancelNamed,
  killWaitSeconds,
  type ListedJob,
  listJobs,
  runSlurm,
  type SlurmJob,
  submit,
} from './slurm-commands.js';
import {
  configHash,
  graceFor,
  jobScript,
  type ResolvedSlurmOptions,
  resolveSlurmOptions,
  type SlurmWorkersOptions,
} from './slurm-script.js';

export type { SlurmJob } from './slurm-commands.js';
export type { SlurmWorkersOptions } from './slurm-script.js';

/** The workers' jobs as Slurm sees them now. */
export interface SlurmWorkersStatus {
  /** The Slurm job name. */
  readonly name: string;
  /** Every job of that name (one per worker), in squeue's order. */
  readonly jobs: readonly SlurmJob[];
  /** Jobs running a worker. */
  readonly running: number;
  /** Jobs waiting for a node (PENDING, CONFIGURING). */
  readonly pending: number;
  /** Jobs cancelled or ended whose processes Slurm is still stopping (COMPLETING). */
  readonly stopping: number;
}

/**
 * Options of `adapt()`: the number of workers follows the queue's depth (jobs waiting or
 * running), one worker per `cpusPerWorker` jobs, between `minimum` and `maximum`.
 *
 * @example
 * ```ts
 * cluster.adapt({ minimum: 0, maximum: 20, cooldown: 60_000 });
 * ```
 */
export interface AdaptOptions {
  /**
   * Workers kept even when the queue is empty.
   * @default 0
   */
  minimum?: number;
  /** Workers never exceeded. */
  maximum: number;
  /**
   * How often (ms) the queue and Slurm are read.
   * @default 2000
   */
  interval?: number;
  /**
   * How long (ms) the queue must ask for fewer workers before some are cancelled. Growing is
   * immediate; shrinking waits, because a Slurm job may wait long in the queue to start again.
   * @default 30000
   */
  cooldown?: number;
  /** Called after each change, with the queue depth that caused it. */
  onScale?: (change: { readonly from: number; readonly to: number; readonly depth: number }) => void;
  /**
   * Called when a round fails (Redis or Slurm unreachable); adapting goes on. Default: a
   * process warning (`FanoutSlurmWarning`) for each new message.
   */
  onError?: (error: Error) => void;
}

/** A running `adapt()`. */
/** The options of `adapt`, declared once (see options/option-set.ts). */
const ADAPT = optionSet('the options of adapt', {
  minimum: {
    check: (v: unknown, name: string) => nonNegativeInteger(name, v),
    default: 0,
    doc: 'workers kept even when the queue is empty',
  },
  maximum: {
    check: (v: unknown, name: string) => positiveInteger(name, v),
    required: true as const,
    doc: 'workers at most',
  },
  interval: {
    check: (v: unknown, name: string) => duration(name, v),
    default: 2000,
    unit: 'ms',
    doc: 'how often the queue is looked at',
  },
  cooldown: {
    check: (v: unknown, name: string) => duration(name, v),
    default: 30_000,
    unit: 'ms',
    doc: 'how long after a scale-up before scaling down',
  },
  onScale: {
    check: (v: unknown, name: string) => func<NonNullable<AdaptOptions['onScale']>>(name, v),
    doc: 'called after each change of size',
  },
  onError: {
    check: (v: unknown, name: string) => func<NonNullable<AdaptOptions['onError']>>(name, v),
    doc: 'called when a check or a change fails',
  },
});
keysMatch<typeof ADAPT.specs, AdaptOptions>(true);

export interface Adaptive {
  /** Stop adapting; the workers there are stay. */
  stop(): Promise<void>;
}

/**
 * `fanout worker` processes that Slurm runs, for pools on the redis backend. Made by
 * {@link slurmWorkers}.
 */
export interface SlurmWorkers {
  /** The Slurm job name that identifies them. */
  readonly name: string;
  /** The batch script each worker's job runs (submitted as a job array). */
  readonly jobScript: string;
  /**
   * Submit or cancel jobs until `n` workers are queued or running. Cancelled first: those
   * still pending, then the newest. A cancelled worker finishes or hands back its jobs. Stops
   * `adapt()`. Resolves once Slurm has the request (jobs start when Slurm runs them). After
   * `close()`: ERR_POOL_CLOSED.
   */
  scale(n: number): Promise<void>;
  /** The workers' jobs now (from `squeue`). */
  status(): Promise<SlurmWorkersStatus>;
  /** Follow the queue's depth; replaces an earlier `adapt()`. */
  adapt(options: AdaptOptions): Adaptive;
  /**
   * Stop adapting, cancel every job of the name, and resolve once Slurm reports none left
   * (their processes have exited: Slurm keeps a job COMPLETING until they have).
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** States in which a job holds no process any more; squeue shows them briefly, if at all. */
const ENDED = new Set([
  'COMPLETED',
  'CANCELLED',
  'FAILED',
  'TIMEOUT',
  'PREEMPTED',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'BOOT_FAIL',
  'DEADLINE',
  'SPECIAL_EXIT',
  'REVOKED',
]);
const COMPLETING = 'COMPLETING';
const PENDING = new Set(['PENDING', 'CONFIGURING']);
const COMMENT_PREFIX = 'fanout:';

/** Jobs that still hold or will hold a process. */
async function presentJobs(name: string): Promise<ListedJob[]> {
  return (await listJobs(name)).filter((job) => !ENDED.has(job.state));
}

/** The status of the jobs named `name` (what `fanout slurm status` shows). */
export async function slurmStatus(name: string): Promise<SlurmWorkersStatus> {
  const jobs = (await presentJobs(name)).map(({ comment: _, ...job }) => job);
  return {
    name,
    jobs,
    running: jobs.filter((job) => job.state === 'RUNNING').length,
    pending: jobs.filter((job) => PENDING.has(job.state)).length,
    stopping: jobs.filter((job) => job.state === COMPLETING).length,
  };
}

/**
 * Cancel every job named `name` and wait until none is left (what `fanout slurm down` does).
 * Resolves to the number cancelled; rejects with ERR_SLURM if some are still there after
 * `waitMs` (default: KillWait + 60 s).
 */
export async function stopSlurmJobs(name: string, waitMs?: number): Promise<number> {
  const before = (await presentJobs(name)).filter((job) => job.state !== COMPLETING).length;
  await cancelNamed(name);
  const limit = waitMs ?? ((await killWaitSeconds()) + 60) * 1000;
  const deadline = Date.now() + limit;
  for (;;) {
    const left = await presentJobs(name);
    if (left.length === 0) return before;
    if (Date.now() > deadline) {
      throw new SlurmError(
        'squeue',
        `${left.length} Slurm jobs named ${name} were still there ${Math.round(limit / 1000)} s after scancel: ` +
          left.map((job) => `${job.id} ${job.state}`).join(', '),
      );
    }
    await sleep(500);
  }
}

/** Which `count` of the live jobs to cancel: pending ones first, then the newest. */
function toCancel(live: readonly ListedJob[], count: number): string[] {
  const order = (id: string): [number, number] => {
    const [job = '0', index = '-1'] = id.split('_');
    return [Number(job), Number(index)];
  };
  return [...live]
    .sort((a, b) => {
      const pending = Number(b.state !== 'RUNNING') - Number(a.state !== 'RUNNING');
      if (pending !== 0) return pending;
      const [jobA, indexA] = order(a.id);
      const [jobB, indexB] = order(b.id);
      return jobB - jobA || indexB - indexA;
    })
    .slice(0, count)
    .map((job) => job.id);
}

class Cluster implements SlurmWorkers {
  readonly name: string;
  readonly jobScript: string;
  private readonly comment: string;
  /** Slurm commands run one change at a time: a scale never reads counts another is changing. */
  private changes: Promise<unknown> = Promise.resolve();
  private adaptive: Adapter | undefined;
  private closed = false;

  constructor(
    readonly options: ResolvedSlurmOptions,
    graceMs: number,
  ) {
    this.name = options.name;
    this.jobScript = jobScript(options, graceMs);
    this.comment = `${COMMENT_PREFIX}${configHash(options, graceMs)}`;
  }

  /** Run `change` after every change before it. */
  serial<T>(change: () => Promise<T>): Promise<T> {
    const result = this.changes.then(change);
    this.changes = result.catch(() => {});
    return result;
  }

  /** The jobs of this name that are queued or running (not stopping); refuses another configuration's. */
  async liveJobs(): Promise<ListedJob[]> {
    const live = (await presentJobs(this.name)).filter((job) => job.state !== COMPLETING);
    const foreign = live.filter((job) => job.comment !== this.comment);
    if (foreign.length > 0) {
      throw new SlurmError(
        'squeue',
        `${foreign.length} of your Slurm jobs are named ${this.name} but run another configuration ` +
          `(${foreign.map((job) => job.id).join(', ')}): stop them first (fanout slurm down --name ${this.name}) ` +
          'or give these workers another `name`',
      );
    }
    return live;
  }

  /** Submit or cancel jobs until `n` are live; resolves to how many there were. */
  async reconcile(n: number, live?: readonly ListedJob[]): Promise<number> {
    const jobs = live ?? (await this.liveJobs());
    if (n > jobs.length) {
      await submit(this.jobScript, [`--array=0-${n - jobs.length - 1}`, `--comment=${this.comment}`]);
    } else if (n < jobs.length) {
      await cancel(toCancel(jobs, jobs.length - n));
    }
    return jobs.length;
  }

  private open(): void {
    if (this.closed) throw new PoolClosedError(`The Slurm workers ${this.name} were closed`);
  }

  async scale(n: number): Promise<void> {
    nonNegativeInteger('n', n);
    this.open();
    await this.stopAdapting();
    await this.serial(() => this.reconcile(n));
  }

  status(): Promise<SlurmWorkersStatus> {
    return slurmStatus(this.name);
  }

  adapt(options: AdaptOptions): Adaptive {
    const { minimum, maximum, interval, cooldown, onScale, onError } = resolveOptions(ADAPT, options);
    if (minimum > maximum) {
      throw new InvalidArgValueError(
        `Expected \`minimum\` (${minimum}) to be at most \`maximum\` (${maximum})`,
      );
    }
    this.open();
    const previous = this.adaptive;
    const adapter = new Adapter(this, {
      minimum,
      maximum,
      interval,
      cooldown,
      onScale: onScale ?? (() => {}),
      onError: onError ?? warnOnce(),
    });
    this.adaptive = adapter;
    adapter.start(previous?.stop());
    return { stop: () => (this.adaptive === adapter ? this.stopAdapting() : adapter.stop()) };
  }

  private async stopAdapting(): Promise<void> {
    const adapter = this.adaptive;
    this.adaptive = undefined;
    await adapter?.stop();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stopAdapting();
    await this.serial(() => stopSlurmJobs(this.name));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The default `onError` of adapt: a warning, unless it says what the last one said. */
function warnOnce(): (error: Error) => void {
  let last = '';
  return (error) => {
    const message = `fanout slurm adapt: ${describe(error)}`;
    if (message === last) return;
    last = message;
    process.emitWarning(message, { type: 'FanoutSlurmWarning' });
  };
}

interface AdapterSettings {
  readonly minimum: number;
  readonly maximum: number;
  readonly interval: number;
  readonly cooldown: number;
  readonly onScale: NonNullable<AdaptOptions['onScale']>;
  readonly onError: (error: Error) => void;
}

/** The adapt loop: each `interval`, read the depth, compare with the live jobs, grow or (after `cooldown`) shrink. */
class Adapter {
  private stopped = false;
  private wake: AbortController = new AbortController();
  private depth: QueueDepth | undefined;
  private running: Promise<void> | undefined;
  /** Since when the queue has asked for fewer workers than there are. */
  private fewerSince: number | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly settings: AdapterSettings,
  ) {}

  /** Start once `after` (the previous adapter's stop) has settled. */
  start(after?: Promise<void>): void {
    this.running = (async () => {
      await after?.catch(() => {});
      await this.loop();
    })();
  }

  /** How many workers `depth` jobs call for. */
  private wanted(depth: number): number {
    const { minimum, maximum } = this.settings;
    return Math.min(maximum, Math.max(minimum, Math.ceil(depth / this.cluster.options.cpusPerWorker)));
  }

  private async loop(): Promise<void> {
    const { url, queue, prefix } = this.cluster.options;
    while (!this.stopped) {
      try {
        this.depth ??= await queueDepth(url, queue, prefix, () => {
          // Connection errors show up as failed reads below; the client reconnects by itself.
        });
        if (this.stopped) break;
        const depth = await this.depth.read();
        await this.cluster.serial(() => this.round(depth));
      } catch (error) {
        this.report(error);
      }
      try {
        await sleep(this.settings.interval, undefined, { signal: this.wake.signal });
      } catch {
        // woken by stop()
      }
    }
  }

  /** Hand a failed round to `onError`; a throwing `onError` must not end the loop. */
  private report(error: unknown): void {
    if (this.stopped) return;
    try {
      this.settings.onError(error instanceof Error ? error : new Error(describe(error)));
    } catch {
      // the user's handler failed; the next round is still worth running
    }
  }

  private async round(depth: number): Promise<void> {
    if (this.stopped) return;
    const live = await this.cluster.liveJobs();
    const target = this.wanted(depth);
    if (target < live.length) {
      this.fewerSince ??= Date.now();
      if (Date.now() - this.fewerSince < this.settings.cooldown) return;
    }
    this.fewerSince = undefined;
    if (target === live.length) return;
    const from = await this.cluster.reconcile(target, live);
    this.settings.onScale({ from, to: target, depth });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.abort();
    // Closing the connection ends a read that waits for an absent Redis.
    await this.depth?.close();
    await this.running;
    await this.depth?.close();
  }
}

/** `slurmWorkers` itself (documented where the package exports it: slurm-workers.ts). */
export async function slurmWorkers(options: SlurmWorkersOptions): Promise<SlurmWorkers> {
  const resolved = resolveSlurmOptions(options);
  // The command that submits: missing, it is the error to give (with what to install).
  await runSlurm('sbatch', ['--version']);
  // Slurm writes the log itself, into a folder that must exist.
  try {
    mkdirSync(resolved.logDirectory, { recursive: true });
  } catch (error) {
    throw new InvalidArgValueError(
      `\`logDirectory\` ${JSON.stringify(resolved.logDirectory)} cannot be created: ${describe(error)}`,
    );
  }
  const cluster = new Cluster(resolved, graceFor(await killWaitSeconds()));
  // Checks that sbatch's companions answer (and the jobs of this name are ours) before anything is submitted.
  await cluster.serial(async () => {
    const live = await cluster.liveJobs();
    if (resolved.workers !== undefined) await cluster.reconcile(resolved.workers, live);
  });
  return cluster;
}
