/**
 * One library on one workload, in a process of its own: time the serial loop and the library
 * alternately, `--repeat` times each, and print one JSON record on the last line of stdout.
 *
 *   node dist-bench/bench/run-one.js --library fanout --workload weather-10 [--repeat 5] [--scale 1] [--workers 2]
 */

import { availableParallelism, loadavg } from 'node:os';
import { numberOption, parseArgs } from './args.js';
import { assertSameResults } from './check.js';
import { libraries } from './libraries/index.js';
import type { BenchRecord } from './record.js';
import { median, round } from './stats.js';
import { type Timed, timed } from './timing.js';
import { functions } from './workers/functions.js';
import { workloadNamed } from './workloads.js';

/** Items run once, untimed, before timing: starts every worker, imports the module, warms the JIT. */
const WARM_ITEMS = 20_000;
/**
 * Past this many seconds for one timed run, stop repeating: one-item-per-task pools take minutes
 * on the weather workloads, and a second minute-long run adds little to the figure.
 */
const REPEAT_BUDGET_SECONDS = 20;

function serialLoop(fn: (i: number) => number, items: readonly number[]): number[] {
  // Results are kept, as the seed's loop appends them: the libraries return them too.
  const results = new Array<number>(items.length);
  for (let i = 0; i < items.length; i++) results[i] = fn(items[i] as number);
  return results;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const libraryName = args.get('library') ?? 'fanout';
  const workload = workloadNamed(args.get('workload') ?? 'weather-10');
  const repeat = numberOption(args, 'repeat', 5) * (workload.repeatFactor ?? 1);
  const workers = numberOption(args, 'workers', availableParallelism());
  const n = Math.max(1, Math.round(workload.items * numberOption(args, 'scale', 1)));
  const start = libraries[libraryName];
  if (!start) throw new Error(`Unknown library ${libraryName} (known: ${Object.keys(libraries).join(', ')})`);

  const items = Array.from({ length: n }, (_, i) => i);
  const fn = functions[workload.task];
  // Only fanout's harnesses read it: the others have no batches.
  const runOptions = workload.fanoutBatchSize ? { batchSize: workload.fanoutBatchSize } : {};
  const log = (line: string) => process.stderr.write(`  [${libraryName} ${workload.name}] ${line}\n`);

  const harness = await start(workers);
  serialLoop(fn, items.slice(0, WARM_ITEMS));
  await harness.map(workload.task, items.slice(0, WARM_ITEMS), runOptions);

  const serial: Timed<number[]>[] = [];
  const parallel: Timed<ArrayLike<unknown>>[] = [];
  for (let r = 0; r < repeat; r++) {
    const s = await timed(() => serialLoop(fn, items));
    serial.push(s);
    const p = await timed(() => harness.map(workload.task, items, runOptions));
    parallel.push(p);
    assertSameResults(p.value, s.value, `${libraryName} on ${workload.name}`);
    log(`run ${r + 1}/${repeat}: serial ${s.seconds.toFixed(3)} s, ${libraryName} ${p.seconds.toFixed(3)} s`);
    if (p.seconds > REPEAT_BUDGET_SECONDS) break;
  }
  await harness.close();
  const note = harness.describe?.(runOptions);

  const serialSeconds = median(serial.map((t) => t.seconds));
  const seconds = median(parallel.map((t) => t.seconds));
  const speedup = serialSeconds / seconds;
  const record: BenchRecord = {
    workload: workload.name,
    library: libraryName,
    version: harness.version,
    workers,
    items: n,
    seconds: round(seconds),
    itemsPerSecond: round(n / seconds),
    speedupVsSerial: round(speedup),
    efficiency: round(speedup / workers),
    perItemOverheadNs: round(((seconds * workers - serialSeconds) / n) * 1e9),
    serialSeconds: round(serialSeconds),
    samples: parallel.map((t) => round(t.seconds)),
    mainThreadUtilization: round(median(parallel.map((t) => t.utilization)), 3),
    coresUsed: round(median(parallel.map((t) => t.cores)), 3),
    cpuEfficiency: round(
      median(serial.map((t) => t.cpuSeconds)) / median(parallel.map((t) => t.cpuSeconds)),
      3,
    ),
    // maxRSS is the peak of the whole process (worker threads included), in KB.
    peakRssMb: round(process.resourceUsage().maxRSS / 1024, 3),
    loadAverage: round(loadavg()[0] as number, 2),
    ...(note ? { note } : {}),
  };
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

await main();
