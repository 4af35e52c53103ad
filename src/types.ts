/**
 * The public types of fanout's core: tasks, pools and their options, calls and their results,
 * progress and traces. Types only, importing nothing of fanout's own, so that every layer can
 * use them and the published declarations reach nothing internal. (Optional parts keep their
 * public types beside them: chunks/types.ts, memory/, cluster/slurm.ts, api/joblib.ts,
 * api/futures.ts.)
 */

import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { ResourceLimits } from 'node:worker_threads';

// ---- tasks ---------------------------------------------------------------------------------

/** Any function: a task may take and return anything that crosses a boundary. */
// biome-ignore lint/suspicious/noExplicitAny: a task may take and return anything that crosses a boundary.
export type AnyFunction = (...args: any[]) => any;

/**
 * A worker-side decorator of a task (a cache, for example): `module`/`name` name a registered
 * factory `(fn, options, task) => decoratedFn`. Like tasks, wrappers travel by name only.
 */
export interface TaskWrapper {
  readonly module: string;
  readonly name: string;
  /** Plain data handed to the factory. */
  readonly options: unknown;
}

/**
 * A typed reference to a task: callable locally like the function itself (with a task context of
 * its own: index 0, a fresh random seed, a signal that never aborts), and accepted by
 * `pool.run`, `pool.map`, `delayed` and friends, which run it in a worker by module URL and name.
 */
export type TaskRef<F extends AnyFunction = AnyFunction> = F & {
  /** The URL of the task module (its `import.meta.url`). */
  readonly module: string;
  /** The task's name in its module. */
  readonly taskName: string;
  /** A worker-side decorator applied to the task (set by `Memory.cache`, for example). */
  readonly wrapper?: TaskWrapper | undefined;
};

/** The task references `defineTasks` returns, one per function, each typed as that function. */
export type TaskRefs<T extends Record<string, AnyFunction>> = { readonly [K in keyof T]: TaskRef<T[K]> };

/** What a call runs: a task reference from `defineTasks`, or an inline function. */
export type Task<F extends AnyFunction> = TaskRef<F> | F;

/** What `taskContext()` returns. */
export interface TaskContext {
  /** Aborts when the caller cancels or aborts the call; a long task should check it and stop. */
  readonly signal: AbortSignal;
  /** The item's index in the caller's input (0 for `pool.run` and for a local call). */
  readonly index: number;
  /**
   * The call's seed: the call's `seed` option when it has one, else the seed its pool drew for
   * it (`callSeed(pool seed, k)` for the pool's call k). `randomStream(seed, index)` replays this
   * item's stream; passing it as a call's `seed` replays the whole call.
   */
  readonly seed: number;
  /** The values given in `context` (for inline functions; `undefined` otherwise). */
  readonly context: unknown;
  /** A float in [0, 1) from this item's deterministic stream, derived from `(seed, index)`. */
  random(): number;
  /** A normally distributed float from this item's stream. */
  normal(mean?: number, sd?: number): number;
  /**
   * This item's stream itself (the same numbers as `random()`/`normal()`): for hot loops, one
   * call fewer per draw.
   */
  randomStream(): RandomStream;
  /** Report partial progress: `amount` more units of this item are done (shown by `progress`). */
  progress(amount?: number): void;
  /**
   * The pool that runs this task, to submit child tasks to (nested parallelism): children run
   * on the same workers, and a task awaiting them holds no worker meanwhile. In a local call of
   * a task, children are direct calls.
   */
  readonly pool: TaskPool;
  /**
   * The group this task runs in when it was started by `pool.spmd` (one rank of it); `undefined`
   * in every other call.
   */
  readonly comm: Comm | undefined;
}

// ---- SPMD: ranks that talk -----------------------------------------------------------------

/** A reduction of `reduce`/`allreduce`: a named one (elementwise on typed arrays and arrays), or `(a, b) => c`. */
export type ReduceOp<T = unknown> = 'sum' | 'prod' | 'min' | 'max' | ((a: T, b: T) => T);

/** Options of a point-to-point send. */
export interface SendOptions {
  /** A number the receiver can match on (default 0). */
  tag?: number;
  /**
   * Move the value's typed arrays and ArrayBuffers to the receiver instead of copying them
   * (threads; elsewhere it copies): the sender's arrays are left empty (detached). Default false.
   */
  transfer?: boolean;
}

