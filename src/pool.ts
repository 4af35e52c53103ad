/**
 * Pool: the public facade. It validates options once, owns one backend's workers and runs each
 * call through the scheduler.
 */

import type { ResourceLimits } from 'node:worker_threads';
import type { LocalBackend, LocalBackendName } from './backends/backend.js';
import { inlineBackend } from './backends/inline.js';
import { processesBackend } from './backends/processes.js';
import { RedisEngine } from './backends/redis/engine.js';
import { isRedisBackend, type RedisBackendOptions, resolveRedisOptions } from './backends/redis/options.js';
import { threadsBackend } from './backends/threads.js';
import { WorkerSet } from './dispatch/worker-set.js';
import { InvalidArgTypeError, InvalidArgValueError, PoolClosedError } from './errors.js';
import { TaskFuture } from './futures.js';
import {
  abortSignal,
  autoOrPositiveInteger,
  boolean,
  checkKnownKeys,
  duration,
  nonNegativeInteger,
  oneOf,
  positiveInteger,
  resolveWorkers,
  seedOption,
  show,
} from './options.js';
import { freshSeed } from './random.js';
import {
  type CallOptions,
  CallRun,
  type Chunk,
  type ProgressCounts,
  type Settled,
} from './scheduler/call.js';
import { assertIterable, readerOf } from './scheduler/input.js';
import type { Engine } from './scheduler/types.js';
import { type AnyFunction, isTaskRef, type TaskRef } from './tasks.js';
import type { TaskSpec } from './worker/protocol.js';

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
   * How many workers: a positive integer, `'auto'` (every core), or joblib's negative form
   * (-1 every core, -2 all but one). On the redis backend: how many batches the cluster runs at
   * once, the sum of the `--workers` of its `fanout worker` processes (a positive integer,
   * default 8).
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
   * Threads only: the V8 heap limits of each worker thread (an out-of-memory worker crashes
   * with `ERR_WORKER_CRASHED`, the pool survives).
   * @example new Pool({ resourceLimits: { maxOldGenerationSizeMb: 256 } })
   */
  resourceLimits?: ResourceLimits;
  /**
   * Extra Node.js flags for each worker, after the parent's own.
   * @example new Pool({ backend: 'processes', execArgv: ['--max-old-space-size=512'] })
   */
  execArgv?: string[];
}

/** Options every call accepts; set on the pool, they are the defaults. */
export interface CallDefaults {
  /**
   * Items per batch: `'auto'` (adaptive, aiming at 10–100 ms per batch) or a fixed positive integer.
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
   * Seed of `taskContext().random()`: item i of a call always gets the stream of `(seed, i)`.
   * @default a random seed per pool
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
   * Called with counts as items finish.
   * @example pool.map(tasks.f, xs, { onProgress: ({ done, total }) => console.log(done, total) })
   */
  onProgress?: (counts: ProgressCounts) => void;
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

type ItemsOf<T> = Iterable<T> | AsyncIterable<T>;
type Task<F extends AnyFunction> = TaskRef<F> | F;

const CALL_DEFAULT_KEYS = ['batchSize', 'preDispatch', 'timeout', 'retries', 'retryOn', 'seed'] as const;
const POOL_KEYS = [
  ...CALL_DEFAULT_KEYS,
  'backend',
  'workers',
  'concurrency',
  'maxTasksPerWorker',
  'maxWorkerMemory',
  'idleTimeout',
  'abortGrace',
  'loadTimeout',
  'resourceLimits',
  'execArgv',
];
const CALL_KEYS = [...CALL_DEFAULT_KEYS, 'signal', 'onProgress'];
const MAP_KEYS = [...CALL_KEYS, 'ordered', 'errors'];

interface ResolvedDefaults {
  batchSize: number | 'auto';
  preDispatch: number | 'auto';
  timeout: number | undefined;
  retries: number;
  retryOn: 'crash' | 'error';
  seed: number;
}

function resolveDefaults(input: CallDefaults, base: ResolvedDefaults): ResolvedDefaults {
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
    seed: input.seed === undefined ? base.seed : seedOption('seed', input.seed),
  };
}

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

