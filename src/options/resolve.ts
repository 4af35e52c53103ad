/**
 * What the core's options mean together, decided once: a pool's options become the frozen
 * settings its backend is built from (what `workers` means on each backend, which options a
 * backend refuses), and a call's options become what the scheduler runs with, over its pool's
 * defaults. Each value has passed its own check in options/schema.ts first.
 */

import type { ResourceLimits } from 'node:worker_threads';
import { InvalidArgValueError } from '../errors.js';
import type { Initializer, LocalBackendName, RedisBackendOptions } from '../types.js';
import { resolveWorkers, show } from './checks.js';
import type { DashboardConfig } from './dashboard.js';
import { insideWorker } from './inside-worker.js';
import { type OptionSet, type Resolved, resolveOptions, type Specs } from './option-set.js';
import {
  type CALL_DEFAULTS,
  DEFAULT_REMOTE_WORKERS,
  LOCAL_WORKERS,
  POOL,
  REDIS,
  STOP_TIMEOUT_MS,
} from './schema.js';

/** A call's defaults, as its pool sets them (no seed: each call draws the pool's next one). */
export type CallDefaultSettings = Omit<Resolved<typeof CALL_DEFAULTS>, 'seed'>;

/** How a set of local workers behaves (what `WorkerSet` takes). */
export interface WorkerSetSettings {
  readonly size: number;
  /** Async items in flight at once per worker (`concurrentTasksPerWorker`; inline: 1, its `concurrency` is the limit). */
  readonly concurrentTasks: number;
  readonly maxTasksPerWorker: number;
  /** Recycle a worker whose heap grew past this many bytes. */
  readonly maxWorkerMemory: number;
  readonly idleTimeout: number;
  readonly abortGrace: number;
  readonly loadTimeout: number;
  readonly stopTimeout: number;
}

export type RedisSettings = Resolved<typeof REDIS.specs> & {
  readonly size: number;
  /** The pool's `abortGrace`, which each job carries to its worker. */
  readonly abortGrace: number;
};

/** A pool's settings, normalised once; the engine trusts them. */
export type PoolSettings = {
  /** The workers (or, inline, the concurrency; on redis, the batches in flight). */
  readonly workers: number;
  /** The first seed of the pool's sequence of call seeds. */
  readonly seed: number;
  readonly callDefaults: CallDefaultSettings;
  /** Where the pool's dashboard listens, when it has one. */
  readonly dashboard: DashboardConfig | undefined;
} & (
  | {
      readonly backend: LocalBackendName;
      readonly workerSet: WorkerSetSettings;
      readonly resourceLimits: ResourceLimits | undefined;
      readonly execArgv: readonly string[] | undefined;
      /** Run on every worker as it starts (its task becomes a spec where the backend opens). */
      readonly initializer: Initializer | undefined;
    }
  | { readonly backend: 'redis'; readonly redis: RedisSettings }
);

/** The keys of `resourceLimits` each local backend can apply (see `PoolOptions.resourceLimits`). */
const RESOURCE_LIMIT_KEYS: Record<LocalBackendName, readonly (keyof ResourceLimits)[]> = {
  threads: ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'],
  processes: ['maxOldGenerationSizeMb'],
  inline: [],
};

/**
 * Nested parallelism stays within the machine (joblib's rule): a pool made inside a task that
 * runs in a fanout worker starts no threads of its own unless asked, since every core already
 * runs a worker. With no `backend` it runs inline, on the worker's own thread (async tasks
 * overlapping up to `concurrency`); a local backend asked for without `workers` gets one worker.
 */
function withinWorker(input: unknown): unknown {
  if (!insideWorker() || typeof input !== 'object' || input === null) return input;
  const raw = input as Record<string, unknown>;
  if (raw.backend === undefined) return { ...raw, backend: 'inline' };
  if ((raw.backend === 'threads' || raw.backend === 'processes') && raw.workers === undefined) {
    return { ...raw, workers: 1 };
  }
  return input;
}

/** Read a pool's options (`new Pool(options)`). */
export function resolvePoolOptions(options: unknown): PoolSettings {
  const input = withinWorker(options);
  const given = resolveOptions(POOL, input);
  const raw = input as Record<string, unknown>;
  const { seed, backend, dashboard } = given;
  const callDefaults: CallDefaultSettings = Object.freeze({
    batchSize: given.batchSize,
    preDispatch: given.preDispatch,
    timeout: given.timeout,
    retries: given.retries,
    retryOn: given.retryOn,
  });
  if (typeof backend === 'object') {
    const redis = resolveRedis(backend, raw, given.abortGrace);
    return Object.freeze({ backend: 'redis', workers: redis.size, seed, callDefaults, dashboard, redis });
  }
  let workers: number;
  if (backend === 'inline') {
    if (raw.workers !== undefined) {
      throw new InvalidArgValueError(
        '`workers` does not apply to the inline backend (it runs on the main thread); use `concurrency`',
      );
    }
    if (raw.execArgv !== undefined) {
      throw new InvalidArgValueError(
        '`execArgv` does not apply to the inline backend: its tasks run on the main thread, under its own flags',
      );
    }
    if (raw.concurrentTasksPerWorker !== undefined) {
      throw new InvalidArgValueError(
        '`concurrentTasksPerWorker` does not apply to the inline backend; use `concurrency` (tasks in progress at once)',
      );
    }
    workers = given.concurrency;
  } else {
    if (raw.concurrency !== undefined) {
      throw new InvalidArgValueError(
        `\`concurrency\` applies to the inline backend only; use \`workers\` for ${backend}`,
      );
    }
    workers = resolveWorkers(given.workers);
  }
  return Object.freeze({
    backend,
    workers,
    seed,
    callDefaults,
    dashboard,
    workerSet: workerSetSettings(given, workers, backend === 'inline' ? 1 : given.concurrentTasksPerWorker),
    resourceLimits: checkResourceLimits(backend, given.resourceLimits),
    execArgv: given.execArgv,
    initializer: given.initializer,
  });
}