/** Options of a receive: which message to take (first match in arrival order). */
export interface RecvOptions {
  /** Only a message with this tag (default: any tag). */
  tag?: number;
}

/**
 * One rank of a `pool.spmd` group, from `taskContext().comm` (MPI's communicator). Messages
 * between two ranks arrive in the order they were sent. Every pending `recv` and collective
 * rejects when another rank of the group fails, so no rank stays blocked.
 *
 * @example
 * ```ts
 * export default defineTasks(import.meta.url, {
 *   async ring() {
 *     const { rank, size, sendrecv, allreduce } = taskContext().comm!;
 *     const left = await sendrecv(rank, (rank + 1) % size, (rank + size - 1) % size);
 *     return allreduce(left, 'sum'); // every rank: 0 + 1 + … + size-1
 *   },
 * });
 * ```
 */
export interface Comm {
  /** This rank: 0 … size − 1. */
  readonly rank: number;
  /** How many ranks the group has. */
  readonly size: number;
  /** Send `value` to rank `dest` (does not wait for it to be received). */
  send(dest: number, value: unknown, options?: SendOptions): void;
  /** The next message from `source` (`'any'`: from any rank) matching `options.tag`. */
  recv<T = unknown>(source: number | 'any', options?: RecvOptions): Promise<T>;
  /** Send `value` to `dest` and receive from `source` (no deadlock when every rank does it at once). */
  sendrecv<T = unknown>(
    value: unknown,
    dest: number,
    source: number | 'any',
    options?: SendOptions,
  ): Promise<T>;
  /** Every rank gets `root`'s value (the others' `value` is ignored). */
  bcast<T>(value: T, root?: number): Promise<T>;
  /** Rank r gets `values[r]` of `root` (`values` has `size` entries on the root; ignored elsewhere). */
  scatter<T>(values: readonly T[] | undefined, root?: number): Promise<T>;
  /** `root` gets every rank's value in rank order; the others get `undefined`. */
  gather<T>(value: T, root?: number): Promise<T[] | undefined>;
  /** Every rank gets every rank's value, in rank order. */
  allgather<T>(value: T): Promise<T[]>;
  /** `root` gets the values combined by `op` in rank order; the others get `undefined`. */
  reduce<T>(value: T, op: ReduceOp<T>, root?: number): Promise<T | undefined>;
  /** Every rank gets the values combined by `op` in rank order. */
  allreduce<T>(value: T, op: ReduceOp<T>): Promise<T>;
  /** Wait until every rank has reached its barrier. */
  barrier(): Promise<void>;
}

/** Options of `pool.spmd`. */
export interface SpmdOptions {
  /** How many ranks (one worker each, all at once); at most the pool's workers. Default: the pool's workers. */
  ranks?: number;
  /** Time limit of the whole group in ms: past it the call rejects with `ERR_TASK_TIMEOUT` and every rank is stopped. */
  timeout?: number;
  /** Abort the whole group: every rank's signal aborts and its workers are replaced if they do not stop within `abortGrace`. */
  signal?: AbortSignal;
}

/**
 * Options of a child call (`taskContext().pool.runWith`, `map`, `starmap`, `imap`). There is no
 * `timeout`: a child may run as a direct call in its parent's worker, where it cannot be killed
 * without the parent. For a time limit, pass `signal: AbortSignal.timeout(ms)`.
 *
 * @example
 * ```ts
 * const { pool } = taskContext();
 * const quick = await pool.runWith(tasks.search, [query], { signal: AbortSignal.timeout(500) });
 * ```
 */
export interface ChildCallOptions {
  /**
   * Cancel the child call: its promise rejects with `ABORT_ERR` at once. A child still waiting
   * in its worker's deque never starts; one given to another worker is cancelled there, through
   * the caller; one running in its parent's worker sees its `taskContext().signal` abort and
   * should stop (its result is ignored).
   */
  signal?: AbortSignal;
}

/**
 * A running task's handle on the pool that runs it (`taskContext().pool`): the calls of `Pool`,
 * with `signal` as their only option (`ChildCallOptions`). Items are given as arrays or other
 * sync iterables; `imap` yields the results once the whole call is done.
 *
 * @example
 * ```ts
 * export default defineTasks(import.meta.url, {
 *   async fib(n: number): Promise<number> {
 *     if (n < 2) return n;
 *     const { pool } = taskContext();
 *     const [a, b] = await Promise.all([pool.run(tasks.fib, n - 1), pool.run(tasks.fib, n - 2)]);
 *     return a + b;
 *   },
 * });
 * ```
 */
