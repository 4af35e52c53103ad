/**
 * One variant of the column-sums benchmark, in a fresh process (so its peak RSS is its own):
 * sums of the 64 columns of a 256 MB row-major Float64Array, serially or with every core.
 *
 *   node dist-bench/bench/data/column-sums.js <variant> [--mb 256] [--workers N]
 *
 * Variants: serial; shared (threads: a SharedArrayBuffer, never copied); copied (threads: the
 * whole array passed to every task, as a naive parallel map copies a dataframe into each task);
 * broadcast (threads, or processes: copied once per worker).
 */

import { availableParallelism } from 'node:os';
import { Pool, shared } from '../../src/index.js';
import { numberOption, parseArgs } from '../args.js';
import tasks, { COLUMNS, columnSums } from './tasks.js';

const variant = process.argv[2] ?? 'serial';
const args = parseArgs(process.argv.slice(3));
const mb = numberOption(args, 'mb', 256);
const workers = numberOption(args, 'workers', availableParallelism());
const rows = Math.floor((mb * 1024 * 1024) / 8 / COLUMNS);

// The pool is started (and its workers warmed) before the array exists: what is measured is
// the memory and time the data costs, not the workers' own.
const backend = variant === 'broadcast-processes' ? 'processes' : 'threads';
const pool = variant === 'serial' ? undefined : new Pool({ backend, workers });
// Warm the workers' loop (and the caller's, for serial) on a small array of the same kind.
const warmRows = 16_384;
const warm = variant === 'shared' ? shared.float64(warmRows * COLUMNS) : new Float64Array(warmRows * COLUMNS);
if (pool) {
  const warmArgument = variant.startsWith('broadcast') ? pool.broadcast(warm) : warm;
  await pool.starmap(
    tasks.columnSums,
    Array.from({ length: 4 * workers }, () => [warmArgument, 0, warmRows] as [Float64Array, number, number]),
    { batchSize: 1 },
  );
} else {
  for (let i = 0; i < 4; i++) columnSums(warm, 0, warmRows);
}
/** Each worker process's peak RSS before the array (threads share this process's). */
const childPeaks = async () =>
  new Map(
    (pool && backend === 'processes'
      ? await pool.map(tasks.peakRss, [0, 1, 2, 3, 4, 5], { batchSize: 1 })
      : []
    ).map((p) => [p.pid, p.peakMb]),
  );
const childrenBefore = await childPeaks();
const rssBefore = process.memoryUsage.rss();
const data = variant === 'shared' ? shared.float64(rows * COLUMNS) : new Float64Array(rows * COLUMNS);
// Whole numbers: every column's sum stays below 2^53, so it is exact whatever order the parts
// are added in, and the variants' sums can be compared column by column, bit for bit.
for (let i = 0; i < data.length; i++) data[i] = i % 1000;
const arrayMb = data.byteLength / 1024 / 1024;

/** Row ranges: 4 per worker, so the work stays balanced. */
const pieces = 4 * workers;
const ranges = Array.from({ length: pieces }, (_, k) => [
  Math.floor((k * rows) / pieces),
  Math.floor(((k + 1) * rows) / pieces),
]) as [number, number][];

function add(total: Float64Array, part: Float64Array): Float64Array {
  for (let c = 0; c < COLUMNS; c++) total[c] = (total[c] as number) + (part[c] as number);
  return total;
}

const start = performance.now();
let sums: Float64Array;
let childrenExtraMb = 0;
if (!pool) {
  sums = columnSums(data, 0, rows);
} else {
  const argument = variant.startsWith('broadcast') ? pool.broadcast(data) : data;
  const parts = await pool.starmap(
    tasks.columnSums,
    ranges.map(([a, b]) => [argument, a, b] as [Float64Array, number, number]),
    { batchSize: 1 },
  );
  sums = parts.reduce(add, new Float64Array(COLUMNS));
  for (const [pid, peakMb] of await childPeaks())
    childrenExtraMb += peakMb - (childrenBefore.get(pid) ?? peakMb);
}
const seconds = (performance.now() - start) / 1000;
const peakMb = process.resourceUsage().maxRSS / 1024;
const extraMb = peakMb - rssBefore / 1024 / 1024 - arrayMb + childrenExtraMb;
process.stdout.write(
  `${JSON.stringify({ variant, workers, arrayMb: Math.round(arrayMb), seconds, peakMb, extraMb, sums: Array.from(sums) })}\n`,
);
await pool?.close();