/**
 * A worker set's settings from the local worker options (a pool's, or the defaults for the
 * worker set a `fanout worker` runs): the one place their defaults become the engine's values.
 */
export function workerSetSettings(
  local: Resolved<typeof LOCAL_WORKERS.specs>,
  size: number,
  concurrentTasks = local.concurrentTasksPerWorker,
): WorkerSetSettings {
  return Object.freeze({
    size,
    concurrentTasks,
    maxTasksPerWorker: local.maxTasksPerWorker,
    maxWorkerMemory: local.maxWorkerMemory * 1024 * 1024,
    idleTimeout: local.idleTimeout,
    abortGrace: local.abortGrace,
    loadTimeout: local.loadTimeout,
    stopTimeout: STOP_TIMEOUT_MS,
  });
}

/** The default settings of a local worker set of `size` workers. */
export function defaultWorkerSetSettings(size: number): WorkerSetSettings {
  return workerSetSettings(resolveOptions(LOCAL_WORKERS, {}), size);
}

/** The redis backend's options, and what the pool's own options mean there. */
function resolveRedis(
  backend: RedisBackendOptions,
  pool: Record<string, unknown>,
  abortGrace: number,
): RedisSettings {
  const redis = resolveOptions(REDIS, backend, { prefix: 'backend.' });
  if (redis.tls !== undefined && !redis.redis.startsWith('rediss:')) {
    throw new InvalidArgValueError('`backend.tls` applies to rediss:// URLs only (TLS); the URL is redis://');
  }
  for (const key of LOCAL_WORKERS.keys) {
    // A cancelled job's grace is the caller's to choose: jobs carry it to the workers.
    if (key !== 'abortGrace' && pool[key] !== undefined) {
      throw new InvalidArgValueError(
        `\`${key}\` does not apply to the redis backend: its workers are \`fanout worker\` processes, ` +
          'configured by their own flags',
      );
    }
  }
  const { workers } = pool;
  if (workers !== undefined && (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 1)) {
    throw new InvalidArgValueError(
      'On the redis backend, `workers` is how many batches the cluster runs at once (the sum of the ' +
        `workers' --workers): a positive integer, got ${show(workers)}`,
    );
  }
  return Object.freeze({
    ...redis,
    size: (workers as number | undefined) ?? DEFAULT_REMOTE_WORKERS,
    abortGrace,
  });
}

/**
 * Check `resourceLimits` against what `backend` can apply: a limit it would ignore is an error,
 * so nobody believes a worker is bounded when it is not.
 */
function checkResourceLimits(
  backend: LocalBackendName,
  value: ResourceLimits | undefined,
): ResourceLimits | undefined {
  if (value === undefined) return undefined;
  const allowed = RESOURCE_LIMIT_KEYS[backend];
  const all = RESOURCE_LIMIT_KEYS.threads;
  for (const [key, limit] of Object.entries(value)) {
    if (!(all as readonly string[]).includes(key)) {
      throw new InvalidArgValueError(
        `Unknown key \`${key}\` in \`resourceLimits\` (known: ${all.join(', ')})`,
      );
    }
    if (!(allowed as readonly string[]).includes(key)) {
      throw new InvalidArgValueError(
        backend === 'inline'
          ? '`resourceLimits` does not apply to the inline backend: its tasks run on the main thread'
          : `\`resourceLimits.${key}\` cannot be applied to the ${backend} backend (only ${allowed.join(', ')} can: it becomes --max-old-space-size); use the threads backend, or a V8 flag in \`execArgv\``,
      );
    }
    if (typeof limit !== 'number' || !(limit > 0) || !Number.isFinite(limit)) {
      throw new InvalidArgValueError(
        `Expected \`resourceLimits.${key}\` to be a positive number of megabytes, got ${show(limit)}`,
      );
    }
  }
  return Object.freeze({ ...value });
}

/**
 * Read a call's options against its pool's defaults: what the caller gave, checked, and the
 * pool's value for every call default it did not give.
 */
export function resolveCallOptions<S extends Specs>(
  set: OptionSet<S>,
  input: unknown,
  defaults: CallDefaultSettings,
): Resolved<S> {
  return resolveOptions(set, input, { base: defaults as Partial<Resolved<S>> });
}
