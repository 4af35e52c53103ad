/**
 * Every option of fanout's core, declared once: its key, what its value may be (the check, which
 * also says the type), its default, unit, a line of doc, and the command-line flag that sets it.
 * The option sets are built from these declarations, and their keys are the declarations' own
 * (`keysMatch` makes the compiler hold each set to its public interface in types.ts). What an
 * option means on one backend or next to another is decided in options/resolve.ts.
 *
 * Sets that belong to one API or program are declared the same way beside it (parallel() in
 * api/joblib.ts, `fanout worker` in cli/worker.ts, slurmWorkers in cluster/, the chunk sources in
 * chunks/sources.ts).
 */

import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { ResourceLimits } from 'node:worker_threads';
import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import type {
  ActorCallOptions,
  ActorOptions,
  BatchTrace,
  CallOptionsInput,
  Initializer,
  LocalBackendName,
  MapOptions,
  PoolOptions,
  ProgressOptions,
  ProgressState,
  RedisBackendOptions,
  ReduceChunksOptions,
  SpmdOptions,
} from '../types.js';
import {
  abortSignal,
  autoOrPositiveInteger,
  boolean,
  checkSeed,
  duration,
  freshSeed,
  func,
  keyPartProblem,
  megabytes,
  nonNegativeInteger,
  oneOf,
  outputFile,
  positiveInteger,
  redisUrlProblem,
  show,
  stringArray,
} from './checks.js';
import { type DashboardConfig, resolveDashboardOption } from './dashboard.js';
import { keysMatch, type OptionSpec, optionSet } from './option-set.js';

/** The backends that run on this machine, as `backend` names them. */
export const LOCAL_BACKENDS: readonly LocalBackendName[] = ['threads', 'processes', 'inline'];

/** Batches in flight on the redis backend when the pool does not say (`workers`). */
export const DEFAULT_REMOTE_WORKERS = 8;

/**
 * Async tasks one thread or process keeps in progress at once when the pool does not say: as
 * many as the batches that may wait in a worker's queue (an I/O-bound task mostly awaits).
 */
export const DEFAULT_CONCURRENT_TASKS = 16;

/** How long a stopping worker may take to leave before it is killed (not an option). */
export const STOP_TIMEOUT_MS = 5000;

const anything = (value: unknown): unknown => value;

/** An object (not null, not an array), checked no further here. */
function object<T>(name: string, value: unknown): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgTypeError(`Expected \`${name}\` to be an object, got ${show(value)}`);
  }
  return value as T;
}

/** A spec's check made of a "what is wrong" function: `Expected \`name\` to be <problem>`. */
function fromProblem(problem: (value: unknown) => string | undefined) {
  return {
    check: (value: unknown, name: string): string => {
      const what = problem(value);
      if (what === undefined) return value as string;
      const Err = typeof value === 'string' ? InvalidArgValueError : InvalidArgTypeError;
      throw new Err(`Expected \`${name}\` to be ${what}`);
    },
    problem,
  };
}

// ---- what every call takes, and a pool sets as defaults ---------------------------------------

const batchSize = {
  check: (v: unknown, name: string) => autoOrPositiveInteger(name, v),
  default: 'auto',
  unit: 'items',
  doc: "items per batch ('auto': adaptive, 50–500 ms of work each)",
  flag: { name: 'batch-size', kind: 'count' },
} satisfies OptionSpec<number | 'auto'>;

const preDispatch = {
  check: (v: unknown, name: string) => autoOrPositiveInteger(name, v),
  default: 'auto',
  unit: 'batches',
  doc: 'batches dispatched ahead of the results consumed',
} satisfies OptionSpec<number | 'auto'>;

const timeout = {
  check: (v: unknown, name: string) => duration(name, v),
  unit: 'ms',
  doc: 'per-item time limit',
  flag: { name: 'timeout', kind: 'ms' },
} satisfies OptionSpec<number>;

const retries = {
  check: (v: unknown, name: string) => nonNegativeInteger(name, v),
  default: 0,
  doc: 're-runs of an item whose worker died',
  flag: { name: 'retries', kind: 'integer' },
} satisfies OptionSpec<number>;