export interface TaskPool {
  run<F extends AnyFunction>(task: Task<F>, ...args: Parameters<F>): Promise<Awaited<ReturnType<F>>>;
  /** `run` with options: the arguments as one array. */
  runWith<F extends AnyFunction>(
    task: Task<F>,
    args: Parameters<F>,
    options?: ChildCallOptions,
  ): Promise<Awaited<ReturnType<F>>>;
  map<T, R>(
    task: Task<(item: T) => R>,
    items: Iterable<T>,
    options?: ChildCallOptions,
  ): Promise<Awaited<R>[]>;
  starmap<A extends unknown[], R>(
    task: Task<(...args: A) => R>,
    tuples: Iterable<A>,
    options?: ChildCallOptions,
  ): Promise<Awaited<R>[]>;
  imap<T, R>(
    task: Task<(item: T) => R>,
    items: Iterable<T>,
    options?: ChildCallOptions,
  ): AsyncIterable<Awaited<R>>;
}

/** A stream of random numbers. */
export interface RandomStream {
  /** A float in [0, 1) with 53 random bits, like `Math.random()`. */
  random(): number;
  /** A normally distributed float (Box–Muller). */
  normal(mean?: number, sd?: number): number;
  /** An integer in [0, n). */
  int(n: number): number;
}

// ---- pools and calls -----------------------------------------------------------------------

