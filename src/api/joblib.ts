/**
 * joblib's spelling: `parallel(options)(delayed(task)(...args) for each call)`, and
 * `parallelConfig(settings, fn)` for ambient defaults that follow `fn` across `await`, so a
 * library can call `parallel()` and leave the choice of backend to its user.
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import { CallSeeds } from '../data/random.js';
import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { oneOf, resolveWorkers, show } from '../options/checks.js';
import { keysMatch, optionSet, resolveOptions } from '../options/option-set.js';
import { CALL_DEFAULTS, LOCAL_BACKENDS, MAP } from '../options/schema.js';
import { assertIterable } from '../scheduler/input.js';
import { type TaskSpec, taskSpecOf } from '../tasks/task-spec.js';
import type { CallDefaults, ItemsOf, MapOptions, ProgressOptions, ProgressState } from '../types.js';
import { type CallDescription, coreOf, type PoolCore, type StartedCall } from './core.js';
import { type Delayed, type DelayedCall, isDelayed } from './dependencies.js';
import { runGraph, settledOf } from './graph.js';
import { Pool } from './pool.js';
import { collectResults, streamResults } from './results.js';

export { type Delayed, delayed } from './dependencies.js';

/** Settings `parallel()` takes, directly or from `parallelConfig`. */
export interface ParallelConfig extends CallDefaults {
  /**
   * How many workers, with joblib's meaning: a positive number, -1 every core, -2 all but one.
   * 0 is an error.
   * @default -1
   */
  nJobs?: number;
  /**
   * `'threads'`, `'processes'` or `'inline'` (joblib's `'sequential'` is `'inline'` with `nJobs: 1`).
   * @default 'threads'
   */
  backend?: 'threads' | 'processes' | 'inline';
  /**
   * joblib's verbosity: 0 prints nothing; 1 or more prints progress lines on stderr (a live
   * bar on a terminal).
   * @default 0
   */
  verbose?: number;
  /**
   * Run on this pool instead of starting one per call (joblib's `with Parallel(...) as p`).
   * @example parallelConfig({ pool }, () => library.compute())
   */
  pool?: Pool;
}

/** Options of `parallel()`. */
export interface ParallelOptions extends ParallelConfig {
  /**
   * `'array'`: a Promise of every result in order. `'generator'`: an async iterable in order.
   * `'generatorUnordered'`: an async iterable in completion order.
   * @default 'array'
   */
  returnAs?: 'array' | 'generator' | 'generatorUnordered';
  /** Abort the call (`ABORT_ERR`). */
  signal?: AbortSignal;
  /** `'fail'` (the default) or `'collect'` settled records. */
  errors?: 'fail' | 'collect';
  /** Receive progress as items finish. */
  onProgress?: (state: ProgressState) => void;
  /** Draw a progress bar on stderr. */
  progress?: boolean | ProgressOptions;
}

/** `parallel()`'s settings, wherever they are given: declared once (see options/option-set.ts). */
const CONFIG_SPECS = {
  nJobs: {
    check: (v: unknown, name: string) => {
      if (v === 0) {
        throw new InvalidArgValueError(
          `\`${name}\` is 0: use a positive number, -1 for every core or -2 for all but one`,
        );
      }
      resolveWorkers(v, name);
      return v as number;
    },
    default: -1,
    doc: "how many workers, joblib's way: -1 every core, -2 all but one",
  },
  backend: {
    check: (v: unknown, name: string) => oneOf(name, v, LOCAL_BACKENDS),
    default: 'threads',
    doc: "'threads', 'processes' or 'inline'",
  },
  verbose: {
    check: (v: unknown, name: string) => {
      if (typeof v !== 'number' || !(v >= 0)) {
        throw new InvalidArgValueError(`Expected \`${name}\` to be a number ≥ 0, got ${show(v)}`);
      }
      return v;
    },
    default: 0,
    doc: "joblib's verbosity: 1 or more prints progress on stderr",
  },
  pool: {
    check: (v: unknown, name: string) => {
      if (!coreOf(v)) throw new InvalidArgTypeError(`Expected \`${name}\` to be a Pool, got ${show(v)}`);
      return v as Pool;
    },
    doc: 'run on this pool instead of one per call',
  },
  ...CALL_DEFAULTS,
};
const CONFIG = optionSet('the parallelConfig settings', CONFIG_SPECS);
keysMatch<typeof CONFIG.specs, ParallelConfig>(true);

const PARALLEL = optionSet('the parallel() options', {
  ...CONFIG_SPECS,
  returnAs: {
    check: (v: unknown, name: string) => oneOf(name, v, ['array', 'generator', 'generatorUnordered']),
    default: 'array',
    doc: "'array', or an async iterable: 'generator' (in order), 'generatorUnordered'",
  },
  signal: MAP.specs.signal,
  errors: MAP.specs.errors,
  onProgress: MAP.specs.onProgress,
  progress: MAP.specs.progress,
});
keysMatch<typeof PARALLEL.specs, ParallelOptions>(true);

/**
 * The ambient settings, and the sequence of seeds of the scope that set a `seed`: the calls
 * inside one `parallelConfig({ seed })` are numbered together, as calls on one pool are.
 */