const retryOn = {
  check: (v: unknown, name: string) => oneOf(name, v, ['crash', 'error']),
  default: 'crash',
  doc: "what `retries` applies to: 'crash', or 'error' (also tasks that threw)",
} satisfies OptionSpec<'crash' | 'error'>;

/** A call's seed: given, or (undefined) the pool's next one, drawn as the call starts. */
const callSeed = {
  check: (v: unknown, name: string) => checkSeed(name, v),
  doc: 'seed of taskContext().random()',
  flag: { name: 'seed', kind: 'integer' },
} satisfies OptionSpec<number>;

/** The call options a pool sets as defaults for its calls. */
export const CALL_DEFAULTS = { batchSize, preDispatch, timeout, retries, retryOn, seed: callSeed };

// ---- pools ----------------------------------------------------------------------------------

/** Pool options that configure the pool's own local workers (the redis backend refuses them). */
export const LOCAL_WORKERS = optionSet('the local worker options', {
  concurrency: {
    check: (v: unknown, name: string) => positiveInteger(name, v),
    default: 1,
    doc: 'inline backend: tasks in progress at once',
  },
  concurrentTasksPerWorker: {
    check: (v: unknown, name: string) => positiveInteger(name, v),
    default: DEFAULT_CONCURRENT_TASKS,
    unit: 'tasks',
    doc: 'threads/processes: async tasks in progress at once per worker',
    // `fanout worker` sets it for its threads (the redis backend refuses it in a pool's options).
    flag: { name: 'concurrent-tasks-per-worker', kind: 'count' },
  },
  maxTasksPerWorker: {
    check: (v: unknown, name: string) => positiveInteger(name, v),
    default: Number.POSITIVE_INFINITY,
    unit: 'items',
    doc: 'replace a worker after it ran this many items',
  },
  maxWorkerMemory: {
    check: (v: unknown, name: string) => megabytes(name, v),
    default: Number.POSITIVE_INFINITY,
    unit: 'MB',
    doc: 'replace a worker whose heap grew past this',
  },
  idleTimeout: {
    check: (v: unknown, name: string) => duration(name, v, { infinity: true }),
    default: Number.POSITIVE_INFINITY,
    unit: 'ms',
    doc: 'stop a worker idle for this long',
  },
  abortGrace: {
    check: (v: unknown, name: string) => duration(name, v),
    default: 1000,
    unit: 'ms',
    doc: 'how long a cancelled task has to stop before its worker is replaced',
  },
  loadTimeout: {
    check: (v: unknown, name: string) => duration(name, v),
    default: 60_000,
    unit: 'ms',
    doc: 'how long a task module may take to import',
  },
  resourceLimits: {
    check: (v: unknown, name: string) => object<ResourceLimits>(name, v),
    doc: 'V8 limits of each worker (checked against the backend in resolve.ts)',
  },
  execArgv: {
    check: (v: unknown, name: string) => stringArray(name, v),
    doc: 'extra Node.js flags of each worker',
  },
  initializer: {
    check: (v: unknown, name: string) => initializer(name, v),
    doc: 'a task run on every worker as it starts, before other work',
  },
});

/** `{ task, args? }`: the task is checked as any task is, when the backend opens (api/backends.ts). */
function initializer(name: string, value: unknown): Initializer {
  const given = object<{ task?: unknown; args?: unknown }>(name, value);
  for (const key of Object.keys(given)) {
    if (key !== 'task' && key !== 'args') {
      throw new InvalidArgValueError(`Unknown key \`${key}\` in \`${name}\` (expected { task, args? })`);
    }
  }
  if (typeof given.task !== 'function') {
    throw new InvalidArgTypeError(
      `Expected \`${name}.task\` to be a task (from defineTasks) or a function, got ${show(given.task)}`,
    );
  }
  if (given.args !== undefined && !Array.isArray(given.args)) {
    throw new InvalidArgTypeError(
      `Expected \`${name}.args\` to be an array of arguments, got ${show(given.args)}`,
    );
  }
  return Object.freeze({
    task: given.task as Initializer['task'],
    args: Object.freeze([...(given.args ?? [])]),
  });
}

