/**
 * `pool.reduceChunks(source, { map, combine, initial })`: map every chunk of a source in the
 * workers, and fold the partial results in the caller as they arrive.
 *
 * Each chunk is one item of an ordinary call, in a batch of its own (`batchSize: 1`), and the
 * call's window is set explicitly (`preDispatch: workers + prefetch`): the scheduler never has
 * more than that many chunks dispatched and not yet folded. That is the memory bound:
 *
 * - File sources: an item is a byte range. A worker reads it when the task starts, into the one
 *   read buffer it reuses from chunk to chunk (buffers.ts), and runs one task at a time, so at
 *   most `workers` chunks are in memory, all in workers; the ranges queued behind them cost
 *   nothing.
 * - `fromIterable`: chunks are grouped in the caller, so at most `workers + prefetch` of them
 *   (plus the one being filled) are held there, and the running ones are also copied into their
 *   workers.
 *
 * Partial results wait in the window too, so a slow chunk holds back at most that many results.
 */

import { CHUNK_READER } from '../chunks/reader-tasks.js';
import { type ChunkSource, planChunks } from '../chunks/types.js';
import { ChunkParseError, InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import type { ProgressOptions, ProgressState } from '../observe/progress.js';
import { boolean, checkKnownKeys, nonNegativeInteger, positiveInteger, show } from '../options/checks.js';
import { MAP_KEYS, type MapOptions, type Task } from '../options/schema.js';
import { isTaskRef, makeRef } from '../tasks/tasks.js';
import { type CallSetup, prepareCall } from './core.js';

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

/** What `reduceChunks` needs of a pool; the pool passes it, so this module never imports pool.ts. */
export interface PoolAccess {
  readonly workers: number;
  setup(callName: string, keys: readonly string[]): CallSetup;
  track(running: Promise<unknown>): void;
}

const KEYS = [
  'map',
  'combine',
  'initial',
  'chunkBytes',
  'ordered',
  'prefetch',
  'signal',
  'onProgress',
  'progress',
  'timeout',
  'retries',
  'retryOn',
  'seed',
];

const NOTHING = Symbol('nothing yet');

function isSource(value: unknown): value is ChunkSource<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<ChunkSource<unknown>>)[planChunks] === 'function'
  );
}

/**
 * A parse error thrown in a worker reaches the caller as the cause of a `TaskError`; the file
 * and the offset are what matter, so it is given back as the `ChunkParseError` it was. (Codes
 * are compared, not classes: fanout's errors answer `instanceof` by brand.)
 */
function unwrapParseError(error: unknown): unknown {
  if ((error as { code?: unknown } | null)?.code !== 'ERR_TASK_FAILED') return error;
  const cause = (error as { cause?: unknown }).cause as Record<string, unknown> | undefined;
  if (cause?.code !== 'ERR_CHUNK_PARSE') return error;
  if (cause.constructor === ChunkParseError) return cause;
  return new ChunkParseError(String(cause.path), Number(cause.byteOffset), String(cause.reason), {
    cause: cause.cause,
  });
}

/** Start a chunked map-reduce on `pool`; see `Pool.reduceChunks`. */
export function reduceChunks(
  pool: PoolAccess,
  source: ChunkSource<unknown>,
  options: ReduceChunksOptions<unknown, unknown, unknown>,
): Promise<unknown> {
  const running = run(pool, source, options);
  pool.track(running);
  return running;
}

async function run(
  pool: PoolAccess,
  source: ChunkSource<unknown>,
  options: ReduceChunksOptions<unknown, unknown, unknown>,
): Promise<unknown> {
  checkKnownKeys('the reduceChunks options', options, KEYS);
  if (!isSource(source)) {
    throw new InvalidArgTypeError(
      `Expected \`source\` to be a chunk source (chunks.matrix, chunks.csv, chunks.ndjson or chunks.fromIterable), got ${show(source)}`,
    );
  }
  const { map, combine } = options;
  if (typeof combine !== 'function') {
    throw new InvalidArgTypeError(
      `Expected \`combine\` to be a function (accumulator, partial) => accumulator, got ${show(combine)}`,
    );
  }
  const fileSource = source.kind !== 'iterable';
  if (!fileSource && options.chunkBytes !== undefined) {
    throw new InvalidArgValueError(
      '`chunkBytes` does not apply to chunks.fromIterable: its chunks hold the `size` records it was given',
    );
  }
  const chunkBytes =
    options.chunkBytes === undefined ? undefined : positiveInteger('chunkBytes', options.chunkBytes);
  const prefetch =
    options.prefetch === undefined ? pool.workers : nonNegativeInteger('prefetch', options.prefetch);
  if (fileSource) {
    if (!isTaskRef(map)) {
      throw new InvalidArgTypeError(
        `Expected \`map\` to be a task reference from defineTasks: a worker reads each chunk of a file source and calls the task by its module URL; got ${show(map)}`,
      );
    }
    if (map.wrapper) {
      throw new InvalidArgValueError(
        `\`map\` (task "${map.taskName}") is already decorated (by memory.cache, say); a file source's map must be a plain task, which it decorates to read the chunk`,
      );
    }
  }
  const callOptions: MapOptions = {
    batchSize: 1,
    preDispatch: pool.workers + prefetch,
    ordered: options.ordered === undefined ? true : boolean('ordered', options.ordered),
    signal: options.signal,
    onProgress: options.onProgress,
    progress: options.progress,
    timeout: options.timeout,
    retries: options.retries,
    retryOn: options.retryOn,
    seed: options.seed,
  };
  const setup = pool.setup('pool.reduceChunks', MAP_KEYS);
  // Check every option now, before the file is even looked at; the call starts after planning.
  prepareCall(setup, map, [], callOptions);
  // The call is accepted now (this runs before the first await): a close() while the source is
  // being planned waits for it, as for any call in progress.
  setup.assertOpen();
  // So is its place in the pool's sequence of calls: its seed does not depend on how long the
  // source takes to plan while other calls start.
  const seed = setup.claimSeed();
  const accepted: CallSetup = { ...setup, assertOpen: () => {}, claimSeed: () => seed };

  const plan = await source[planChunks](chunkBytes);
  const task =
    plan.reader && isTaskRef(map)
      ? makeRef(map.module, map.taskName, map, { ...CHUNK_READER, options: plan.reader })
      : map;
  const started = prepareCall(accepted, task, plan.items, callOptions)();
  let accumulator: unknown = 'initial' in options ? options.initial : NOTHING;
  try {
    for await (const results of started.run.chunks()) {
      for (const partial of results) {
        accumulator = accumulator === NOTHING ? partial : await combine(accumulator, partial);
      }
    }
  } catch (error) {
    throw unwrapParseError(error);
  } finally {
    started.finish();
  }
  return accumulator === NOTHING ? undefined : accumulator;
}
