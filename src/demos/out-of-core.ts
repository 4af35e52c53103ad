/**
 * `fanout demo out-of-core`: seed 004's question, "the mean value of each column of an array so
 * big that you cannot hold it in memory". It writes a float64 matrix file larger than the heap
 * it then runs with, computes the column means in parallel in a child node process whose heap is
 * capped (`--max-old-space-size`), checks them against an exact serial pass, and reports the
 * time, the throughput and the peak resident memory. The file is removed afterwards (also on
 * Ctrl-C).
 *
 * The heap cap alone proves little (typed arrays live outside the V8 heap, so a 2 GB Buffer
 * fits a 512 MB heap); the peak RSS of the whole process, worker threads included, is the
 * figure that shows the file never was in memory.
 */

import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { InvalidArgValueError } from '../errors.js';
import { ownModule } from '../layout.js';
import { inheritedExecArgv } from '../local/exec-argv.js';
import { resolveWorkers } from '../options/checks.js';
import { UsageError } from '../options/flags.js';
import type { RunInput, RunResult } from './out-of-core-run.js';

const MB = 1024 * 1024;
/** Parallel and exact means may differ by rounding only: far less than this, relatively. */
const TOLERANCE = 1e-10;

export interface OutOfCoreOptions {
  /** Size of the matrix file in MiB (rounded down to whole rows). */
  sizeMb: number;
  columns: number;
  workers: number | 'auto';
  /** `chunkBytes` of the call, in MiB. */
  chunkMb: number;
  /** Heap cap of the child process, in MiB. */
  heapMb: number;
  /** Where to write the file (a fresh folder is made inside, and removed). */
  dir: string;
  out: (line: string) => void;
}

export interface OutOfCoreResult extends RunResult {
  readonly bytes: number;
  readonly columns: number;
  readonly mbPerSecond: number;
  readonly writeSeconds: number;
  readonly maxRelativeDifference: number;
  readonly matches: boolean;
}

/**
 * Write `rows × columns` float64 values, row-major: column c holds 10·c plus a uniform draw in
 * [0, 1) from a xorshift stream (fast enough to write gigabytes in seconds; determinism only).
 */
export function writeMatrixFile(path: string, rows: number, columns: number): void {
  const blockRows = Math.max(1, Math.floor(MB / (columns * 8)));
  const block = new Float64Array(blockRows * columns);
  let state = 0x9e3779b9;
  const fd = openSync(path, 'w');
  try {
    for (let row = 0; row < rows; row += blockRows) {
      const n = Math.min(blockRows, rows - row);
      for (let i = 0; i < n * columns; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        block[i] = 10 * (i % columns) + (state >>> 0) / 4294967296;
      }
      writeSync(fd, new Uint8Array(block.buffer, 0, n * columns * 8));
    }
  } finally {
    closeSync(fd);
  }
}

function checkFreeSpace(dir: string, bytes: number): void {
  const { bavail, bsize } = statfsSync(dir);
  const free = bavail * bsize;
  // Leave room for everyone else on the disk, too.
  if (free < bytes + 512 * MB) {
    throw new InvalidArgValueError(
      `Not enough free space in ${dir} for a ${Math.round(bytes / MB)} MB file (${Math.round(free / MB)} MB free): use a smaller --size-mb or another --dir`,
    );
  }
}

/** Run the measured part in a child node process with its heap capped. */
async function runCapped(input: RunInput): Promise<RunResult> {
  const child = fileURLToPath(ownModule('demos/out-of-core-run'));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...inheritedExecArgv(), `--max-old-space-size=${input.heapMb}`, child, JSON.stringify(input)],
    { maxBuffer: 16 * MB },
  );
  return JSON.parse(stdout) as RunResult;
}

/** Remove `dir` on Ctrl-C too: a forgotten 2 GB file is worse than a slower exit. */
function removeOnInterrupt(dir: string): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    rmSync(dir, { recursive: true, force: true });
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