export const POOL = optionSet('the Pool options', {
  ...CALL_DEFAULTS,
  // A pool's seed starts its sequence of call seeds: given, or drawn at random.
  seed: { ...callSeed, defaultOf: freshSeed, flag: undefined },
  backend: {
    check: (v: unknown, name: string) =>
      typeof v === 'object' && v !== null
        ? object<RedisBackendOptions>(name, v)
        : oneOf(name, v, LOCAL_BACKENDS),
    default: 'threads',
    doc: "where tasks run: 'threads', 'processes', 'inline', or { redis: URL }",
    flag: { name: 'backend', kind: 'choice' },
    choices: LOCAL_BACKENDS,
  } satisfies OptionSpec<LocalBackendName | RedisBackendOptions>,
  workers: {
    check: (v: unknown, name: string) => {
      if (v === 'auto' || typeof v === 'number') return v;
      throw new InvalidArgTypeError(`Expected ${WORKERS_EXPECTED(name)}, got ${show(v)}`);
    },
    doc: 'how many workers (on redis: batches the cluster runs at once)',
    flag: { name: 'workers', kind: 'workers' },
  } satisfies OptionSpec<number | 'auto'>,
  dashboard: {
    check: (v: unknown, name: string) => resolveDashboardOption(v, name),
    doc: 'serve a live dashboard of the pool (true, or { port, host, token })',
  } satisfies OptionSpec<DashboardConfig | undefined>,
  ...LOCAL_WORKERS.specs,
});
keysMatch<typeof POOL.specs, PoolOptions>(true);

/** What `workers` may be on a local backend (the start of its messages). */
export function WORKERS_EXPECTED(name: string): string {
  return `\`${name}\` to be a positive integer, 'auto' or a negative integer (-1 for every core, -2 for all but one)`;
}

export const REDIS = optionSet('the redis backend options', {
  redis: {
    ...fromProblem(redisUrlProblem),
    required: true as const,
    doc: 'the Redis server: redis:// or rediss:// URL',
    flag: { name: 'redis', kind: 'text' },
  },
  queue: {
    ...fromProblem(keyPartProblem),
    default: 'fanout',
    doc: 'the queue callers and workers meet on',
    flag: { name: 'queue', kind: 'text' },
  },
  prefix: {
    ...fromProblem(keyPartProblem),
    default: 'fanout',
    doc: 'prefix of every Redis key of the queue',
    flag: { name: 'prefix', kind: 'text' },
  },
  tls: {
    check: (v: unknown, name: string) => object<TlsOptions>(name, v),
    doc: 'TLS options of a rediss:// URL',
  },
  unavailableTimeout: {
    check: (v: unknown, name: string) => duration(name, v),
    default: 30_000,
    unit: 'ms',
    doc: 'how long Redis may stay away while work is pending',
  },
  checkInterval: {
    check: (v: unknown, name: string) => duration(name, v),
    default: 1000,
    unit: 'ms',
    doc: 'how often pending jobs are looked up by id',
  },
});
keysMatch<typeof REDIS.specs, RedisBackendOptions>(true);

// ---- calls ----------------------------------------------------------------------------------

const onProgress = {
  check: (v: unknown, name: string) => func<(state: ProgressState) => void>(name, v),
  doc: 'called as items finish, with counts, rate and ETA',
} satisfies OptionSpec<(state: ProgressState) => void>;

const progress = {
  check: (v: unknown, name: string): boolean | ProgressOptions => {
    if (typeof v === 'boolean' || (typeof v === 'object' && v !== null))
      return v as boolean | ProgressOptions;
    throw new InvalidArgTypeError(`Expected \`${name}\` to be a boolean or progress options, got ${show(v)}`);
  },
  default: false,
  doc: 'draw a progress bar on stderr',
} satisfies OptionSpec<boolean | ProgressOptions>;

