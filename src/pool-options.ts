/**
 * The options of pools and calls: their types (documented where users see them) and their
 * validation, done once at the facade so the engine can trust what it gets.
 */

import type { ResourceLimits } from 'node:worker_threads';
import type { LocalBackendName } from './backends/backend.js';
import type { RedisBackendOptions } from './backends/redis/options.js';
import { InvalidArgTypeError, InvalidArgValueError } from './errors.js';
import type { DashboardOptions } from './observe/dashboard/config.js';
import type { ProgressOptions, ProgressState } from './observe/progress.js';
import { autoOrPositiveInteger, duration, nonNegativeInteger, oneOf, show } from './options.js';
import { checkSeed } from './random.js';
import type { BatchTrace } from './scheduler/call.js';
import type { AnyFunction, TaskRef } from './tasks.js';

/** Options of a pool; the call options among them are defaults for every call. */
export interface PoolOptions extends CallDefaults {
  /**
   * Where tasks run: `'threads'` (worker_threads), `'processes'` (child processes), `'inline'`
   * (the main thread, for async I/O-bound work), or `{ redis: URL }`: `fanout worker` processes
   * on any machine, through a Redis queue (see `RedisBackendOptions`).
   * @default 'threads'
   * @example new Pool({ backend: 'processes' })
   * @example new Pool({ backend: { redis: 'redis://localhost:6379' }, workers: 16 })
   */
  backend?: LocalBackendName | RedisBackendOptions;
  /**
   * How many workers: a positive integer up to 16 per core (more is refused with
   * `ERR_INVALID_ARG_VALUE`), `'auto'` (every core), or joblib's negative form (-1 every core,
   * -2 all but one). Workers start only when there is work for them. On the redis backend: how
   * many batches the cluster runs at once, the sum of the `--workers` of its `fanout worker`
   * processes (a positive integer, default 8).
   * @default 'auto'
   * @example new Pool({ workers: -2 })
   */
  workers?: number | 'auto';
  /**
   * Inline backend only: how many tasks may be in progress at once (async tasks overlap).
   * @default 1
   * @example new Pool({ backend: 'inline', concurrency: 32 })
   */
  concurrency?: number;
  /**
   * Replace a worker after it has run this many items (frees what a task leaks).
   * @default Infinity
   */
  maxTasksPerWorker?: number;
  /**
   * Replace a worker whose JavaScript heap grew past this many megabytes (checked between batches).
   * @default Infinity
   */
  maxWorkerMemory?: number;
  /**
   * Stop a worker idle for this many ms (a new one starts on demand).
   * @default Infinity
   */
  idleTimeout?: number;
  /**
   * After a cancel or abort, how long (ms) a running task has to notice its signal before its
   * worker is replaced.
   * @default 1000
   */
  abortGrace?: number;
  /**
   * How long (ms) a task module may take to import in a worker before the call fails with
   * `ERR_TASK_MODULE_LOAD`.
   * @default 60000
   */
  loadTimeout?: number;
  /**
   * The V8 limits of each worker (an out-of-memory worker crashes with `ERR_WORKER_CRASHED`,
   * the pool survives). Threads: every key of Node's `ResourceLimits`. Processes: only
   * `maxOldGenerationSizeMb` (given to the child as `--max-old-space-size`); the other keys
   * have no equivalent there and are refused. Inline: refused (no worker of its own).
   * @example new Pool({ resourceLimits: { maxOldGenerationSizeMb: 256 } })
   */
  resourceLimits?: ResourceLimits;
  /**
   * Extra Node.js flags for each worker, after the parent's own.
   * @example new Pool({ backend: 'processes', execArgv: ['--max-old-space-size=512'] })
   */
  execArgv?: string[];
  /**
   * Serve a live dashboard of the pool's workers, calls and errors (and `/api/state`,
   * `/metrics`), and print its URL on stderr. `true`: on 127.0.0.1:8787 (any free port when
   * 8787 is taken). Any address but loopback needs a token, generated when not given; the URL
   * printed carries it. The server closes with the pool and never keeps the process alive.
   * @default false
   * @example new Pool({ dashboard: true })
   * @example new Pool({ dashboard: { port: 0 } }) // any free port: `await pool.dashboard?.url()`
   */
  dashboard?: boolean | DashboardOptions;
}

/** The keys of `resourceLimits` each local backend can apply (see `PoolOptions.resourceLimits`). */
const RESOURCE_LIMIT_KEYS: Record<LocalBackendName, readonly (keyof ResourceLimits)[]> = {
  threads: ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'],
  processes: ['maxOldGenerationSizeMb'],
  inline: [],
};

/**
 * Check `resourceLimits` against what `backend` can apply: a limit it would ignore is an error,
 * so nobody believes a worker is bounded when it is not.
 */
export function resolveResourceLimits(backend: LocalBackendName, value: unknown): ResourceLimits | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgTypeError(`Expected \`resourceLimits\` to be an object, got ${show(value)}`);
  }
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
  return value as ResourceLimits;
}

