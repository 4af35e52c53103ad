/**
 * Pool: the public facade. It validates options once, owns one backend's workers and runs each
 * call through the scheduler.
 */

import type { ResourceLimits } from 'node:worker_threads';
import type { LocalBackend, LocalBackendName } from './backends/backend.js';
import { inlineBackend } from './backends/inline.js';
import { processesBackend } from './backends/processes.js';
import { RedisEngine } from './backends/redis/engine.js';
import { isRedisBackend, resolveRedisOptions } from './backends/redis/options.js';
import { threadsBackend } from './backends/threads.js';
import type { BroadcastHandle } from './broadcast.js';
import { type ReduceChunksOptions, reduceChunks } from './chunks/reduce.js';
import type { ChunkSource } from './chunks/types.js';
import { containsSharedMemory, findUncloneable } from './codec/cloneable.js';
import { WorkerSet } from './dispatch/worker-set.js';
import { InvalidArgTypeError, InvalidArgValueError, NotCloneableError, PoolClosedError } from './errors.js';
import { TaskFuture } from './futures.js';
import { type DashboardHandle, DashboardPlan, type PoolDashboard } from './observe/dashboard/plan.js';
import {
  checkKnownKeys,
  duration,
  megabytes,
  oneOf,
  positiveInteger,
  resolveWorkers,
  show,
} from './options.js';
import {
  CALL_KEYS,
  type CallOptionsInput,
  type CollectOptions,
  type ItemsOf,
  MAP_KEYS,
  type MapOptions,
  POOL_KEYS,
  type PoolOptions,
  type ResolvedDefaults,
  resolveDefaults,
  resolveResourceLimits,
  type Task,
} from './pool-options.js';
import { type CallSetup, prepareCall, type StartedCall } from './prepare-call.js';
import { CallSeeds, freshSeed } from './random.js';
import type { Settled } from './scheduler/call.js';
import type { Engine } from './scheduler/types.js';
import type { AnyFunction } from './tasks.js';

/** Internal entry points for the rest of fanout (symbols, so they stay off the public surface). */
export const callSetup = Symbol('fanout.callSetup');
export const trackCall = Symbol('fanout.trackCall');

function initialDefaults(): ResolvedDefaults {
  return {
    batchSize: 'auto',
    preDispatch: 'auto',
    timeout: undefined,
    retries: 0,
    retryOn: 'crash',
    seed: freshSeed(),
  };
}

function makeBackend(
  name: LocalBackendName,
  execArgv: string[] | undefined,
  resourceLimits: ResourceLimits | undefined,
): LocalBackend {
  switch (name) {
    case 'threads':
      return threadsBackend({ resourceLimits, execArgv });
    case 'processes':
      // The one limit a process can take (see resolveResourceLimits).
      return processesBackend({ execArgv, maxOldSpaceMb: resourceLimits?.maxOldGenerationSizeMb });
    case 'inline':
      return inlineBackend();
  }
}

/**
 * A pool of workers that runs tasks in parallel: `run` one task, `map`/`starmap` many into an
 * array, `imap`/`istarmap` many as a stream.
 *
 * @example
 * ```ts
 * import { Pool } from 'fanout';
 * import tasks from './tasks.js';
 *
 * await using pool = new Pool({ workers: -1 });
 * const squares = await pool.map(tasks.square, [1, 2, 3]);          // [1, 4, 9]
 * for await (const title of pool.imap(tasks.fetchTitle, urls, { ordered: false })) console.log(title);
 * ```
 */