interface Ambient {
  readonly config: ParallelConfig;
  readonly seeds: CallSeeds | undefined;
}

const ambient = new AsyncLocalStorage<Ambient>();

/**
 * Run `fn` with `config` as the defaults of every `parallel()` call inside it, including across
 * `await`; nested calls override outer ones, and the outer settings come back on exit. A
 * `seed` here seeds the calls made inside, in the order they start: call k gets
 * `callSeed(seed, k)`, as on a pool.
 *
 * @example
 * ```ts
 * // A library calls parallel() without options; its user decides where the work runs.
 * await parallelConfig({ backend: 'processes', nJobs: 4 }, () => library.fitAll(models));
 * ```
 */
export function parallelConfig<T>(config: ParallelConfig, fn: () => T): T {
  // Checked as soon as they are given, so a bad one fails where it was written.
  const checked = resolveOptions(CONFIG, config);
  if (typeof fn !== 'function')
    throw new InvalidArgTypeError(
      `Expected parallelConfig's second argument to be a function, got ${show(fn)}`,
    );
  const outer = ambient.getStore();
  const seeds = checked.seed === undefined ? outer?.seeds : new CallSeeds(checked.seed);
  return ambient.run({ config: { ...(outer?.config ?? {}), ...config }, seeds }, fn);
}

/** The settings in effect here (explicit options win over the ambient ones). */
function effective(options: ParallelOptions): ParallelOptions {
  const merged: Record<string, unknown> = { ...(ambient.getStore()?.config ?? {}) };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) merged[key] = value;
  return merged as ParallelOptions;
}

function poolFor(settings: ParallelOptions): Pool {
  const workers = resolveWorkers(settings.nJobs ?? -1, 'nJobs');
  const backend = settings.backend ?? 'threads';
  return backend === 'inline' ? new Pool({ backend, concurrency: workers }) : new Pool({ backend, workers });
}

/**
 * The items of a parallel() call: each delayed call becomes its arguments plus the index of its
 * task in a table that grows as new tasks appear (most calls have one task).
 */
class TaskTable {
  readonly specs: TaskSpec[] = [];
  readonly names: string[] = [];
  private readonly index = new Map<unknown, number>();

  indexOf(call: Delayed): number {
    let k = this.index.get(call.task);
    if (k === undefined) {
      const { spec, name } = taskSpecOf(call.task, 'delayed');
      k = this.specs.length;
      this.specs.push(spec);
      this.names.push(name);
      this.index.set(call.task, k);
    }
    return k;
  }
}

function* checkedSync(calls: Iterable<unknown>, table: TaskTable): Generator<Delayed> {
  for (const call of calls) yield checked(call, table);
}

async function* checkedAsync(calls: AsyncIterable<unknown>, table: TaskTable): AsyncGenerator<Delayed> {
  for await (const call of calls) yield checked(call, table);
}

function checked(call: unknown, table: TaskTable): Delayed {
  if (!isDelayed(call)) {
    throw new InvalidArgTypeError(
      `parallel() expects delayed calls — delayed(task)(...args) — got ${show(call)}`,
    );
  }
  if (call.shape !== 0) {
    throw new InvalidArgValueError(
      'parallel() was given a delayed call with futures or delayed calls in its arguments (a task graph) in a stream: give the calls as an array (or use pool.compute) so the graph can be read whole',
    );
  }
  table.indexOf(call);
  return call;
}

/**
 * The result type of a delayed call; of a union of them (calls of several tasks), the union of
 * their results: `DelayedResult<Delayed<string> | Delayed<number>>` is `string | number`.
 */
export type DelayedResult<C> = C extends Delayed<infer R> ? R : never;

/**
 * What `parallel(options)` returns: call it with delayed calls. The calls may mix tasks; the
 * results are then the union of their result types. Generic over the call, not the result: a
 * result type inferred from `(Delayed<string> | Delayed<number>)[]` would have to be one of the
 * two, and the call would not type-check.
 */
export type ParallelRunner<Out> = <C extends Delayed>(
  calls: ItemsOf<C>,
) => Out extends 'array' ? Promise<DelayedResult<C>[]> : AsyncIterable<DelayedResult<C>>;

/**
 * joblib's `Parallel`: run delayed calls on every core and get their results in order.
 *
 * Without a `pool` (here or in `parallelConfig`) each call starts a pool and closes it when
 * done, as joblib does; pass a pool to reuse it across calls. With a `seed`, the runner numbers
 * its calls as a pool does: its call k draws from `callSeed(seed, k)`. The options are checked
 * here, when the runner is made.
 *
 * @example
 * ```ts
 * const temps = await parallel({ nJobs: -1 })(
 *   (function* () { for (let i = 0; i < 1_000_000; i++) yield delayed(tasks.simulate)(75, 5, 10); })(),
 * );
 * for await (const t of parallel({ returnAs: 'generatorUnordered' })(calls)) console.log(t);
 * ```
 */
