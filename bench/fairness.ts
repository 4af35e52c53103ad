/**
 * One fairness row (see fairness-rows.ts), in a process of its own; prints one JSON record on
 * the last line of stdout.
 *
 *   node dist-bench/bench/fairness.js --workload mixed-latency|skewed --library fanout|piscina|hand-split
 *                                     [--repeat 5] [--scale 1] [--workers N]
 *
 * Every task busy-waits on the wall clock (functions.spin) and returns its duration: each result
 * is checked against its own item, and the work is exactly what the durations say.
 */

import { availableParallelism, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Piscina } from 'piscina';
import { randomStream } from '../src/data/random.js';
import { Pool } from '../src/index.js';
import { numberOption, parseArgs } from './args.js';
import type { FairnessRecord, FairnessWorkload } from './fairness-rows.js';
import { startHandSplit } from './libraries/hand-split.js';
import { functionsUrl } from './libraries/harness.js';
import { versionOf } from './libraries/versions.js';
import { median, round } from './stats.js';
import { timed } from './timing.js';
import tasks from './workers/fanout-tasks.js';
import { SEED } from './workers/functions.js';

/** mixed-latency: each long task runs this long; `workers − 1` streams of them leave one worker free. */
const LONG_MS = 100;
/** mixed-latency: each short task runs this long (plus a millionth of a ms per index, so its result names it). */
const SHORT_MS = 1;
/** mixed-latency: short tasks arrive at exponential gaps of this mean (seeded): one worker is ~25 % busy with them. */
const MEAN_GAP_MS = 4;
const SHORT_TASKS = 300;
/** skewed: Pareto durations of shape α, the shortest MIN_MS (mean 3 × MIN_MS). */
const ALPHA = 1.5;
const MIN_MS = 0.25;
const SKEWED_ITEMS = 2000;

interface Runner {
  readonly version: string;
  /** One task on its own (mixed-latency). */
  run?(ms: number): Promise<number>;
  /** One call over every item (skewed), results in input order. */
  map(durations: readonly number[]): Promise<ArrayLike<unknown>>;
  /**
   * Start every worker, where a library does not at construction: a fanout pool starts one
   * worker first and a second only for work that outlasts a worker's start, which the warm-up
   * map is not, so the first long task would otherwise leave the short ones waiting for it.
   */
  startAll?(): Promise<unknown>;
  close(): Promise<void>;
}

async function startRunner(library: string, workers: number): Promise<Runner> {
  switch (library) {
    case 'fanout': {
      const pool = new Pool({ workers });
      return {
        version: versionOf('fanout'),
        run: (ms) => pool.run(tasks.spin, ms),
        map: (durations) => pool.map(tasks.spin, durations),
        startAll: () => pool.runOnEach(tasks.spin, 1),
        close: () => pool.close(),
      };
    }
    case 'piscina': {
      // As its documentation shows: one `run` per task; the pool keeps its own queue.
      const pool = new Piscina({ filename: functionsUrl, minThreads: workers, maxThreads: workers });
      const run = (ms: number) => pool.run(ms, { name: 'spin' }) as Promise<number>;
      return {
        version: versionOf('piscina'),
        run,
        map: (durations) => Promise.all(durations.map(run)),
        close: () => pool.destroy(),
      };
    }
    case 'hand-split': {
      // One contiguous chunk per worker, as someone splitting the input by hand would.
      const harness = await startHandSplit(workers);
      return {
        version: harness.version,
        map: (durations) => harness.map('spin', durations, {}),
        close: () => harness.close(),
      };
    }
    default:
      throw new Error(`The fairness rows do not run ${library} (known: fanout, piscina, hand-split)`);
  }
}

/** Throw unless every result is the duration its item asked for. */
function checkEach(results: ArrayLike<unknown>, durations: readonly number[], library: string): void {
  if (results.length !== durations.length) {
    throw new Error(`${library} returned ${results.length} results for ${durations.length} items`);
  }
  for (let i = 0; i < durations.length; i++) {
    if (results[i] !== durations[i])
      throw new Error(`${library} returned ${results[i]} for item ${i}, which is ${durations[i]}`);
  }
}

