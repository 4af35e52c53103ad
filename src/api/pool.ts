/**
 * Pool: the public facade. Everything it does is the core's (api/core.ts): it reads its options
 * once, owns one backend, and runs each call through the scheduler.
 */

import type { ChunkSource } from '../chunks/types.js';
import { AbortError, DependencyFailedError, InvalidArgTypeError, TaskError } from '../errors.js';
import { show } from '../options/checks.js';
import { CALL } from '../options/schema.js';
import type { Actor, ActorClass, ActorRef } from '../tasks/actors.js';
import { taskSpecOf } from '../tasks/task-spec.js';
import type {
  ActorOptions,
  AnyFunction,
  BroadcastHandle,
  CallOptionsInput,
  CollectOptions,
  DashboardHandle,
  ItemsOf,
  LocalBackendName,
  MapOptions,
  PoolOptions,
  ReduceChunksOptions,
  Settled,
  SpmdOptions,
  Task,
  TaskRef,
} from '../types.js';
import { createActor, runOnEach } from './actors.js';
import { bindCore, PoolCore, type StartedCall } from './core.js';
import {
  type Computed,
  type DelayedCall,
  type Dependencies,
  type Dependency,
  findDependencies,
  type ResolvableArgs,
  substitute,
} from './dependencies.js';
import { futureTaskName, nameFuture, TaskFuture } from './futures.js';
import { compute } from './graph.js';
import { reduceChunks } from './reduce-chunks.js';
import { runSpmd } from './spmd.js';

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
  readonly #core: PoolCore;
  /** The run of each delayed call used in a `run`'s arguments, and how many runs still need it. */
  readonly #delayedRuns = new WeakMap<DelayedCall, { future: TaskFuture<unknown>; users: number }>();

  /**
   * @example
   * ```ts
   * const pool = new Pool();                                   // threads, every core
   * const io = new Pool({ backend: 'inline', concurrency: 16 }); // async I/O on the main thread
   * const isolated = new Pool({ backend: 'processes', workers: 4, timeout: 10_000 });
   * ```
   */
  constructor(options: PoolOptions = {}) {
    this.#core = new PoolCore(options);
    this.workers = this.#core.settings.workers;
    this.backend = this.#core.settings.backend;
    bindCore(this, this.#core);
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
    return this.#core.seed;
  }

  /** Workers alive right now (they start on first use and after a crash). */
  get liveWorkers(): number {
    return this.#core.backend.liveWorkers;
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
    return this.#core.dashboard;
  }

  /** True after `close()` or `terminate()`. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /**
   * Run one task; returns a `TaskFuture` (a Promise with `cancel()`).
   *
   * @example
   * ```ts
   * const t = await pool.run(tasks.simulate, 75, 5, 10);
   * ```
   */
  run<F extends AnyFunction>(
    task: Task<F>,
    ...args: ResolvableArgs<Parameters<F>>
  ): TaskFuture<Awaited<ReturnType<F>>> {
    return this.runWith(task, args, {});
  }

  /**
   * `run` with call options (`timeout`, `signal`, `retries`, `seed`, ...).
   *
   * Arguments may hold futures and delayed calls (at the top level, or inside arrays and plain
   * objects): the task starts once they all have values, and receives the values. A failed or
   * cancelled dependency rejects it with `ERR_DEPENDENCY_FAILED` (`cause`: the root failure).
   * A delayed call used by several runs of this pool runs once; cancelling a run cancels the
   * delayed calls only it still needed, never a future you passed in.
   *
   * @example
   * ```ts
   * const page = await pool.runWith(tasks.fetchTitle, [url], { timeout: 5000, retries: 2 });
   * const raw = pool.run(tasks.load, path);
   * const clean = pool.run(tasks.clean, raw);                  // waits for raw, gets its value
   * const merged = await pool.run(tasks.merge, [clean, other]); // futures inside arrays too
   * ```
   */
  runWith<F extends AnyFunction>(
    task: Task<F>,
    args: ResolvableArgs<Parameters<F>>,
    options: CallOptionsInput = {},
  ): TaskFuture<Awaited<ReturnType<F>>> {
    type R = Awaited<ReturnType<F>>;
    let started: StartedCall | undefined;
    let cancelWaiting: (() => void) | undefined;
    const { future, control } = TaskFuture.create<R>(() => {
      if (cancelWaiting) cancelWaiting();
      else started?.run.close();
    });
    const core = this.#core;
    let start: () => StartedCall;
    // The arguments travel in this array: filled now, or once the dependencies have values.
    const item: unknown[] = [];
    let dependencies: Dependencies | undefined;
    let taskName = '';
    try {
      if (!Array.isArray(args))
        throw new InvalidArgTypeError(`Expected \`args\` to be an array, got ${show(args)}`);
      dependencies = findDependencies(args);
      if (!dependencies) item.push(...args);
      else core.assertOpen();
      const call = {
        name: 'pool.run',
        spread: true,
        task,
        items: [item],
        onStart: () => control.markRunning(),
        // The seed is claimed now, in the order runs are written, even for one that waits.
        accepted: dependencies ? { seed: core.claimSeed() } : undefined,
      };
      start = core.prepare(call, options, CALL);
      taskName = taskSpecOf(task, 'pool.run').name;
      nameFuture(future, taskName);
    } catch (error) {
      control.reject(error);
      return future;
    }
    const go = () => {
      try {
        started = start();
      } catch (error) {
        control.reject(error);
        return;
      }
      const call = started;
      const done = (async () => {
        try {
          for await (const chunk of call.run.chunks()) control.resolve(chunk[0] as R);
        } finally {
          await call.finish();
        }
      })().catch((error: unknown) => control.reject(error));
      core.track(done);
    };
    if (!dependencies) {
      go();
      return future;
    }
    // close() waits for a run that waits for its dependencies, as for one that runs.
    core.track(future.then(noop, noop));
    cancelWaiting = this.#awaitDependencies(dependencies, taskName, options, {
      ready: (values) => {
        cancelWaiting = undefined;
        item.push(...substitute(args, dependencies, (place) => values[place]));
        go();
      },
      failed: (error) => control.reject(error),
    });
    return future;
  }

  /**
   * Wait for a run's dependencies: delayed calls become runs of this pool (one per delayed call,
   * shared by every run that uses it), futures are awaited. Returns how to cancel the wait.
   */
  #awaitDependencies(
    dependencies: Dependencies,
    taskName: string,
    options: CallOptionsInput,
    on: { ready: (values: unknown[]) => void; failed: (error: unknown) => void },
  ): () => void {
    const { inputs } = dependencies;
    const held = new Set<DelayedCall>();
    const futures = inputs.map((input) => {
      if (input instanceof TaskFuture) return input;
      held.add(input);
      return this.#acquire(input);
    });
    let settled = false;
    const signal = (options as { signal?: AbortSignal }).signal;
    const end = () => {
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      for (const call of held) this.#release(call);
      held.clear();
    };
    const onAbort = () => {
      if (settled) return;
      end();
      on.failed(new AbortError('The operation was aborted', { cause: signal?.reason as unknown }));
    };
    if (signal?.aborted) queueMicrotask(onAbort);
    else signal?.addEventListener('abort', onAbort, { once: true });
    const values = new Array<unknown>(inputs.length);
    let left = inputs.length;
    futures.forEach((dependency, place) => {
      dependency.then(
        (value) => {
          if (settled) return;
          values[place] = value;
          if (--left > 0) return;
          end();
          on.ready(values);
        },
        (error: unknown) => {
          if (settled) return;
          end();
          on.failed(dependencyFailure(taskName, dependency, error));
        },
      );
    });
    return () => {
      if (settled) return;
      end();
    };
  }

  /** The run of a delayed call on this pool, started on first use; one more user holds it. */
  #acquire(call: DelayedCall): TaskFuture<unknown> {
    let entry = this.#delayedRuns.get(call);
    if (!entry) {
      entry = { future: this.runWith(call.task, call.args as never, {}), users: 0 };
      this.#delayedRuns.set(call, entry);
    }
    entry.users++;
    return entry.future;
  }

  /** One user of a delayed call's run fewer; with none left, it is cancelled if it has not started. */
  #release(call: DelayedCall): void {
    const entry = this.#delayedRuns.get(call);
    if (!entry) return;
    entry.users--;
    if (entry.users > 0 || entry.future.done) return;
    if (entry.future.cancel()) this.#delayedRuns.delete(call);
  }

  /**
   * Compute a task graph: every delayed call (and future) inside `graph` — one delayed call, or
   * arrays and plain objects holding them — runs once its inputs have values, each shared call
   * once; resolves to `graph` with each replaced by its value. Ready calls of the same task are
   * batched like a map's items, and the graph's state is a few numbers per node (typed arrays),
   * so graphs of millions of small tasks run at a cost per node close to a map's. With
   * `errors: 'collect'` each delayed call's place holds its settled record instead; a call
   * whose dependency failed has `ERR_DEPENDENCY_FAILED` (`cause`: the root failure).
   *
   * @example
   * ```ts
   * const leaves = xs.map((x) => delayed(tasks.leaf)(x));
   * let level = leaves;
   * while (level.length > 1) {
   *   const next = [];
   *   for (let i = 0; i + 1 < level.length; i += 2) next.push(delayed(tasks.add)(level[i], level[i + 1]));
   *   if (level.length % 2) next.push(level.at(-1));
   *   level = next;
   * }
   * const total = await pool.compute(level[0]);
   * const { a, b } = await pool.compute({ a: delayed(tasks.square)(3), b: [delayed(tasks.square)(4)] });
   * ```
   */
  compute<G>(graph: G, options: CollectOptions): Promise<Computed<G, true>>;
  compute<G>(graph: G, options?: MapOptions): Promise<Computed<G>>;
  compute(graph: unknown, options: MapOptions = {}): Promise<unknown> {
    try {
      return compute(this.#core, graph, options);
    } catch (error) {
      return Promise.reject(error);
    }
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
    return this.#core.collect({ name: 'pool.map', spread: false, task, items }, options);
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
    return this.#core.collect({ name: 'pool.starmap', spread: true, task, items: tuples }, options);
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
    return this.#core.stream({ name: 'pool.imap', spread: false, task, items }, options);
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
    return this.#core.stream({ name: 'pool.istarmap', spread: true, task, items: tuples }, options);
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
    return this.#core.close();
  }

  /**
   * Stop now: calls in progress reject with `ERR_POOL_CLOSED` and every worker is killed.
   *
   * @example
   * ```ts
   * process.on('SIGINT', () => pool.terminate());
   * ```
   */
  terminate(): Promise<void> {
    return this.#core.terminate();
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
    return this.#core.broadcast(value);
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
    return reduceChunks(this.#core, source, options);
  }

  /**
   * Make an actor: an instance of a class registered with `defineActors`, living on one worker
   * (on the inline backend, on the main thread) until released. Its handle has the class's
   * methods, each returning a Promise of the method's result; calls run one at a time in the
   * order they are made, async methods included. Its worker keeps doing other work between
   * calls. If that worker dies, the calls pending and all later ones reject with
   * `ERR_ACTOR_DIED` (see `actorWith` for `maxRestarts`). Not on the redis backend.
   *
   * @example
   * ```ts
   * import actors from './counter.js';
   * await using c = await pool.actor(actors.Counter, 10);
   * await c.add(5);                                   // 15
   * const later = c.withOptions({ timeout: 1000 }).add(1);
   * ```
   */
  actor<C extends ActorClass>(ref: ActorRef<C>, ...args: ConstructorParameters<C>): Promise<Actor<C>> {
    return createActor(this.#core, ref, args);
  }

  /**
   * `actor` with actor options: `maxRestarts` rebuilds an actor whose worker died, on a live
   * worker, with its constructor's arguments. Its state is lost: the rebuilt actor starts over.
   *
   * @example
   * ```ts
   * const cache = await pool.actorWith(actors.Cache, [capacity], { maxRestarts: 3 });
   * ```
   */
  actorWith<C extends ActorClass>(
    ref: ActorRef<C>,
    args: ConstructorParameters<C>,
    options: ActorOptions = {},
  ): Promise<Actor<C>> {
    return createActor(this.#core, ref, args, options);
  }

  /**
   * Run `task(...args)` once on every worker of the pool, starting the ones not running yet,
   * and resolve to the results, one per worker (by worker number). Each runs after what its
   * worker already holds. Not on the redis backend.
   *
   * @example
   * ```ts
   * const pids = await pool.runOnEach(tasks.pid);              // one per worker
   * await pool.runOnEach(tasks.setLogLevel, 'debug');
   * ```
   */
  runOnEach<F extends AnyFunction>(task: Task<F>, ...args: Parameters<F>): Promise<Awaited<ReturnType<F>>[]> {
    return runOnEach(this.#core, task, args) as Promise<Awaited<ReturnType<F>>[]>;
  }

  /**
   * Run `task(...args)` as `ranks` ranks at once (SPMD, as with MPI), one worker each, and
   * resolve to one result per rank. Inside, `taskContext().comm` is the rank's communicator:
   * `rank`, `size`, `send`/`recv`/`sendrecv` and the collectives. On threads ranks talk over
   * MessagePorts between workers, never through this thread; on processes this thread relays
   * their messages; inline, all ranks share this thread. Not on redis (ERR_INVALID_ARG_VALUE).
   * More ranks than workers is ERR_INVALID_ARG_VALUE. A rank that fails stops the group: the
   * other ranks' receives reject, and the call rejects with the first failure, whose message
   * starts with `SPMD rank r of n` and which carries `rank`. Groups of one pool run one at a time.
   *
   * @example
   * ```ts
   * // tasks.ts
   * export default defineTasks(import.meta.url, {
   *   async total(n: number) {
   *     const comm = taskContext().comm!;
   *     let part = 0;
   *     for (let i = comm.rank; i < n; i += comm.size) part += i;
   *     return comm.allreduce(part, 'sum');
   *   },
   * });
   * // main.ts
   * const [sum] = await pool.spmd(tasks.total, { ranks: 2 }, 1000); // 499500 on every rank
   * ```
   */
  spmd<F extends AnyFunction>(
    task: TaskRef<F>,
    options: SpmdOptions,
    ...args: Parameters<F>
  ): Promise<Awaited<ReturnType<F>>[]> {
    return runSpmd(this.#core, task, options, args) as Promise<Awaited<ReturnType<F>>[]>;
  }

  /** `await using pool = new Pool()` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Why a run waiting on `dependency` cannot run: `ERR_DEPENDENCY_FAILED` naming the task that
 * failed first, with its failure (or the cancellation's AbortError) as `cause`.
 */
function dependencyFailure(taskName: string, dependency: Dependency, error: unknown): DependencyFailedError {
  if (error instanceof DependencyFailedError) {
    return new DependencyFailedError(
      { task: taskName },
      { task: error.dependency, index: error.dependencyIndex },
      error.cause,
    );
  }
  const failedTask =
    error instanceof TaskError
      ? error.task
      : ((dependency instanceof TaskFuture ? futureTaskName(dependency) : undefined) ?? 'a future');
  return new DependencyFailedError({ task: taskName }, { task: failedTask }, error);
}

function noop(): void {}
