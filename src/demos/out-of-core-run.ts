/**
 * The measured part of `fanout demo out-of-core`, run by the demo in a child node process whose
 * heap is capped (`--max-old-space-size`): column means of a matrix file with
 * `pool.reduceChunks`, then an exact serial pass over the same file to check them. Prints one
 * JSON line (`RunResult`) on stdout.
 *
 *   node --max-old-space-size=512 out-of-core-run.js '{"path":"...","columns":16,...}'
 */

import { closeSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { Pool } from '../api/pool.js';
import { columnStats } from '../chunks/column-stats.js';
import { chunks } from '../chunks/sources.js';

export interface RunInput {
  readonly path: string;
  readonly columns: number;
  readonly workers: number | 'auto';
  readonly chunkBytes: number;
  readonly heapMb: number;
}

export interface RunResult {
  readonly workers: number;
  readonly rows: number;
  /** Parallel means, then the exact ones. */
  readonly means: number[];
  readonly exactMeans: number[];
  readonly seconds: number;
  readonly exactSeconds: number;
  /** The process's peak resident memory after the parallel run (main thread and workers), in bytes. */
  readonly peakRss: number;
  /** V8's heap limit in this process, in bytes. */
  readonly heapLimit: number;
}

/**
 * Column sums in one streaming pass with Neumaier's compensated summation: each column's sum
 * carries its own rounding error along, so the result is exact to about one rounding. Reads one
 * chunk at a time into one buffer.
 */
function exactMeans(path: string, columns: number, chunkBytes: number): { means: number[]; rows: number } {
  const rowBytes = columns * 8;
  const buffer = new Float64Array(Math.max(1, Math.floor(chunkBytes / rowBytes)) * columns);
  const bytes = new Uint8Array(buffer.buffer);
  const sum = new Float64Array(columns);
  const compensation = new Float64Array(columns);
  const fd = openSync(path, 'r');
  let position = 0;
  try {
    for (;;) {
      const read = readSync(fd, bytes, 0, bytes.length, position);
      if (read === 0) break;
      position += read;
      const values = read / 8;
      for (let i = 0; i < values; i += columns) {
        for (let c = 0; c < columns; c++) {
          const x = buffer[i + c] as number;
          const s = sum[c] as number;
          const t = s + x;
          compensation[c] =
            (compensation[c] as number) + (Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s);
          sum[c] = t;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  const rows = position / rowBytes;
  return { means: Array.from(sum, (s, c) => (s + (compensation[c] as number)) / rows), rows };
}

async function run(input: RunInput): Promise<RunResult> {
  const { path, columns, chunkBytes, heapMb } = input;
  // Worker threads get the same heap cap as this process.
  await using pool = new Pool({ workers: input.workers, resourceLimits: { maxOldGenerationSizeMb: heapMb } });
  // Start the workers and load the modules first (a one-row chunk each), so the time is the work's.
  const warm = `${path}.warm`;
  writeFileSync(warm, new Float64Array(pool.workers * columns));
  await pool.reduceChunks(chunks.matrix(warm, { columns }), { ...columnStats.sum, chunkBytes: 1 });
  rmSync(warm);
  const started = performance.now();
  const stats = await pool.reduceChunks(chunks.matrix(path, { columns }), { ...columnStats.sum, chunkBytes });
  const seconds = (performance.now() - started) / 1000;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  const checkStarted = performance.now();
  const exact = exactMeans(path, columns, chunkBytes);
  return {
    workers: pool.workers,
    rows: stats.count,
    means: Array.from(stats.sum, (s) => s / stats.count),
    exactMeans: exact.means,
    seconds,
    exactSeconds: (performance.now() - checkStarted) / 1000,
    peakRss,
    heapLimit: getHeapStatistics().heap_size_limit,
  };
}

const input = JSON.parse(process.argv[2] ?? '{}') as RunInput;
process.stdout.write(`${JSON.stringify(await run(input))}\n`);