export class Pool {
  /** The number of workers (or, inline, the concurrency). */
  readonly workers: number;
  /** The backend's name. */
  readonly backend: LocalBackendName | 'redis';
  readonly #engine: Engine;
  readonly #defaults: ResolvedDefaults;
  readonly #seeds: CallSeeds;
  readonly #active = new Set<Promise<unknown>>();
  readonly #dashboard: PoolDashboard | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * @example
   * ```ts
   * const pool = new Pool();                                   // threads, every core
   * const io = new Pool({ backend: 'inline', concurrency: 16 }); // async I/O on the main thread
   * const isolated = new Pool({ backend: 'processes', workers: 4, timeout: 10_000 });
   * ```
   */
  constructor(options: PoolOptions = {}) {
    checkKnownKeys('the Pool options', options, POOL_KEYS);
    const dashboard = DashboardPlan.configure(options.dashboard);
    if (isRedisBackend(options.backend)) {
      const redis = resolveRedisOptions(options.backend, options as Record<string, unknown>);
      this.backend = 'redis';
      this.workers = redis.size;
      this.#defaults = resolveDefaults(options, initialDefaults());
      this.#seeds = new CallSeeds(this.#defaults.seed);
      this.#engine = new RedisEngine(redis);
      this.#dashboard = dashboard?.start(this.backend, this.workers, redis);
      return;
    }
    this.backend =
      options.backend === undefined
        ? 'threads'
        : oneOf('backend', options.backend, ['threads', 'processes', 'inline']);
    if (this.backend === 'inline') {
      if (options.workers !== undefined) {
        throw new InvalidArgValueError(
          '`workers` does not apply to the inline backend (it runs on the main thread); use `concurrency`',
        );
      }
      this.workers =
        options.concurrency === undefined ? 1 : positiveInteger('concurrency', options.concurrency);
    } else {
      if (options.concurrency !== undefined) {
        throw new InvalidArgValueError(
          `\`concurrency\` applies to the inline backend only; use \`workers\` for ${this.backend}`,
        );
      }
      this.workers = resolveWorkers(options.workers);
    }
    if (
      options.execArgv !== undefined &&
      (!Array.isArray(options.execArgv) || options.execArgv.some((a) => typeof a !== 'string'))
    ) {
      throw new InvalidArgTypeError(
        `Expected \`execArgv\` to be an array of strings, got ${show(options.execArgv)}`,
      );
    }
    if (this.backend === 'inline' && options.execArgv !== undefined) {
      throw new InvalidArgValueError(
        '`execArgv` does not apply to the inline backend: its tasks run on the main thread, under its own flags',
      );
    }
    const resourceLimits = resolveResourceLimits(this.backend, options.resourceLimits);
    this.#defaults = resolveDefaults(options, initialDefaults());
    this.#seeds = new CallSeeds(this.#defaults.seed);
    const maxWorkerMemoryMb =
      options.maxWorkerMemory === undefined
        ? Infinity
        : megabytes('maxWorkerMemory', options.maxWorkerMemory);
    this.#engine = new WorkerSet(makeBackend(this.backend, options.execArgv, resourceLimits), {
      size: this.workers,
      maxTasksPerWorker:
        options.maxTasksPerWorker === undefined
          ? Infinity
          : positiveInteger('maxTasksPerWorker', options.maxTasksPerWorker),
      maxWorkerMemory: maxWorkerMemoryMb * 1024 * 1024,
      idleTimeout:
        options.idleTimeout === undefined
          ? Infinity
          : duration('idleTimeout', options.idleTimeout, { infinity: true }),
      abortGrace: options.abortGrace === undefined ? 1000 : duration('abortGrace', options.abortGrace),
      loadTimeout: options.loadTimeout === undefined ? 60_000 : duration('loadTimeout', options.loadTimeout),
      stopTimeout: 5000,
      observer: dashboard?.workers,
    });
    this.#dashboard = dashboard?.start(this.backend, this.workers);
  }

  /**
   * The pool's seed: its `seed` option, or the one drawn at random when it had none. Call k
   * started on the pool (counting from 0, in the order calls start) draws from the seed
   * `callSeed(pool.seed, k)` unless it gives its own `seed`; a new pool with this seed and the
   * same calls in the same order draws the same numbers.
   *
   * @example
   * ```ts
   * const pool = new Pool();
   * console.log(`re-run with new Pool({ seed: ${pool.seed} })`);
   * ```
   */
  get seed(): number {
    return this.#seeds.base;
  }

  /** Workers alive right now (they start on first use and after a crash). */
  get liveWorkers(): number {
    return this.#engine.liveWorkers;
  }

  /**
   * The pool's live dashboard, when its `dashboard` option is on (its URL is also printed on stderr).
   *
   * @example
   * ```ts
   * await using pool = new Pool({ dashboard: { port: 0 } });
   * console.log(await pool.dashboard?.url()); // http://127.0.0.1:43117/
   * ```
   */
  get dashboard(): DashboardHandle | undefined {
    return this.#dashboard;
  }

  /** True after `close()` or `terminate()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Run one task; returns a `TaskFuture` (a Promise with `cancel()`).
   *
   * @example
   * ```ts
   * const t = await pool.run(tasks.simulate, 75, 5, 10);
   * ```
   */
  run<F extends AnyFunction>(task: Task<F>, ...args: Parameters<F>): TaskFuture<Awaited<ReturnType<F>>> {
    return this.runWith(task, args, {});
  }

  /**
   * `run` with call options (`timeout`, `signal`, `retries`, `seed`, ...).
   *
   * @example
   * ```ts
   * const page = await pool.runWith(tasks.fetchTitle, [url], { timeout: 5000, retries: 2 });
   * ```
   */
  runWith<F extends AnyFunction>(
    task: Task<F>,
    args: Parameters<F>,
    options: CallOptionsInput = {},
  ): TaskFuture<Awaited<ReturnType<F>>> {
    let started: StartedCall | undefined;
    const { future, control } = TaskFuture.create<Awaited<ReturnType<F>>>(() => started?.run.close());
    try {
      if (!Array.isArray(args))
        throw new InvalidArgTypeError(`Expected \`args\` to be an array, got ${show(args)}`);
      started = prepareCall(
        this.setup('pool.run', true, CALL_KEYS, () => control.markRunning()),
        task,
        [args],
        options,
      )();
    } catch (error) {
      control.reject(error);
      return future;
    }
    const call = started;
    const done = (async () => {
      try {
        for await (const chunk of call.run.chunks()) control.resolve(chunk[0] as Awaited<ReturnType<F>>);
      } finally {
        await call.finish();
      }
    })().catch((error: unknown) => control.reject(error));
    this.track(done);
    return future;
  }

  /**
   * `task(item)` for every item, in parallel; resolves to the results in input order.
   * `items` may be an array, any iterable or async iterable, and is read lazily.
   *
   * @example
   * ```ts
   * const temps = await pool.map(tasks.simulateFrom, startTemps);
   * const settled = await pool.map(tasks.parse, lines, { errors: 'collect' });
   * const scaled = await pool.map((x, ctx) => x * ctx.factor, xs, { context: { factor: 3 } });
   * ```
   */
  map<T, R>(
    task: Task<(item: T) => R>,
    items: ItemsOf<T>,
    options: CollectOptions,
  ): Promise<Settled<Awaited<R>>[]>;
  map<T, R>(task: Task<(item: T) => R>, items: ItemsOf<T>, options?: MapOptions): Promise<Awaited<R>[]>;
  map<T, R, C>(
    task: (item: T, context: C) => R,
    items: ItemsOf<T>,
    options: MapOptions & { context: C },
  ): Promise<Awaited<R>[]>;
  map(task: unknown, items: ItemsOf<unknown>, options: MapOptions = {}): Promise<unknown[]> {
    return this.collect('pool.map', task, items, false, options);
  }

  /**
   * `task(...args)` for every tuple of arguments; resolves to the results in input order.
   *
   * @example
   * ```ts
   * const temps = await pool.starmap(tasks.simulate, [[75, 5, 10], [60, 5, 10]]);
   * ```
   */
  starmap<A extends unknown[], R>(
    task: Task<(...args: A) => R>,
    tuples: ItemsOf<A>,
    options: CollectOptions,
  ): Promise<Settled<Awaited<R>>[]>;
  starmap<A extends unknown[], R>(
    task: Task<(...args: A) => R>,
    tuples: ItemsOf<A>,
    options?: MapOptions,
  ): Promise<Awaited<R>[]>;
  starmap(task: unknown, tuples: ItemsOf<unknown[]>, options: MapOptions = {}): Promise<unknown[]> {
    return this.collect('pool.starmap', task, tuples, true, options);
  }

  /**
   * Stream `task(item)` results as an async iterable: in input order, or `{ ordered: false }`
   * for completion order. Nothing runs until you iterate; breaking out stops the work.
   *
   * @example
   * ```ts
   * for await (const r of pool.imap(tasks.fetchTitle, urls, { ordered: false })) console.log(r);
   * ```
   */
  imap<T, R>(
    task: Task<(item: T) => R>,
    items: ItemsOf<T>,
    options: CollectOptions,
  ): AsyncIterable<Settled<Awaited<R>>>;
  imap<T, R>(task: Task<(item: T) => R>, items: ItemsOf<T>, options?: MapOptions): AsyncIterable<Awaited<R>>;
  imap<T, R, C>(
    task: (item: T, context: C) => R,
    items: ItemsOf<T>,
    options: MapOptions & { context: C },
  ): AsyncIterable<Awaited<R>>;
  imap(task: unknown, items: ItemsOf<unknown>, options: MapOptions = {}): AsyncIterable<unknown> {
    return this.stream('pool.imap', task, items, false, options);
  }

  /**
   * Stream `task(...args)` results for every tuple, like `imap`.
   *
   * @example
   * ```ts
   * for await (const t of pool.istarmap(tasks.simulate, tuples)) histogram.add(t);
   * ```
   */
  istarmap<A extends unknown[], R>(
    task: Task<(...args: A) => R>,
    tuples: ItemsOf<A>,
    options: CollectOptions,
  ): AsyncIterable<Settled<Awaited<R>>>;
  istarmap<A extends unknown[], R>(
    task: Task<(...args: A) => R>,
    tuples: ItemsOf<A>,
    options?: MapOptions,
  ): AsyncIterable<Awaited<R>>;
  istarmap(task: unknown, tuples: ItemsOf<unknown[]>, options: MapOptions = {}): AsyncIterable<unknown> {
    return this.stream('pool.istarmap', task, tuples, true, options);
  }

  /**
   * Stop taking work, wait for calls in progress (including `imap` iterators still being
   * consumed), then stop the workers.
   *
   * @example
   * ```ts
   * const pool = new Pool();
   * try { await pool.map(tasks.square, xs); } finally { await pool.close(); }
   * ```
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      while (this.#active.size > 0) await Promise.allSettled([...this.#active]);
      await this.#engine.close();
      await this.#dashboard?.close();
    })();
    return this.#closing;
  }

  /**
   * Stop now: calls in progress reject with `ERR_POOL_CLOSED` and every worker is killed.
   *
   * @example
   * ```ts
   * process.on('SIGINT', () => pool.terminate());
   * ```
   */
  async terminate(): Promise<void> {
    this.#closed = true;
    await this.#engine.terminate();
    await Promise.allSettled([...this.#active]);
    await this.#closing;
    await this.#dashboard?.close();
  }

  /**
   * Send `value` once to each worker that needs it (lazily, and kept there) instead of once per
   * task; pass the handle to tasks in its place (a top-level argument), and they receive the
   * value. On threads, typed arrays on shared memory inside it are not even copied.
   *
   * @example
   * ```ts
   * const table = pool.broadcast(bigLookupTable);
   * const out = await pool.starmap(tasks.lookup, keys.map((k) => [table, k]));
   * table.release();   // frees it in every worker
   * ```
   */
  broadcast<T>(value: T): BroadcastHandle<T> {
    if (this.#closed) throw new PoolClosedError('The pool is closed');
    if (!this.#engine.broadcast) {
      throw new InvalidArgValueError(`broadcast() is not available on the ${this.backend} backend`);
    }
    if (this.#engine.supports.crossesBoundary) {
      const problem = findUncloneable(value);
      if (problem) throw new NotCloneableError(`The broadcast value is ${problem}`);
      if (!this.#engine.supports.sharedMemory && containsSharedMemory(value)) {
        throw new NotCloneableError(
          `The broadcast value holds a SharedArrayBuffer, which cannot reach the ${this.backend} backend's workers (processes share no memory); use an ordinary typed array: it is copied once per worker`,
        );
      }
    }
    return this.#engine.broadcast(value);
  }

  /**
   * Map-reduce over data larger than memory: `map` each chunk of `source` in a worker (a file
   * chunk is read by the worker itself, by byte range), and fold the partial results with
   * `combine` in the caller as they arrive. At most `workers + prefetch` chunks are in flight,
   * whatever the size of the input. See `chunks` for the sources and `columnStats` for ready
   * reducers.
   *
   * @example
   * ```ts
   * import { chunks, columnMeans, columnStats, Pool } from 'fanout';
   *
   * await using pool = new Pool();
   * const source = chunks.matrix('big.f64', { columns: 8 });
   * const means = columnMeans(await pool.reduceChunks(source, columnStats.sum));
   * const errors = await pool.reduceChunks(chunks.ndjson('log.ndjson'), {
   *   map: tasks.countErrors,            // ({ records }) => number, in a task module
   *   combine: (total: number, n: number) => total + n,
   *   initial: 0,
   *   ordered: false,                    // addition of integers: any order gives the same
   * });
   * ```
   */
  reduceChunks<C, P, A>(
    source: ChunkSource<C>,
    options: ReduceChunksOptions<C, P, A> & { initial: A },
  ): Promise<A>;
  reduceChunks<C, P>(
    source: ChunkSource<C>,
    options: ReduceChunksOptions<C, P, Awaited<P>>,
  ): Promise<Awaited<P> | undefined>;
  reduceChunks(
    source: ChunkSource<unknown>,
    options: ReduceChunksOptions<unknown, unknown, unknown>,
  ): Promise<unknown> {
    return reduceChunks(
      {
        workers: this.workers,
        setup: (callName, keys) => this.setup(callName, false, keys),
        track: (running) => this.track(running),
      },
      source,
      options,
    );
  }

  /** `await using pool = new Pool()` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal How other parts of fanout (parallel(), chunked reduce) start calls on this pool. */
  [callSetup](callName: string, spread: boolean, keys: readonly string[], onStart?: () => void): CallSetup {
    return this.setup(callName, spread, keys, onStart);
  }

  /** @internal Keep `close()` waiting for a call that runs outside the pool's own methods. */
  [trackCall](promise: Promise<unknown>): void {
    this.track(promise);
  }

  private setup(callName: string, spread: boolean, keys: readonly string[], onStart?: () => void): CallSetup {
    return {
      engine: this.#engine,
      backendName: this.backend,
      defaults: this.#defaults,
      claimSeed: () => this.#seeds.next(),
      assertOpen: () => {
        if (this.#closed) {
          throw new PoolClosedError(
            'The pool is closed: no new work is accepted after close() or terminate()',
          );
        }
      },
      callName,
      spread,
      keys,
      onStart,
      observe: this.#dashboard?.observeCall,
    };
  }

  private track(promise: Promise<unknown>): void {
    this.#active.add(promise);
    const forget = () => {
      this.#active.delete(promise);
    };
    promise.then(forget, forget);
  }

  private collect(
    callName: string,
    task: unknown,
    items: ItemsOf<unknown>,
    spread: boolean,
    options: MapOptions,
  ): Promise<unknown[]> {
    let started: StartedCall;
    try {
      started = prepareCall(this.setup(callName, spread, MAP_KEYS), task, items, options)();
    } catch (error) {
      return Promise.reject(error);
    }
    const run = collectResults(started);
    this.track(run);
    return run;
  }

  private stream(
    callName: string,
    task: unknown,
    items: ItemsOf<unknown>,
    spread: boolean,
    options: MapOptions,
  ): AsyncIterable<unknown> {
    // Validate now, so a bad argument throws at the call and not at the first iteration.
    return streamResults(prepareCall(this.setup(callName, spread, MAP_KEYS), task, items, options), (p) =>
      this.track(p),
    );
  }
}

/**
 * A call's results as one array, copied chunk by chunk as they arrive (while workers still
 * compute). Preallocated: pushing cost the main thread ~2.5× more per item (48 vs 20 ms for
 * 2,000,000 numbers). The array is made once a sixteenth of the results have arrived, not at the
 * start: allocating 2,000,000 entries takes ~10 ms of the main thread, and while the first, small
 * batches run the workers wait on the main thread for their next ones; by a sixteenth, batches
 * are large and each worker has work queued.
 */
export async function collectResults(started: StartedCall): Promise<unknown[]> {
  try {
    const results = new ResultArray(started.run.total);
    for await (const chunk of started.run.chunks()) results.add(chunk);
    return results.finish();
  } finally {
    await started.finish();
  }
}

/** The results of one call, in input order (see collectResults for when the array is made). */
class ResultArray {
  private array: unknown[] | undefined;
  private readonly early: ArrayLike<unknown>[] = [];
  private arrived = 0;
  private filled = 0;

  constructor(private readonly total: number | undefined) {}

  add(chunk: ArrayLike<unknown>): void {
    if (this.array) {
      this.place(this.array, chunk);
      return;
    }
    this.early.push(chunk);
    this.arrived += chunk.length;
    if (this.total === undefined || this.arrived >= this.total / 16) this.allocate();
  }

  finish(): unknown[] {
    const array = this.array ?? this.allocate();
    array.length = this.filled;
    return array;
  }

  private allocate(): unknown[] {
    const array = resultArray(this.total, this.early[0]);
    this.array = array;
    for (const chunk of this.early) this.place(array, chunk);
    this.early.length = 0;
    return array;
  }

  private place(array: unknown[], chunk: ArrayLike<unknown>): void {
    if (chunk instanceof Float64Array) copyNumbers(array, this.filled, chunk);
    else copyValues(array, this.filled, chunk);
    this.filled += chunk.length;
  }
}

/**
 * An array for `total` results, shaped for the first chunk. When it holds numbers, the array is
 * made as an array of doubles from the start (a one-element double literal, lengthened): `new
 * Array(total)` would make an array of small integers and holes, and the first double written
 * would copy all of it into a double array, a second 16 MB allocation and ~12 ms more at
 * 2,000,000 items. V8 keeps both forms as a flat array up to 32 M entries.
 */
function resultArray(total: number | undefined, first: ArrayLike<unknown> | undefined): unknown[] {
  if (total === undefined) return [];
  if (!(first instanceof Float64Array)) return new Array(total);
  const results: unknown[] = [0.5];
  results.length = total;
  return results;
}

// Two copy loops, one per kind of chunk, so each indexes a single kind of array (one loop over
// both kinds cost ~1.5× as much per item).
function copyNumbers(results: unknown[], at: number, chunk: Float64Array): void {
  for (let i = 0; i < chunk.length; i++) results[at + i] = chunk[i];
}

function copyValues(results: unknown[], at: number, chunk: ArrayLike<unknown>): void {
  for (let i = 0; i < chunk.length; i++) results[at + i] = chunk[i];
}

/**
 * A prepared call as an async iterable that starts when iterated; `track` sees it until it ends.
 * Written by hand rather than as an async generator: a generator's `yield*` costs several
 * promises per item, and for a stream of cheap items that garbage is most of the memory.
 */
export function streamResults(
  start: () => StartedCall,
  track: (running: Promise<unknown>) => void,
): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]: (): AsyncIterator<unknown> => {
      let finished!: () => void;
      track(
        new Promise<void>((resolve) => {
          finished = resolve;
        }),
      );
      let started: StartedCall | undefined;
      let chunks: AsyncIterator<ArrayLike<unknown>> | undefined;
      let chunk: ArrayLike<unknown> = [];
      let at = 0;
      let ended = false;
      const end = async () => {
        if (ended) return;
        ended = true;
        try {
          await chunks?.return?.();
        } finally {
          await started?.finish();
          finished();
        }
      };
      const pull = async (): Promise<IteratorResult<unknown>> => {
        try {
          if (!chunks) {
            started = start();
            chunks = started.run.chunks();
          }
          for (;;) {
            const step = await chunks.next();
            if (step.done) {
              await end();
              return { done: true, value: undefined };
            }
            chunk = step.value;
            at = 0;
            if (chunk.length > 0) return { done: false, value: chunk[at++] };
          }
        } catch (error) {
          await end();
          throw error;
        }
      };
      return {
        next: () => (at < chunk.length ? Promise.resolve({ done: false, value: chunk[at++] }) : pull()),
        return: async () => {
          chunk = [];
          at = 0;
          await end();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