/** The backends that run on this machine. */
export type LocalBackendName = 'threads' | 'processes' | 'inline';

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
   * Threads and processes: how many async tasks one worker keeps in progress at once. While a
   * task awaits (I/O, a timer, its child tasks), its worker starts the next item, up to this
   * many awaiting together; sync tasks are unaffected (one JavaScript thread computes at a
   * time). A task awaiting its own child tasks (`taskContext().pool`) does not count, so nested
   * calls never exhaust it. `1`: each worker finishes a task before it starts the next.
   * (The inline backend's own limit is `concurrency`.)
   * @default 16
   * @example new Pool({ workers: 2, concurrentTasksPerWorker: 64 }) // 128 fetches in flight
   */
  concurrentTasksPerWorker?: number;
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
   * A task run on every worker as it starts, replacements included, before it takes any other
   * work (Python's `Pool(initializer=…)`): the place to open a connection or load a model per
   * worker, kept in the task module's own state. A worker whose initializer throws does not
   * start; after the usual start-failure back-off (3 failed starts in a row with no worker up),
   * the work waiting fails with `ERR_WORKER_CRASHED`, its `cause` the initializer's `TaskError`.
   * Local backends only (refused on redis).
   * @example new Pool({ initializer: { task: tasks.openDb, args: ['postgres://db/app'] } })
   */
  initializer?: Initializer;
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

/** `Pool`'s `dashboard` option, as an object. */
export interface DashboardOptions {
  /**
   * The port to listen on; 0 for any free port.
   * @default 8787, or any free port when 8787 is taken
   */
  port?: number;
  /**
   * The address to listen on. Any address but a loopback one (127.0.0.0/8, ::1, localhost)
   * needs a token, generated when `token` is not given.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * The token every request must carry, as `?token=` in the URL or an `Authorization: Bearer`
   * header: at least 16 characters. Required on any non-loopback `host` (generated when not
   * given); optional on loopback.
   */
  token?: string;
}

/**
 * A pool's dashboard, as `pool.dashboard` gives it.
 *
 * @example
 * ```ts
 * await using pool = new Pool({ dashboard: { port: 0 } });
 * console.log('open', await pool.dashboard?.url());
 * ```
 */
export interface DashboardHandle {
  /** The page's address (with `?token=` when it has one), once it listens. Rejects with `ERR_DASHBOARD` when it cannot. */
  url(): Promise<string>;
}

/** Options of an actor (`pool.actorWith`). */
export interface ActorOptions {
  /**
   * How many times to rebuild the actor, on a live worker with its constructor's arguments,
   * when its worker dies. The rebuilt actor starts from its constructor again: its state is
   * lost. Calls pending when the worker died reject with `ERR_ACTOR_DIED` either way.
   * @default 0
   */
  maxRestarts?: number;
}

/** Options of one actor method call (`handle.withOptions`). */
export interface ActorCallOptions {
  /**
   * Time limit of the call in ms: past it the call rejects with `ERR_TASK_TIMEOUT` and the
   * actor's worker is killed (a busy method cannot be stopped otherwise), so the actor dies or,
   * with `maxRestarts`, is rebuilt.
   */
  timeout?: number;
  /**
   * Abort the call: one still queued is dropped; a running one sees `taskContext().signal`
   * abort and, if it does not return within the pool's `abortGrace`, its worker is killed.
   */
  signal?: AbortSignal;
}

/** The pool's `initializer`: a task and its arguments, run once on each worker as it starts. */
export interface Initializer {
  readonly task: Task<AnyFunction>;
  readonly args?: readonly unknown[];
}

/**
 * Run a pool's tasks on `fanout worker` processes, on any machine, through a Redis queue
 * (BullMQ). Give it as the pool's `backend`.
 *
 * @example
 * ```ts
 * await using pool = new Pool({
 *   backend: { redis: 'redis://fanout:secret@redis.internal:6379', queue: 'weather' },
 *   workers: 16, // the sum of the workers' --workers
 * });
 * const temps = await pool.map(tasks.run10, range(1_000_000));
 * ```
 */
export interface RedisBackendOptions {
  /**
   * The Redis server: `redis://[user:password@]host:port[/db]`, or `rediss://...` for TLS. The
   * user and password are Redis ACL credentials (`redis://:password@host` for a password alone).
   * @example { redis: 'rediss://fanout:secret@redis.internal:6380/0' }
   */
  redis: string;
  /**
   * The queue callers and workers meet on (`fanout worker --queue`).
   * @default 'fanout'
   * @example { redis: 'redis://localhost:6379', queue: 'weather' }
   */
  queue?: string;
  /**
   * Prefix of every Redis key of the queue (`fanout worker --prefix`); an ACL can confine the
   * backend's user to `~prefix:*`.
   * @default 'fanout'
   * @example { redis: 'redis://localhost:6379', prefix: 'team-a' }
   */
  prefix?: string;
  /**
   * TLS options for a `rediss://` URL: a private CA, a client certificate (Node's `tls.connect`
   * options). `NODE_EXTRA_CA_CERTS` works too.
   * @example { redis: 'rediss://redis.internal:6380', tls: { ca: readFileSync('ca.pem') } }
   */
  tls?: TlsOptions;
  /**
   * How long (ms) Redis may stay unreachable while work is pending before the calls waiting on it
   * fail with `ERR_BACKEND_UNAVAILABLE`. Shorter outages only delay the work.
   * @default 30000
   * @example { redis: 'redis://localhost:6379', unavailableTimeout: 5000 }
   */
  unavailableTimeout?: number;
  /**
   * How often (ms) jobs still pending are checked by id, so a result whose event was missed is
   * still delivered. Also how often Redis is probed while work is pending.
   * @default 1000
   * @example { redis: 'redis://localhost:6379', checkInterval: 500 }
   */
  checkInterval?: number;
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

/** Options of `pool.reduceChunks`. */
export interface ReduceChunksOptions<C, P, A> {
  /**
   * The task applied to each chunk, in a worker. For file sources, a task reference from
   * `defineTasks` (the worker reads the chunk, then calls it); for `fromIterable`, inline
   * functions also work on local backends.
   */
  map: Task<(chunk: C) => P>;
  /**
   * Folds a partial result into the accumulator, in the caller, as results arrive:
   * `(accumulator, partial) => accumulator`. May be async. A task reference is called locally.
   */
  combine: (accumulator: A, partial: Awaited<P>) => A | Promise<A>;
  /**
   * The accumulator before the first partial result. Without it, the first partial result is
   * the accumulator, and a source with no chunks gives `undefined`.
   */
  initial?: A;
  /**
   * File sources: the size of each chunk in bytes. A matrix chunk is rounded down to whole rows
   * (one row at least); a text chunk ends at the end of its last record. Not for `fromIterable`,
   * whose chunks hold `size` records.
   * @default 16 MiB for matrices (fewer round trips; measured faster than 8 MiB), 4 MiB for CSV
   * and NDJSON (parsed records take several times the bytes of their text)
   */
  chunkBytes?: number;
  /**
   * `true`: partial results are combined in the order of the chunks, so a combine that is not
   * commutative (or floating-point sums, whose last bits depend on the order) gives the same
   * result on every run. `false`: in the order they finish, so a slow chunk holds nothing back;
   * use it when the order does not matter.
   * @default true
   */
  ordered?: boolean;
  /**
   * Chunks dispatched beyond one per worker, so a worker finds its next chunk waiting. For file
   * sources they are byte ranges, read only when they run; for `fromIterable` they are records
   * held in the caller.
   * @default the number of workers
   */
  prefetch?: number;
  /** Abort the call (`ABORT_ERR`). */
  signal?: AbortSignal;
  /** Called as chunks finish, with counts (the total is known once the source is exhausted). */
  onProgress?: (state: ProgressState) => void;
  /** Draw a progress bar on stderr, in chunks. */
  progress?: boolean | ProgressOptions;
  /** Per-chunk time limit in ms (`ERR_TASK_TIMEOUT`). */
  timeout?: number;
  /** Re-runs of a chunk whose worker died (see the pool's `retries`). */
  retries?: number;
  /** What `retries` applies to: `'crash'` or `'error'`. */
  retryOn?: 'crash' | 'error';
  /**
   * Seed of `taskContext().random()` in the map task: chunk i gets the stream of `(seed, i)`.
   * Without it, the call takes the pool's next seed, as every call does.
   */
  seed?: number;
}

// ---- results, progress, traces ------------------------------------------------------------

/** A settled result, as `Promise.allSettled` gives (the `errors: 'collect'` mode). */
export type Settled<T> =
  | { readonly status: 'fulfilled'; readonly value: T }
  | { readonly status: 'rejected'; readonly reason: unknown };

/** Progress of a call, as counted by the scheduler. */
export interface ProgressCounts {
  /** Items finished (successfully or not). */
  readonly done: number;
  /** Items that failed. */
  readonly failed: number;
  /** The total, once known (arrays at once; other inputs once exhausted). */
  readonly total: number | undefined;
}

/** A batch as it ran, for traces and reports. */
export interface BatchTrace {
  readonly worker: number;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly duration: number;
  /** Index of the batch's first item in the input. */
  readonly first: number;
  readonly count: number;
  readonly taskName: string;
  /** With `timeItems`: each item's start (ms after `startedAt`) and duration, in pairs. */
  readonly itemTimes?: Float64Array | undefined;
  /** Task graphs: this batch's number in its graph run (its `first` is a node's number). */
  readonly batch?: number | undefined;
  /** Task graphs: the batches that made this batch's inputs (dependency edges, each once). */
  readonly after?: readonly number[] | undefined;
}

/** What `onProgress` receives. */
export interface ProgressState {
  /** Items finished (successfully or not). */
  readonly done: number;
  /** Items that failed. */
  readonly failed: number;
  /** The total number of items, once known. */
  readonly total: number | undefined;
  /** Units of partial progress the tasks reported with `taskContext().progress(n)`. */
  readonly units: number;
  /** Milliseconds since the call started. */
  readonly elapsedMs: number;
  /** Items per second so far. */
  readonly itemsPerSecond: number;
  /** Estimated milliseconds left, when the total is known. */
  readonly etaMs: number | undefined;
}

/** Where and how to draw. */
export interface ProgressOptions {
  /** A label before the bar. */
  label?: string;
  /** Where to draw (default: process.stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export interface BroadcastControl<T> {
  /** The broadcast's id in its pool. */
  readonly broadcastId: number;
  /** The value itself, for use in the caller. */
  readonly value: T;
  /** Free the value in every worker and here; a later call that passes the handle fails. */
  release(): void;
}

/**
 * What `pool.broadcast(value)` returns: pass it to tasks in place of the value. Typed as the value
 * (plus `release()`), so it fits where a task expects one; in the caller it is only a handle —
 * read `handle.value` there.
 */
export type BroadcastHandle<T> = T & BroadcastControl<T>;

/** How long a wait on a synchronisation primitive (Lock, Semaphore, Barrier, Queue) may last. */
export interface WaitOptions {
  /** Give up after this many ms with `ERR_WAIT_TIMEOUT` (0: only if it can be done at once). */
  readonly timeout?: number | undefined;
  /** Give up when this signal aborts, with `ABORT_ERR`. */
  readonly signal?: AbortSignal | undefined;
}
