/**
 * One measurement of `bench/chunks.ts`, in a fresh process: plain JavaScript on the compiled
 * package, so no TypeScript loader is in the process or its worker threads (it would add to the
 * peak RSS being measured).
 *
 *   node --max-old-space-size=512 bench/chunks-child.mjs <serial|parallel> <file> <workers> <columns> <chunkBytes>
 *
 * Prints one JSON line: { seconds, cpuSeconds, peakRss, sums } (sums: every column's).
 */

import { closeSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

const { Pool, chunks, columnStats } = await import(new URL('../dist/index.js', import.meta.url).href);

/** User + system CPU time of the whole process (every thread) since `start`, in seconds. */
function cpuSince(start) {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

/** The serial baseline: one buffer, one chunk at a time, the same kernel as the parallel map. */
function serial(path, columns, chunkBytes) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const rowBytes = columns * 8;
  const data = new Float64Array(Math.floor(chunkBytes / rowBytes) * columns);
  const bytes = new Uint8Array(data.buffer);
  let total = columnStats.sum.initial;
  const fd = openSync(path, 'r');
  try {
    for (let position = 0; ; ) {
      const read = readSync(fd, bytes, 0, bytes.length, position);
      if (read === 0) break;
      position += read;
      const chunk = { data: data.subarray(0, read / 8), rows: read / rowBytes, columns, firstRow: 0 };
      total = columnStats.sum.combine(total, columnStats.sum.map(chunk));
    }
  } finally {
    closeSync(fd);
  }
  return {
    sums: Array.from(total.sum),
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: cpuSince(cpu),
  };
}

async function parallel(path, workers, columns, chunkBytes) {
  const heapMb = Math.round(getHeapStatistics().heap_size_limit / 1024 / 1024);
  const pool = new Pool({ workers, resourceLimits: { maxOldGenerationSizeMb: heapMb } });
  try {
    // Start the workers and load the modules (a one-row chunk each) before the clock starts.
    const warm = `${path}.warm`;
    writeFileSync(warm, new Float64Array(workers * columns));
    await pool.reduceChunks(chunks.matrix(warm, { columns }), { ...columnStats.sum, chunkBytes: 1 });
    rmSync(warm);
    const cpu = process.cpuUsage();
    const started = performance.now();
    const stats = await pool.reduceChunks(chunks.matrix(path, { columns }), {
      ...columnStats.sum,
      chunkBytes,
    });
    const seconds = (performance.now() - started) / 1000;
    return { sums: Array.from(stats.sum), seconds, cpuSeconds: cpuSince(cpu) };
  } finally {
    await pool.close(); // plain JavaScript on Node 20: no `await using`
  }
}

const [mode, path, workers, columns, chunkBytes] = process.argv.slice(2);
const run =
  mode === 'serial'
    ? serial(path, Number(columns), Number(chunkBytes))
    : await parallel(path, Number(workers), Number(columns), Number(chunkBytes));
process.stdout.write(`${JSON.stringify({ ...run, peakRss: process.resourceUsage().maxRSS * 1024 })}\n`);
