/**
 * Benchmark of pool.reduceChunks on the compiled package (`dist/`): column sums of float64 matrix
 * files of 0.5, 1 and 2 GB, in parallel against a serial streaming loop over the same file, and
 * the peak resident memory of each against the file's size.
 *
 *   npm run bench:chunks                          # builds, runs, prints a table, writes bench/results/chunks.json
 *   npm run bench:chunks -- --sizes 64,128 --repeat 3
 *
 * Every measurement runs in a fresh child node process (bench/chunks-child.mjs, plain JavaScript
 * on dist/) with its heap capped at 512 MB, so its peak RSS (`resourceUsage().maxRSS`, main
 * thread and worker threads) is its own. Serial and
 * parallel runs alternate, so both see the same load on a shared machine; the files are read
 * once before measuring, so both read from the page cache. The serial loop reads one chunk at a
 * time into one reused buffer and sums it with the same kernel the parallel map uses
 * (`columnStats.sum.map`): the difference is the parallelism and its overhead, nothing else.
 * Files are written to the system's temporary folder and removed as soon as they are measured.
 */

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
// Only writes the input file (not timed): from src/ (this runs under tsx), as the bundle has
// no file of its own for it.
import { writeMatrixFile } from '../src/demos/out-of-core.js';
import { assertSameResults } from './check.js';
import { machineDescription } from './record.js';

const MB = 1024 * 1024;
const COLUMNS = 16;
const CHUNK_BYTES = 16 * MB;
const HEAP_MB = 512;

interface Measurement {
  readonly seconds: number;
  /** User + system CPU time of the whole process (all its threads) during the timed part. */
  readonly cpuSeconds: number;
  readonly peakRss: number;
  /** Every column's sum. */
  readonly sums: readonly number[];
}

async function measure(mode: 'serial' | 'parallel', path: string, workers: number): Promise<Measurement> {
  // Plain node: the child is JavaScript on dist/, with no TypeScript loader in its threads.
  const child = fileURLToPath(new URL('./chunks-child.mjs', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [
    `--max-old-space-size=${HEAP_MB}`,
    child,
    mode,
    path,
    String(workers),
    String(COLUMNS),
    String(CHUNK_BYTES),
  ]);
  return JSON.parse(stdout) as Measurement;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '512,1024,2048' },
      repeat: { type: 'string', default: '5' },
      workers: { type: 'string', default: '2' },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  const repeat = Number(values.repeat);
  const workers = Number(values.workers);
  const root = mkdtempSync(join(tmpdir(), 'fanout-bench-chunks-'));
  const rows: Record<string, unknown>[] = [];
  const loadBefore = loadavg();
  console.log(
    `reduceChunks vs a serial streaming loop: column sums of a float64 matrix (${COLUMNS} columns), ${CHUNK_BYTES / MB} MB chunks, ${workers} workers, heap capped at ${HEAP_MB} MB\n`,
  );
  console.log(
    `${'file'.padEnd(9)}${'serial MB/s'.padStart(20)}${'parallel MB/s'.padStart(20)}${'speedup'.padStart(16)}${'CPU s/GB'.padStart(14)}${'peak RSS'.padStart(16)}\n${''.padEnd(9)}${'median (best)'.padStart(20)}${'median (best)'.padStart(20)}${'median (best)'.padStart(16)}${'ser / par'.padStart(14)}${'ser / par'.padStart(16)}`,
  );
  try {
    for (const sizeMb of sizes) {
      const fileRows = Math.floor((sizeMb * MB) / (COLUMNS * 8));
      const bytes = fileRows * COLUMNS * 8;
      const { bavail, bsize } = statfsSync(root);
      if (bavail * bsize < bytes + 1024 * MB)
        throw new Error(`not enough free space in ${root} for ${sizeMb} MB`);
      const path = join(root, `matrix-${sizeMb}.f64`);
      writeMatrixFile(path, fileRows, COLUMNS);
      try {
        await measure('serial', path, workers); // read once: the file is in the page cache from here on
        const serialRuns: Measurement[] = [];
        const parallelRuns: Measurement[] = [];
        for (let i = 0; i < repeat; i++) {
          serialRuns.push(await measure('serial', path, workers));
          parallelRuns.push(await measure('parallel', path, workers));
        }
        // The same chunks folded in the same order: every run's sums agree to the last bit.
        const reference = (serialRuns[0] as Measurement).sums;
        for (const [i, m] of [...serialRuns, ...parallelRuns].entries()) {
          assertSameResults(m.sums, reference, `column sums of ${sizeMb} MB, run ${i + 1}`);
        }
        const mbps = (runs: Measurement[]) => runs.map((m) => bytes / MB / m.seconds);
        const ratios = serialRuns.map((s, i) => s.seconds / (parallelRuns[i] as Measurement).seconds);
        const row = {
          sizeMb: bytes / MB,
          serialMbPerSecond: { median: median(mbps(serialRuns)), best: Math.max(...mbps(serialRuns)) },
          parallelMbPerSecond: { median: median(mbps(parallelRuns)), best: Math.max(...mbps(parallelRuns)) },
          speedup: {
            median: median(ratios),
            bestOverBest: Math.max(...mbps(parallelRuns)) / Math.max(...mbps(serialRuns)),
          },
          cpuSecondsPerGb: {
            serial: median(serialRuns.map((m) => m.cpuSeconds)) / (bytes / 1024 / MB),
            parallel: median(parallelRuns.map((m) => m.cpuSeconds)) / (bytes / 1024 / MB),
          },
          peakRssMb: {
            serial: Math.max(...serialRuns.map((m) => m.peakRss)) / MB,
            parallel: Math.max(...parallelRuns.map((m) => m.peakRss)) / MB,
          },
          runs: { serial: serialRuns, parallel: parallelRuns },
        };
        rows.push(row);
        console.log(
          `${`${sizeMb} MB`.padEnd(9)}${`${row.serialMbPerSecond.median.toFixed(0)} (${row.serialMbPerSecond.best.toFixed(0)})`.padStart(20)}${`${row.parallelMbPerSecond.median.toFixed(0)} (${row.parallelMbPerSecond.best.toFixed(0)})`.padStart(20)}${`${row.speedup.median.toFixed(2)}× (${row.speedup.bestOverBest.toFixed(2)}×)`.padStart(16)}${`${row.cpuSecondsPerGb.serial.toFixed(2)} / ${row.cpuSecondsPerGb.parallel.toFixed(2)}`.padStart(14)}${`${row.peakRssMb.serial.toFixed(0)} / ${row.peakRssMb.parallel.toFixed(0)} MB`.padStart(16)}`,
        );
      } finally {
        rmSync(path, { force: true });
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const loadAfter = loadavg();
  console.log(
    `\nmedians of ${repeat} alternating runs, best in brackets (speedup: median of the per-pair ratios, and best over best);\nCPU: user + system time of the whole process per GB; peak RSS: the largest of the runs`,
  );
  console.log(
    `load average before/after: ${loadBefore[0]?.toFixed(1)} / ${loadAfter[0]?.toFixed(1)} on ${cpus().length} cores`,
  );
  const results = {
    ...machineDescription(),
    loadAverage: { before: loadBefore, after: loadAfter },
    columns: COLUMNS,
    chunkBytes: CHUNK_BYTES,
    heapMb: HEAP_MB,
    workers,
    repeat,
    sizes: rows,
  };
  const out = new URL('./results/', import.meta.url);
  mkdirSync(out, { recursive: true });
  writeFileSync(new URL('chunks.json', out), `${JSON.stringify(results, null, 2)}\n`);
  console.log('wrote bench/results/chunks.json');
}

await main();
