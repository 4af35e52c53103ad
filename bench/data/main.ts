/**
 * `npm run bench:data`: data without copies (issue 6), on compiled code.
 *
 * 1. Column sums of a 256 MB Float64Array (rows × 64 columns) with every core, each variant in a
 *    fresh process: serial; shared memory (threads); the array copied into every task (threads);
 *    broadcast (threads, then processes). Time, speedup against serial, and peak RSS above the
 *    array's own size (for processes, the workers' own peaks are added).
 * 2. Round trips of 1 KB, 1 MB and 10 MB buffers to a thread worker and back: cloned,
 *    transferred, shared; and cloned to a process. Median of many trips.
 *
 * Prints a table and writes bench/results/data.json.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Pool, shared, transfer } from '../../src/index.js';
import { numberOption, parseArgs } from '../args.js';
import { assertSameResults } from '../check.js';
import { median } from '../stats.js';
import tasks from './tasks.js';

const args = parseArgs(process.argv.slice(2));
const mb = numberOption(args, 'mb', 256);
const workers = numberOption(args, 'workers', availableParallelism());
const variantScript = fileURLToPath(new URL('./column-sums.js', import.meta.url));
const resultsDir = new URL('../../../bench/results/', import.meta.url);

interface ColumnRun {
  variant: string;
  workers: number;
  arrayMb: number;
  seconds: number;
  peakMb: number;
  extraMb: number;
  /** The 64 column sums. */
  sums: number[];
}

/**
 * Three fresh runs of a variant; the median's figures. Every run's sums must equal `expected`
 * (the serial loop's) column by column, or the benchmark stops with an error.
 */
function runVariant(variant: string, expected?: readonly number[]): ColumnRun {
  const runs: ColumnRun[] = [];
  for (let i = 0; i < 3; i++) {
    const out = execFileSync(
      process.execPath,
      [variantScript, variant, '--mb', String(mb), '--workers', String(workers)],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      },
    );
    runs.push(JSON.parse(out.trim().split('\n').at(-1) as string));
  }
  const seconds = median(runs.map((r) => r.seconds));
  const reference = expected ?? (runs[0] as ColumnRun).sums;
  for (const [i, run] of runs.entries()) {
    assertSameResults(run.sums, reference, `column sums, ${variant} run ${i + 1}`);
  }
  return { ...(runs.find((r) => r.seconds === seconds) as ColumnRun), seconds };
}

async function roundTrips(): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  await using threads = new Pool({ workers: 1 });
  await using processes = new Pool({ backend: 'processes', workers: 1 });
  for (const bytes of [1024, 1024 * 1024, 10 * 1024 * 1024]) {
    const trips = bytes >= 10 * 1024 * 1024 ? 30 : 200;
    // Every trip must bring the same bytes back (checked outside the timed part).
    const pattern = Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + 7) & 255);
    const time = async (make: () => Uint8Array, trip: (b: Uint8Array) => Promise<Uint8Array>) => {
      for (let i = 0; i < 5; i++) await trip(make());
      const times: number[] = [];
      for (let i = 0; i < trips; i++) {
        const buffer = make();
        const t = performance.now();
        const back = await trip(buffer);
        times.push(performance.now() - t);
        assertSameResults(back, pattern, `the round trip of ${bytes} bytes`);
      }
      return median(times);
    };
    const plain = () => pattern.slice();
    const sharedBuffer = shared.uint8(bytes);
    sharedBuffer.set(pattern);
    const row = {
      bytes,
      cloneMs: await time(plain, (b) => threads.run(tasks.echo, b)),
      transferMs: await time(plain, (b) => threads.run(tasks.echoTransferred, transfer(b))),
      sharedMs: await time(
        () => sharedBuffer,
        (b) => threads.run(tasks.echo, b),
      ),
      processCloneMs: await time(plain, (b) => processes.run(tasks.echo, b)),
    };
    out.push(row);
  }
  return out;
}

const load = loadavg()[0] as number;
const variants = ['serial', 'shared', 'copied', 'broadcast', 'broadcast-processes'];
const serialRun = runVariant('serial');
const columnRuns = [serialRun, ...variants.slice(1).map((v) => runVariant(v, serialRun.sums))];
const serial = columnRuns[0] as ColumnRun;
const column = columnRuns.map((r) => ({
  ...r,
  speedupVsSerial: serial.seconds / r.seconds,
  extraRssOfArray: r.variant === 'serial' ? 0 : r.extraMb / r.arrayMb,
}));
const trips = await roundTrips();

const pad = (s: string, n: number) => s.padStart(n);
process.stdout.write(
  `\nColumn sums of a ${serial.arrayMb} MB Float64Array (${workers} workers, median of 3 fresh processes)\n`,
);
process.stdout.write(
  `${'variant'.padEnd(22)}${pad('seconds', 9)}${pad('speedup', 9)}${pad('extra RSS MB', 14)}${pad('of array', 10)}\n`,
);
for (const r of column) {
  process.stdout.write(
    `${r.variant.padEnd(22)}${pad(r.seconds.toFixed(3), 9)}${pad(`${r.speedupVsSerial.toFixed(2)}×`, 9)}${pad(r.variant === 'serial' ? '' : r.extraMb.toFixed(0), 14)}${pad(r.variant === 'serial' ? '' : `${(r.extraRssOfArray * 100).toFixed(0)}%`, 10)}\n`,
  );
}
process.stdout.write(
  `every run's 64 column sums equal the serial loop's\n\nRound trip to a worker and back (median ms)\n`,
);
process.stdout.write(
  `${'size'.padEnd(10)}${pad('clone', 10)}${pad('transfer', 10)}${pad('shared', 10)}${pad('process', 10)}\n`,
);
for (const t of trips) {
  const size =
    (t.bytes as number) >= 1024 * 1024
      ? `${(t.bytes as number) / 1024 / 1024} MB`
      : `${(t.bytes as number) / 1024} KB`;
  process.stdout.write(
    `${size.padEnd(10)}${[t.cloneMs, t.transferMs, t.sharedMs, t.processCloneMs].map((v) => pad((v as number).toFixed(3), 10)).join('')}\n`,
  );
}
mkdirSync(resultsDir, { recursive: true });
writeFileSync(
  new URL('data.json', resultsDir),
  `${JSON.stringify({ node: process.version, workers, loadAverage: load, columnSums: column, roundTrips: trips }, null, 2)}\n`,
);
process.stdout.write(`\nload average ${load.toFixed(1)} · wrote bench/results/data.json\n`);