const signal = {
  check: (v: unknown, name: string) => abortSignal(name, v),
  doc: 'abort the call',
} satisfies OptionSpec<AbortSignal>;

const ordered = {
  check: (v: unknown, name: string) => boolean(name, v),
  default: true,
  doc: 'results in input order (true) or as they complete',
} satisfies OptionSpec<boolean>;

export const CALL = optionSet('the call options', {
  ...CALL_DEFAULTS,
  signal,
  onProgress,
  progress,
  context: {
    check: anything,
    doc: 'values an inline function needs (its last argument; taskContext().context)',
  },
  trace: {
    check: (v: unknown, name: string) => outputFile(name, v),
    doc: 'write a Chrome trace of the call to this file',
    flag: { name: 'trace', kind: 'text' },
  },
  onBatch: {
    check: (v: unknown, name: string) => func<(batch: BatchTrace) => void>(name, v),
    doc: 'called as each batch finishes',
  },
});
keysMatch<typeof CALL.specs, CallOptionsInput>(true);

/** An actor's options (`pool.actorWith`). */
export const ACTOR = optionSet('the actor options', {
  maxRestarts: {
    check: (v: unknown, name: string) => nonNegativeInteger(name, v),
    default: 0,
    doc: 'rebuild an actor whose worker died this many times (its state is lost)',
  },
});
keysMatch<typeof ACTOR.specs, ActorOptions>(true);

/** The options of one actor method call (`handle.withOptions`): what applies to a single call on a given worker. */
export const ACTOR_CALL = optionSet('the actor call options', { timeout, signal });
keysMatch<typeof ACTOR_CALL.specs, ActorCallOptions>(true);

/** The options of `pool.spmd`: how many ranks, and what applies to the whole group. */
export const SPMD = optionSet('the spmd options', {
  ranks: {
    check: (v: unknown, name: string) => positiveInteger(name, v),
    doc: "how many ranks, one worker each (default: the pool's workers)",
  } satisfies OptionSpec<number>,
  timeout: { ...timeout, doc: 'time limit of the whole group' },
  signal: { ...signal, doc: 'abort the whole group' },
});
keysMatch<typeof SPMD.specs, SpmdOptions>(true);

export const MAP = optionSet('the call options', {
  ...CALL.specs,
  ordered,
  errors: {
    check: (v: unknown, name: string) => oneOf(name, v, ['fail', 'collect']),
    default: 'fail',
    doc: "'fail' at the first error, or 'collect' every outcome",
    flag: { name: 'errors', kind: 'choice' },
    choices: ['fail', 'collect'],
  } satisfies OptionSpec<'fail' | 'collect'>,
});
keysMatch<typeof MAP.specs, MapOptions>(true);

export const REDUCE_CHUNKS = optionSet('the reduceChunks options', {
  map: { check: anything, doc: 'the task applied to each chunk, in a worker' },
  combine: {
    check: (v: unknown, name: string) => {
      if (typeof v === 'function') return v as (accumulator: unknown, partial: unknown) => unknown;
      throw new InvalidArgTypeError(
        `Expected \`${name}\` to be a function (accumulator, partial) => accumulator, got ${show(v)}`,
      );
    },
    required: true as const,
    doc: 'folds a partial result into the accumulator, in the caller',
  },
  initial: { check: anything, doc: 'the accumulator before the first partial result' },
  chunkBytes: {
    check: (v: unknown, name: string) => positiveInteger(name, v),
    unit: 'bytes',
    doc: 'file sources: the size of each chunk',
  },
  ordered: { ...ordered, doc: 'combine in the order of the chunks (true) or as they finish' },
  prefetch: {
    check: (v: unknown, name: string) => nonNegativeInteger(name, v),
    unit: 'chunks',
    doc: 'chunks dispatched beyond one per worker (default: the number of workers)',
  },
  signal,
  onProgress,
  progress,
  timeout,
  retries,
  retryOn,
  seed: callSeed,
});
keysMatch<typeof REDUCE_CHUNKS.specs, ReduceChunksOptions<unknown, unknown, unknown>>(true);