/** Options every call accepts; set on the pool, they are the defaults. */
export interface CallDefaults {
  /**
   * Items per batch: `'auto'` (adaptive, aiming at 50–500 ms per batch) or a fixed positive integer.
   * @default 'auto'
   */
  batchSize?: number | 'auto';
  /**
   * How many batches may be dispatched ahead of the results consumed (bounds what is read
   * from the input). `'auto'`: twice the batches in flight.
   * @default 'auto'
   */
  preDispatch?: number | 'auto';
  /**
   * Per-item time limit in ms, counted from when the item starts running. Past it the item
   * fails with `ERR_TASK_TIMEOUT` and its worker is replaced.
   * @default undefined (no limit)
   */
  timeout?: number;
  /**
   * How many times to re-run an item whose worker died (crash or timeout). Delivery is then
   * at-least-once: make such tasks idempotent.
   * @default 0
   */
  retries?: number;
  /**
   * What `retries` applies to: `'crash'` (the worker died or timed out) or `'error'` (also
   * tasks that threw).
   * @default 'crash'
   */
  retryOn?: 'crash' | 'error';
  /**
   * Seed of `taskContext().random()`. On a pool: the seed of its sequence of calls, where call k
   * (counted from 0 as calls start) draws from `callSeed(seed, k)`, so every call gets fresh
   * streams and the same calls in the same order get the same ones. On a call: that call's
   * seed, used as it is. Item i of a call whose seed is s draws from `randomStream(s, i)`.
   * @default a random seed per pool (`pool.seed` says which)
   * @example new Pool({ seed: 42 })
   * @example pool.map(tasks.simulate, items, { seed: 42 })
   */
  seed?: number;
}

/** Options of one call (`map`, `imap`, `run`, ...). */
export interface CallOptionsInput extends CallDefaults {
  /**
   * Abort the call: queued items are dropped, running tasks see `taskContext().signal` abort,
   * the call rejects with `AbortError` (`ABORT_ERR`).
   */
  signal?: AbortSignal;
  /**
   * Called as items finish (and as tasks report partial progress), with counts, rate and ETA.
   * @example pool.map(tasks.f, xs, { onProgress: ({ done, total, etaMs }) => log(done, total, etaMs) })
   */
  onProgress?: (state: ProgressState) => void;
  /**
   * Draw a progress bar on stderr (a live bar on a terminal, a line now and then elsewhere).
   * @default false
   * @example pool.map(tasks.f, xs, { progress: true })
   */
  progress?: boolean | ProgressOptions;
  /**
   * Values an inline function needs, passed to it as its last argument (a task reads them
   * with `taskContext().context`). Plain data; sent with each batch.
   * @example pool.map((x, ctx) => x * ctx.factor, xs, { context: { factor: 3 } })
   */
  context?: unknown;
  /**
   * Record a trace of the call and write it to this file when the call ends: Chrome's Trace
   * Event format, one track per worker, a span per batch and per task (open it in Perfetto).
   * @example pool.map(tasks.f, xs, { trace: 'trace.json' })
   */
  trace?: string;
  /**
   * Called as each batch finishes: which worker ran it, when, for how long, which items. For
   * dashboards and reports; `trace` writes the same to a file.
   * @example pool.map(tasks.f, xs, { onBatch: (b) => histogram.record(b.duration) })
   */
  onBatch?: (batch: BatchTrace) => void;
}

/** Options of `map`/`imap` and their star forms. */
export interface MapOptions extends CallOptionsInput {
  /**
   * `imap`: yield results in input order (`true`) or as they complete (`false`).
   * @default true
   */
  ordered?: boolean;
  /**
   * `'fail'`: the first error rejects the call and stops it. `'collect'`: settle every item,
   * returning `{ status: 'fulfilled', value } | { status: 'rejected', reason }` records.
   * @default 'fail'
   */
  errors?: 'fail' | 'collect';
}

/** The same options with `errors: 'collect'`, which changes the result type. */
export type CollectOptions = MapOptions & { errors: 'collect' };

export type ItemsOf<T> = Iterable<T> | AsyncIterable<T>;
export type Task<F extends AnyFunction> = TaskRef<F> | F;

export const CALL_DEFAULT_KEYS = [
  'batchSize',
  'preDispatch',
  'timeout',
  'retries',
  'retryOn',
  'seed',
] as const;
/** Pool options that configure local workers (a redis pool has none of its own). */
export const LOCAL_WORKER_KEYS = [
  'concurrency',
  'maxTasksPerWorker',
  'maxWorkerMemory',
  'idleTimeout',
  'abortGrace',
  'loadTimeout',
  'resourceLimits',
  'execArgv',
] as const;
export const POOL_KEYS = [...CALL_DEFAULT_KEYS, 'backend', 'workers', 'dashboard', ...LOCAL_WORKER_KEYS];
export const CALL_KEYS = [
  ...CALL_DEFAULT_KEYS,
  'signal',
  'onProgress',
  'progress',
  'context',
  'trace',
  'onBatch',
];
export const MAP_KEYS = [...CALL_KEYS, 'ordered', 'errors'];

export interface ResolvedDefaults {
  batchSize: number | 'auto';
  preDispatch: number | 'auto';
  timeout: number | undefined;
  retries: number;
  retryOn: 'crash' | 'error';
  seed: number;
}

export function resolveDefaults(input: CallDefaults, base: ResolvedDefaults): ResolvedDefaults {
  return {
    batchSize:
      input.batchSize === undefined ? base.batchSize : autoOrPositiveInteger('batchSize', input.batchSize),
    preDispatch:
      input.preDispatch === undefined
        ? base.preDispatch
        : autoOrPositiveInteger('preDispatch', input.preDispatch),
    timeout: input.timeout === undefined ? base.timeout : duration('timeout', input.timeout),
    retries: input.retries === undefined ? base.retries : nonNegativeInteger('retries', input.retries),
    retryOn: input.retryOn === undefined ? base.retryOn : oneOf('retryOn', input.retryOn, ['crash', 'error']),
    seed: input.seed === undefined ? base.seed : checkSeed('seed', input.seed),
  };
}