function makeBackend(name: LocalBackendName, options: PoolOptions): LocalBackend {
  switch (name) {
    case 'threads':
      return threadsBackend({ resourceLimits: options.resourceLimits, execArgv: options.execArgv });
    case 'processes':
      return processesBackend({
        execArgv: options.execArgv,
        maxOldSpaceMb: options.resourceLimits?.maxOldGenerationSizeMb,
      });
    case 'inline':
      return inlineBackend();
  }
}

/** Inline functions get a stable id per function object, so a worker compiles each once. */
const inlineIds = new WeakMap<AnyFunction, number>();
let nextInlineId = 1;

function taskSpecOf(task: unknown): { spec: TaskSpec; name: string } {
  if (isTaskRef(task)) {
    const spec: TaskSpec = { kind: 'task', module: task.module, name: task.taskName, wrapper: task.wrapper };
    return { spec, name: task.taskName };
  }
  if (typeof task === 'function') {
    let fnId = inlineIds.get(task as AnyFunction);
    if (fnId === undefined) {
      fnId = nextInlineId++;
      inlineIds.set(task as AnyFunction, fnId);
    }
    const name = (task as AnyFunction).name || 'inline function';
    return { spec: { kind: 'inline', fnId, source: String(task), name }, name };
  }
  throw new InvalidArgTypeError(
    `Expected \`task\` to be a task reference from defineTasks() or a function, got ${show(task)}`,
  );
}