export function parallel(
  options: ParallelOptions & { returnAs: 'generator' | 'generatorUnordered' },
): ParallelRunner<'generator'>;
export function parallel(options?: ParallelOptions & { returnAs?: 'array' }): ParallelRunner<'array'>;
export function parallel(options: ParallelOptions = {}): ParallelRunner<'array' | 'generator'> {
  // Checked here, when the runner is made.
  const checked = resolveOptions(PARALLEL, options);
  const { returnAs } = checked;
  // A runner given a seed numbers its own calls, as a pool does: each call draws fresh streams.
  const ownSeeds = checked.seed === undefined ? undefined : new CallSeeds(checked.seed);
  const runner = (calls: ItemsOf<unknown>) => {
    assertIterable(calls, 'calls');
    // The ambient settings are read when the call is made (inside parallelConfig), not later.
    const settings = effective(options);
    // The call's seed: from the runner's sequence, or the sequence of the parallelConfig scope
    // that set a seed; without either, the pool's own sequence (a pool of its own: a random seed).
    const seeds = ownSeeds ?? ambient.getStore()?.seeds;
    const seed = seeds?.next();
    const owned = settings.pool === undefined;
    if (Array.isArray(calls) && calls.some((call) => isDelayed(call) && call.shape !== 0)) {
      return graphRunner(calls, settings, returnAs, seed);
    }
    const pool = settings.pool ?? poolFor(settings);
    const table = new TaskTable();
    const input =
      Symbol.asyncIterator in Object(calls)
        ? checkedAsync(calls as AsyncIterable<unknown>, table)
        : checkedSync(calls as Iterable<unknown>, table);
    const mapOptions: MapOptions = {
      ...callOptionsOf(settings, pool, seed),
      ordered: returnAs !== 'generatorUnordered',
    };
    const core = coreOf(pool) as PoolCore;
    const call: CallDescription = {
      name: 'parallel',
      spread: true,
      task: undefined,
      spec: { spec: { kind: 'mixed', specs: table.specs, name: 'parallel' }, name: 'parallel' },
      items: input,
      hooks: {
        taskNameOf: (item) => table.names[table.indexOf(item as Delayed)] as string,
        argsOf: (item) => (item as Delayed).args,
        toBatch: (batch) => {
          const items = batch.map((item) => (item as Delayed).args as unknown[]);
          if (table.specs.length === 1) return { items };
          return { items, taskIndex: Int32Array.from(batch, (item) => table.indexOf(item as Delayed)) };
        },
      },
    };
    let start: () => StartedCall;
    try {
      start = core.prepare(call, mapOptions);
    } catch (error) {
      if (owned) void pool.close();
      throw error;
    }
    const release = () => (owned ? pool.close() : Promise.resolve());
    if (returnAs === 'array') {
      const results = collectResults(start());
      core.track(results);
      return results.finally(release);
    }
    const stream = streamResults(start, core);
    return {
      async *[Symbol.asyncIterator]() {
        try {
          yield* stream;
        } finally {
          await release();
        }
      },
    };
  };
  return runner as ParallelRunner<'array' | 'generator'>;
}

/** The options of the pool call a parallel() call makes, from its settings (a graph's and a map's alike). */
function callOptionsOf(settings: ParallelOptions, pool: Pool, seed: number | undefined): MapOptions {
  return {
    errors: settings.errors,
    signal: settings.signal,
    onProgress: settings.onProgress,
    progress:
      settings.progress ??
      ((settings.verbose ?? 0) > 0 ? { label: `parallel(nJobs=${pool.workers})` } : undefined),
    batchSize: settings.batchSize,
    preDispatch: settings.preDispatch,
    timeout: settings.timeout,
    retries: settings.retries,
    retryOn: settings.retryOn,
    seed,
  };
}

/**
 * parallel() over delayed calls some of which have delayed calls (or futures) as arguments: a
 * task graph, run by the graph scheduler (api/graph.ts); its results are the given calls'
 * values, in order. A stream (`returnAs: 'generator'`) yields them once the graph is done.
 */
function graphRunner(
  calls: readonly unknown[],
  settings: ParallelOptions,
  returnAs: string,
  seed: number | undefined,
): Promise<unknown[]> | AsyncIterable<unknown> {
  const roots = calls.map((call) => {
    if (!isDelayed(call)) {
      throw new InvalidArgTypeError(
        `parallel() expects delayed calls — delayed(task)(...args) — got ${show(call)}`,
      );
    }
    return call as DelayedCall;
  });
  const owned = settings.pool === undefined;
  const pool = settings.pool ?? poolFor(settings);
  const core = coreOf(pool) as PoolCore;
  const collect = settings.errors === 'collect';
  const options = callOptionsOf(settings, pool, seed);
  let results: Promise<unknown[]>;
  try {
    results = runGraph(core, roots, options, 'parallel').then((outcomes) =>
      outcomes.map((outcome) => (collect ? settledOf(outcome) : (outcome as { value: unknown }).value)),
    );
  } catch (error) {
    results = Promise.reject(error);
  }
  const finished = results.finally(() => (owned ? pool.close() : undefined));
  if (returnAs === 'array') return finished;
  return {
    async *[Symbol.asyncIterator]() {
      yield* await finished;
    },
  };
}
