/**
 * What the expert rows share: the code someone who knows a per-task pool writes for a million
 * sub-microsecond items. The items (each workload's item i is the number i) are cut into a few
 * chunks per worker, each chunk is one task that generates its own items from a range (no input
 * array crosses) and moves its results back as one Float64Array, and no more chunks are
 * submitted at once than the pool's threads plus its bounded queue hold.
 */

import type { Range, TaskName } from '../workers/functions.js';

/**
 * Chunks per worker. One chunk per worker is the least overhead when every core stays free; a
 * few per worker let a worker that got more CPU time take more chunks on a shared machine. On
 * this 2-core machine, quiet, Piscina ran weather-10 and weather-100 with 1, 2, 4 or 8 chunks
 * per worker within 1% of each other (medians of 7: 399–402 ms and 340–344 ms).
 */
export const CHUNKS_PER_WORKER = 4;

/** The ranges of 0 … n − 1, `chunks` of them, as even as integers allow. */
export function rangesOf(task: TaskName, n: number, chunks: number): Range[] {
  const count = Math.max(1, Math.min(chunks, n));
  return Array.from({ length: count }, (_, k) => {
    const start = Math.floor((k * n) / count);
    return { task, start, count: Math.floor(((k + 1) * n) / count) - start };
  });
}

/**
 * Run every range through `submit`, at most `limit` at a time (a pool's `maxQueue` rejects or
 * throws past its limit), and put each chunk's results in place.
 */
export async function runChunked(
  ranges: readonly Range[],
  limit: number,
  submit: (range: Range) => Promise<unknown>,
): Promise<Float64Array> {
  const total = ranges.reduce((sum, r) => sum + r.count, 0);
  const results = new Float64Array(total);
  let next = 0;
  const lane = async () => {
    while (next < ranges.length) {
      const range = ranges[next++] as Range;
      results.set((await submit(range)) as Float64Array, range.start);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, ranges.length)) }, lane));
  return results;
}