export async function outOfCoreDemo(options: OutOfCoreOptions): Promise<OutOfCoreResult> {
  const { columns, heapMb, out } = options;
  const rows = Math.floor((options.sizeMb * MB) / (columns * 8));
  if (rows < 1)
    throw new InvalidArgValueError(`--size-mb ${options.sizeMb} holds no row of ${columns} float64 values`);
  const bytes = rows * columns * 8;
  checkFreeSpace(options.dir, bytes);
  const dir = mkdtempSync(join(options.dir, 'fanout-out-of-core-'));
  const forget = removeOnInterrupt(dir);
  try {
    const path = join(dir, 'matrix.f64');
    out("Column means of a matrix larger than the heap (seed 004's out-of-core question)");
    let started = performance.now();
    writeMatrixFile(path, rows, columns);
    const writeSeconds = (performance.now() - started) / 1000;
    out(
      `  wrote ${path}: ${(bytes / MB).toFixed(0)} MB, ${rows.toLocaleString('en-US')} rows × ${columns} float64 columns (${writeSeconds.toFixed(1)} s)`,
    );
    started = performance.now();
    const run = await runCapped({
      path,
      columns,
      workers: options.workers,
      chunkBytes: options.chunkMb * MB,
      heapMb,
    });
    let maxRelativeDifference = 0;
    for (let c = 0; c < columns; c++) {
      const exact = run.exactMeans[c] as number;
      maxRelativeDifference = Math.max(
        maxRelativeDifference,
        Math.abs((run.means[c] as number) - exact) / Math.abs(exact || 1),
      );
    }
    const matches = run.rows === rows && maxRelativeDifference <= TOLERANCE;
    const mbPerSecond = bytes / MB / run.seconds;
    out(
      `  child node process: --max-old-space-size=${heapMb} (V8 heap limit ${(run.heapLimit / MB).toFixed(0)} MB), worker threads capped alike`,
    );
    out(
      `  pool.reduceChunks(chunks.matrix(path, { columns: ${columns} }), columnStats.sum): ${run.workers} workers, ${options.chunkMb} MB chunks`,
    );
    out(
      `    ${run.seconds.toFixed(2)} s, ${mbPerSecond.toFixed(0)} MB/s, peak RSS ${(run.peakRss / MB).toFixed(0)} MB (the whole process: main thread and workers)`,
    );
    out(
      `  means ${run.means
        .slice(0, 4)
        .map((m) => m.toFixed(6))
        .join(', ')}${columns > 4 ? ', ...' : ''}`,
    );
    out(
      `  exact serial check (compensated sums, one streaming pass, ${run.exactSeconds.toFixed(2)} s): largest relative difference ${maxRelativeDifference.toExponential(1)} ${matches ? '(ok)' : `— MISMATCH (tolerance ${TOLERANCE})`}`,
    );
    out(
      `  the file is ${(bytes / run.peakRss).toFixed(1)}× the peak RSS and ${(bytes / run.heapLimit).toFixed(1)}× the heap limit`,
    );
    return { ...run, bytes, columns, mbPerSecond, writeSeconds, maxRelativeDifference, matches };
  } finally {
    forget();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const OUT_OF_CORE_USAGE = `Usage: fanout demo out-of-core [--size-mb N] [--columns N] [--workers N] [--chunk-mb N] [--heap-mb N] [--dir PATH]

Seed 004's out-of-core column means: write a float64 matrix file larger than the heap, compute its
column means with pool.reduceChunks in a node process whose heap is capped, check them against an
exact serial pass, report time, throughput and peak RSS, and remove the file.
  --size-mb N    size of the matrix file in MB (default 2048)
  --columns N    columns of the matrix (default 16)
  --workers N    workers: a positive integer, 'auto' or -1 (default 'auto')
  --chunk-mb N   chunk size in MB (default 16)
  --heap-mb N    heap cap of the computing process, --max-old-space-size (default 512)
  --dir PATH     where to write the file (default the system's temporary folder)`;

/** A bad flag: Node's own code for it, so the CLI prints the message and its usage (exit 2). */
function badFlag(message: string): Error {
  return new UsageError(message);
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw badFlag(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

/** `fanout demo out-of-core [flags]`; returns the exit code (1 when the check fails). */
export async function outOfCoreCommand(args: string[], out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'size-mb': { type: 'string' },
      columns: { type: 'string' },
      workers: { type: 'string' },
      'chunk-mb': { type: 'string' },
      'heap-mb': { type: 'string' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    out(OUT_OF_CORE_USAGE);
    return 0;
  }
  let workers: number | 'auto' = 'auto';
  if (values.workers !== undefined && values.workers !== 'auto') {
    workers = Number(values.workers);
    try {
      resolveWorkers(workers, '--workers');
    } catch (error) {
      throw badFlag((error as Error).message);
    }
  }
  const options: OutOfCoreOptions = {
    sizeMb: positive('size-mb', values['size-mb'], 2048),
    columns: positive('columns', values.columns, 16),
    workers,
    chunkMb: positive('chunk-mb', values['chunk-mb'], 16),
    heapMb: positive('heap-mb', values['heap-mb'], 512),
    dir: values.dir ?? tmpdir(),
    out,
  };
  try {
    return (await outOfCoreDemo(options)).matches ? 0 : 1;
  } catch (error) {
    // Too little disk for --size-mb, say: a flag to change, not a crash.
    if ((error as { code?: unknown }).code === 'ERR_INVALID_ARG_VALUE')
      throw badFlag((error as Error).message);
    throw error;
  }
}