/** One array from the chunks of a call, filled in one pass (faster than growing it with push). */
function concatenate(chunks: readonly Chunk[], total: number): unknown[] {
  if (chunks.length === 1 && Array.isArray(chunks[0])) return chunks[0];
  const results = new Array(total);
  let k = 0;
  for (const chunk of chunks) for (let i = 0; i < chunk.length; i++) results[k++] = chunk[i];
  return results;
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
  readonly #active = new Set<Promise<unknown>>();
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
    if (isRedisBackend(options.backend)) {
      const redis = resolveRedisOptions(options.backend, options as Record<string, unknown>);
      this.backend = 'redis';
      this.workers = redis.size;
      this.#defaults = resolveDefaults(options, initialDefaults());
      this.#engine = new RedisEngine(redis);
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
    if (
      options.resourceLimits !== undefined &&
      (typeof options.resourceLimits !== 'object' || options.resourceLimits === null)
    ) {
      throw new InvalidArgTypeError(
        `Expected \`resourceLimits\` to be an object, got ${show(options.resourceLimits)}`,
      );
    }
    this.#defaults = resolveDefaults(options, initialDefaults());
    const maxWorkerMemoryMb =
      options.maxWorkerMemory === undefined
        ? Infinity
        : duration('maxWorkerMemory', options.maxWorkerMemory, true);
    this.#engine = new WorkerSet(makeBackend(this.backend, options), {
      size: this.workers,
      maxTasksPerWorker:
        options.maxTasksPerWorker === undefined
          ? Infinity
          : positiveInteger('maxTasksPerWorker', options.maxTasksPerWorker),
      maxWorkerMemory: maxWorkerMemoryMb * 1024 * 1024,
      idleTimeout:
        options.idleTimeout === undefined ? Infinity : duration('idleTimeout', options.idleTimeout, true),
      abortGrace: options.abortGrace === undefined ? 1000 : duration('abortGrace', options.abortGrace),
      loadTimeout: options.loadTimeout === undefined ? 60_000 : duration('loadTimeout', options.loadTimeout),
      stopTimeout: 5000,
    });
  }

  /** Workers alive right now (they start on first use and after a crash). */
  get liveWorkers(): number {
    return this.#engine.liveWorkers;
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
    if (!Array.isArray(args))
      throw new InvalidArgTypeError(`Expected \`args\` to be an array, got ${show(args)}`);
    let call: CallRun | undefined;
    const { future, control } = TaskFuture.create<Awaited<ReturnType<F>>>(() => call?.close());
    try {
      call = this.startCall(task, [args], true, { ...options }, CALL_KEYS, () => control.markRunning());
    } catch (error) {
      control.reject(error);
      return future;
    }
    const started = call;
    const done = (async () => {
      for await (const chunk of started.chunks()) control.resolve(chunk[0] as Awaited<ReturnType<F>>);
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
   * ```
   */
  map<T, R>(
    task: Task<(item: T) => R>,
    items: ItemsOf<T>,
    options: CollectOptions,
  ): Promise<Settled<Awaited<R>>[]>;
  map<T, R>(task: Task<(item: T) => R>, items: ItemsOf<T>, options?: MapOptions): Promise<Awaited<R>[]>;
  map(task: Task<AnyFunction>, items: ItemsOf<unknown>, options: MapOptions = {}): Promise<unknown[]> {
    return this.collect(task, items, false, options);
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
  starmap(task: Task<AnyFunction>, tuples: ItemsOf<unknown[]>, options: MapOptions = {}): Promise<unknown[]> {
    return this.collect(task, tuples, true, options);
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
  imap(task: Task<AnyFunction>, items: ItemsOf<unknown>, options: MapOptions = {}): AsyncIterable<unknown> {
    return this.stream(task, items, false, options);
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
  istarmap(
    task: Task<AnyFunction>,
    tuples: ItemsOf<unknown[]>,
    options: MapOptions = {},
  ): AsyncIterable<unknown> {
    return this.stream(task, tuples, true, options);
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
  }

  /** `await using pool = new Pool()` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private track(promise: Promise<unknown>): void {
    this.#active.add(promise);
    const forget = () => {
      this.#active.delete(promise);
    };
    promise.then(forget, forget);
  }

  private async collect(
    task: unknown,
    items: ItemsOf<unknown>,
    spread: boolean,
    options: MapOptions,
  ): Promise<unknown[]> {
    const call = this.startCall(task, items, spread, options, MAP_KEYS);
    const run = (async () => {
      const chunks: Chunk[] = [];
      let total = 0;
      for await (const chunk of call.chunks()) {
        chunks.push(chunk);
        total += chunk.length;
      }
      return concatenate(chunks, total);
    })();
    this.track(run);
    return run;
  }

  private stream(
    task: unknown,
    items: ItemsOf<unknown>,
    spread: boolean,
    options: MapOptions,
  ): AsyncIterable<unknown> {
    // Validate now, so a bad argument throws at the call and not at the first iteration.
    const start = this.prepareCall(task, items, spread, options, MAP_KEYS);
    return {
      [Symbol.asyncIterator]: () => {
        let finished!: () => void;
        this.track(
          new Promise<void>((resolve) => {
            finished = resolve;
          }),
        );
        return (async function* () {
          try {
            for await (const chunk of start().chunks()) yield* chunk;
          } finally {
            finished();
          }
        })();
      },
    };
  }

  private startCall(
    task: unknown,
    items: ItemsOf<unknown>,
    spread: boolean,
    options: MapOptions,
    keys: readonly string[],
    onStart?: () => void,
  ): CallRun {
    return this.prepareCall(task, items, spread, options, keys, onStart)();
  }

  /** Validate a call completely; the returned function starts it (and is where a closed pool says so). */
  private prepareCall(
    task: unknown,
    items: ItemsOf<unknown>,
    spread: boolean,
    options: MapOptions,
    keys: readonly string[],
    onStart?: () => void,
  ): () => CallRun {
    checkKnownKeys('the call options', options, keys);
    const { spec, name } = taskSpecOf(task);
    if (spec.kind === 'inline' && !this.#engine.supports.inlineFunctions) {
      throw new InvalidArgValueError(
        `Inline functions cannot run on the ${this.backend} backend; use a task module`,
      );
    }
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
      throw new InvalidArgTypeError(
        `Expected \`onProgress\` to be a function, got ${show(options.onProgress)}`,
      );
    }
    const defaults = resolveDefaults(options, this.#defaults);
    const callOptions: CallOptions = {
      task: spec,
      taskName: name,
      spread,
      ordered: options.ordered === undefined ? true : boolean('ordered', options.ordered),
      collect:
        options.errors === undefined
          ? false
          : oneOf('errors', options.errors, ['fail', 'collect']) === 'collect',
      ...defaults,
      context: undefined,
      signal: options.signal === undefined ? undefined : abortSignal('signal', options.signal),
      checkArgs: this.#engine.supports.crossesBoundary,
      onProgress: options.onProgress,
      onStart,
    };
    assertIterable(items);
    return () => {
      if (this.#closed) {
        throw new PoolClosedError('The pool is closed: no new work is accepted after close() or terminate()');
      }
      return new CallRun(this.#engine, readerOf(items), callOptions);
    };
  }
}