/** The value at quantile `q` of sorted values (nearest rank). */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** One run of mixed-latency: the latency of each short task, in ms. */
async function mixedLatencyRun(
  runner: Runner,
  workers: number,
  shorts: number,
  run: number,
): Promise<number[]> {
  const submit = runner.run as (ms: number) => Promise<number>;
  let stop = false;
  const longStreams = Array.from({ length: Math.max(1, workers - 1) }, async () => {
    while (!stop) {
      const value = await submit(LONG_MS);
      if (value !== LONG_MS) throw new Error(`a long task returned ${value}`);
    }
  });
  await sleep(LONG_MS / 4);
  const random = randomStream(SEED, run);
  const latencies = new Array<number>(shorts);
  const finished: Promise<void>[] = [];
  let due = performance.now();
  for (let i = 0; i < shorts; i++) {
    due += -Math.log(1 - random.random()) * MEAN_GAP_MS;
    const wait = due - performance.now();
    if (wait >= 1) await sleep(wait);
    const ms = SHORT_MS + i * 1e-6;
    const submitted = performance.now();
    finished.push(
      submit(ms).then((value) => {
        if (value !== ms) throw new Error(`short task ${i} returned ${value}, not ${ms}`);
        latencies[i] = performance.now() - submitted;
      }),
    );
  }
  await Promise.all(finished);
  stop = true;
  await Promise.all(longStreams);
  return latencies;
}

/** The skewed workload's durations: Pareto(α, MIN_MS), the same every run and for every library. */
function paretoDurations(count: number): number[] {
  const random = randomStream(SEED, 0);
  return Array.from({ length: count }, () => MIN_MS / (1 - random.random()) ** (1 / ALPHA));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const workload = (args.get('workload') ?? 'skewed') as FairnessWorkload['name'];
  const library = args.get('library') ?? 'fanout';
  const repeat = numberOption(args, 'repeat', 5);
  const scale = numberOption(args, 'scale', 1);
  const workers = numberOption(args, 'workers', availableParallelism());
  const log = (line: string) => process.stderr.write(`  [${library} ${workload}] ${line}\n`);
  const runner = await startRunner(library, workers);
  // Warm up: every worker started, the task module loaded, the JIT warm.
  await runner.startAll?.();
  checkEach(await runner.map(new Array(8 * workers).fill(1)), new Array(8 * workers).fill(1), library);

  let record: FairnessRecord;
  if (workload === 'mixed-latency') {
    if (!runner.run) throw new Error(`${library} has no way to submit one task`);
    const shorts = Math.max(20, Math.round(SHORT_TASKS * scale));
    const runs: { p50: number; p95: number; max: number }[] = [];
    for (let r = 0; r < repeat; r++) {
      const sorted = (await mixedLatencyRun(runner, workers, shorts, r)).sort((a, b) => a - b);
      runs.push({ p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted.at(-1) as number });
      const last = runs.at(-1) as (typeof runs)[0];
      log(
        `run ${r + 1}/${repeat}: p50 ${last.p50.toFixed(1)} ms, p95 ${last.p95.toFixed(1)} ms, max ${last.max.toFixed(1)} ms`,
      );
    }
    const streams = Math.max(1, workers - 1);
    record = {
      workload,
      library,
      version: runner.version,
      workers,
      items: shorts,
      latencyMs: {
        p50: round(median(runs.map((r) => r.p50))),
        p95: round(median(runs.map((r) => r.p95))),
        max: round(median(runs.map((r) => r.max))),
      },
      samples: runs.map((r) => round(r.p95)),
      loadAverage: round(loadavg()[0] as number, 2),
      note:
        `${streams} stream${streams > 1 ? 's' : ''} of ${LONG_MS} ms tasks (each submitted when the last ends) while ` +
        `${shorts} tasks of ${SHORT_MS} ms are submitted one by one, ${MEAN_GAP_MS} ms apart on average; ` +
        'latency from submission to result, medians over the runs',
    };
  } else {
    const durations = paretoDurations(Math.max(workers, Math.round(SKEWED_ITEMS * scale)));
    const total = durations.reduce((sum, ms) => sum + ms, 0);
    const longest = Math.max(...durations);
    const idealSeconds = Math.max(total / workers, longest) / 1000;
    const seconds: number[] = [];
    for (let r = 0; r < repeat; r++) {
      const run = await timed(() => runner.map(durations));
      checkEach(run.value, durations, library);
      seconds.push(run.seconds);
      log(
        `run ${r + 1}/${repeat}: ${run.seconds.toFixed(3)} s, ${(run.seconds / idealSeconds).toFixed(3)}× the ideal`,
      );
    }
    const time = median(seconds);
    record = {
      workload,
      library,
      version: runner.version,
      workers,
      items: durations.length,
      seconds: round(time),
      idealSeconds: round(idealSeconds),
      ratioToIdeal: round(time / idealSeconds),
      samples: seconds.map((s) => round(s)),
      loadAverage: round(loadavg()[0] as number, 2),
      note:
        `${durations.length} items, Pareto α = ${ALPHA} from ${MIN_MS} ms: ${round(total / 1000)} s of work, the longest ` +
        `${round(longest)} ms; ideal max(total ÷ ${workers}, longest)`,
    };
  }
  await runner.close();
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

await main();
