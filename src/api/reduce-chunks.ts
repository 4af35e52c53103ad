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

import { type ChunkSource, planChunks } from '../chunks/types.js';
import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { show } from '../options/checks.js';
import { resolveOptions } from '../options/option-set.js';
import { REDUCE_CHUNKS } from '../options/schema.js';
import { isTaskRef, makeRef } from '../tasks/tasks.js';
import type { MapOptions, ReduceChunksOptions } from '../types.js';
import type { PoolCore } from './core.js';

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
 * and the offset are what matter, so it is given back as the `ChunkParseError` it was (rebuilt
 * as one on the way: codec/errors.ts).
 */
function unwrapParseError(error: unknown): unknown {
  if ((error as { code?: unknown } | null)?.code !== 'ERR_TASK_FAILED') return error;
  const cause = (error as { cause?: unknown }).cause;
  return (cause as { code?: unknown } | null)?.code === 'ERR_CHUNK_PARSE' ? cause : error;
}

/** Start a chunked map-reduce on a pool's core; see `Pool.reduceChunks`. */
export function reduceChunks(
  core: PoolCore,
  source: ChunkSource<unknown>,
  options: ReduceChunksOptions<unknown, unknown, unknown>,
): Promise<unknown> {
  const running = run(core, source, options);
  core.track(running);
  return running;
}

async function run(
  core: PoolCore,
  source: ChunkSource<unknown>,
  input: ReduceChunksOptions<unknown, unknown, unknown>,
): Promise<unknown> {
  const options = resolveOptions(REDUCE_CHUNKS, input);
  if (!isSource(source)) {
    throw new InvalidArgTypeError(
      `Expected \`source\` to be a chunk source (chunks.matrix, chunks.csv, chunks.ndjson or chunks.fromIterable), got ${show(source)}`,
    );
  }
  const { map, combine } = options;
  const fileSource = source.kind !== 'iterable';
  if (!fileSource && options.chunkBytes !== undefined) {
    throw new InvalidArgValueError(
      '`chunkBytes` does not apply to chunks.fromIterable: its chunks hold the `size` records it was given',
    );
  }
  const workers = core.settings.workers;
  const prefetch = options.prefetch ?? workers;
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
    preDispatch: workers + prefetch,
    ordered: options.ordered,
    signal: options.signal,
    onProgress: options.onProgress,
    progress: options.progress,
    timeout: options.timeout,
    retries: options.retries,
    retryOn: options.retryOn,
    seed: options.seed,
  };
  const call = { name: 'pool.reduceChunks', spread: false, task: map, items: [] };
  // Check every option now, before the file is even looked at; the call starts after planning.
  core.prepare(call, callOptions);
  // The call is accepted now (this runs before the first await): a close() while the source is
  // being planned waits for it, as for any call in progress. So is its place in the pool's
  // sequence of calls: its seed does not depend on how long the source takes to plan while
  // other calls start.
  core.assertOpen();
  const accepted = { seed: core.claimSeed() };

  const plan = await source[planChunks](options.chunkBytes);
  let task = map;
  if (plan.reader && isTaskRef(map)) {
    // The reader that runs in the worker; its module loads only for file sources.
    const { CHUNK_READER } = await import('../chunks/reader-tasks.js');
    task = makeRef(map.module, map.taskName, map, { ...CHUNK_READER, options: plan.reader });
  }
  const started = core.prepare({ ...call, task, items: plan.items, accepted }, callOptions)();
  let accumulator: unknown = 'initial' in input ? input.initial : NOTHING;
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
