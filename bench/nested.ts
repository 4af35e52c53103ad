/**
 * One row of issue 17's benchmarks (see nested-rows.ts), in a process of its own; prints one
 * JSON record on the last line of stdout.
 *
 *   node dist-bench/bench/nested.js --workload async-io --library fanout-threads|fanout-processes|fanout-inline|piscina|hand-split
 *   node dist-bench/bench/nested.js --workload fib --library fanout-threads|fanout-processes
 *                                   [--repeat 5] [--scale 1] [--workers N] [--concurrent 16]
 */

import { availableParallelism, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { Pool } from '../src/index.js';
import { numberOption, parseArgs } from './args.js';
import { versionOf } from './libraries/versions.js';
import type { NestedRecord, NestedWorkload } from './nested-rows.js';
import { median, round } from './stats.js';
import { timed } from './timing.js';
import { fibSync, IO_COMPUTE_MS, IO_WAIT_MS } from './workers/nested-functions.js';
import tasks from './workers/nested-tasks.js';

const ASYNC_IO_ITEMS = 1000;
const functionsUrl = new URL('./workers/nested-functions.js', import.meta.url).href;
const handSplitWorker = new URL('./workers/hand-split-async-worker.js', import.meta.url);

interface Runner {
  readonly version: string;
  /** Resolves once every worker has started (none is still starting when timing begins). */
  started(): Promise<unknown>;
  map(items: readonly number[]): Promise<ArrayLike<unknown>>;
  close(): Promise<void>;
}

/** One chunk on one thread of the hand-split reference; its results in one message. */
function runChunk(thread: Worker, items: readonly number[], concurrent: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const done = (results: number[]) => {
      thread.off('error', failed);
      resolve(results);
    };
    const failed = (error: Error) => {
      thread.off('message', done);
      reject(error);
    };
    thread.once('message', done);
    thread.once('error', failed);
    thread.postMessage({ items, concurrent });
  });
}

function startRunner(library: string, workers: number, concurrent: number): Runner {
  switch (library) {
    case 'fanout-threads':
    case 'fanout-processes': {
      const backend = library === 'fanout-threads' ? 'threads' : 'processes';
      const pool = new Pool({ backend, workers, concurrentTasksPerWorker: concurrent });
      return {
        version: versionOf('fanout'),
        // On a loaded machine a worker can take longer to start than the warm-up takes to run.
        started: () => pool.runOnEach(tasks.ioThenCompute, 0),
        map: (items) => pool.map(tasks.ioThenCompute, items),
        close: () => pool.close(),
      };
    }
    case 'fanout-inline': {
      // The main thread alone, with as many tasks in progress as the workers above hold.
      const pool = new Pool({ backend: 'inline', concurrency: workers * concurrent });
      return {
        version: versionOf('fanout'),
        started: async () => undefined,
        map: (items) => pool.map(tasks.ioThenCompute, items),
        close: () => pool.close(),
      };
    }
    case 'hand-split': {
      // The reference no scheduler beats: each thread runs its share, `concurrent` at a time.
      const threads = Array.from({ length: workers }, () => new Worker(handSplitWorker));
      const map = async (items: readonly number[]) => {
        const per = Math.ceil(items.length / workers);
        const chunks = await Promise.all(
          threads.map((thread, w) => runChunk(thread, items.slice(w * per, (w + 1) * per), concurrent)),
        );
        return chunks.flat();
      };
      return {
        version: `node ${process.version}`,
        started: () => map(Array.from({ length: workers }, (_, i) => i)),
        map,
        close: async () => {
          await Promise.all(threads.map((thread) => thread.terminate()));
        },
      };
    }
    case 'piscina': {
      const pool = new Piscina({
        filename: functionsUrl,
        minThreads: workers,
        maxThreads: workers,
        concurrentTasksPerWorker: concurrent,
      });
      const run = (i: number) => pool.run(i, { name: 'ioThenCompute' }) as Promise<number>;
      return {
        version: versionOf('piscina'),
        // Its minThreads start with the pool; the warm-up below gives each of them work.
        started: async () => undefined,
        map: (items) => Promise.all(items.map(run)),
        close: () => pool.destroy(),
      };
    }
    default:
      throw new Error(`The nested rows do not run ${library}`);
  }
}

function checkEach(results: ArrayLike<unknown>, items: readonly number[], library: string): void {
  if (results.length !== items.length)
    throw new Error(`${library} returned ${results.length} results for ${items.length} items`);
  for (let i = 0; i < items.length; i++) {
    if (results[i] !== items[i]) throw new Error(`${library} returned ${results[i]} for item ${i}`);
  }
}

const FIB_N = 25;

/**
 * fib: the pool's `fib(25)` and the same task called locally, alternately in this process (the
 * local call is the serial baseline), and a plain synchronous recursion for the record. The
 * same pool with one worker runs it too, in the same rounds: what the workers add beyond how a
 * worker runs children (depth first, from its deque) is the ratio of the two pools.
 */
async function fibRow(library: string, workers: number, repeat: number): Promise<NestedRecord> {
  const backend = library === 'fanout-processes' ? 'processes' : 'threads';
  const pool = new Pool({ backend, workers });
  const single = new Pool({ backend, workers: 1 });
  const expected = fibSync(FIB_N);
  for (const p of [pool, single])
    if ((await p.run(tasks.fib, 15)) !== fibSync(15)) throw new Error('fib(15) is wrong');
  const pooled: number[] = [];
  const local: number[] = [];
  const oneWorker: number[] = [];
  for (let r = 0; r < repeat; r++) {
    const a = await timed(() => tasks.fib(FIB_N));
    const b = await timed(() => pool.run(tasks.fib, FIB_N));
    const c = await timed(() => single.run(tasks.fib, FIB_N));
    if (a.value !== expected || b.value !== expected || c.value !== expected)
      throw new Error(`fib(${FIB_N}) is wrong`);
    local.push(a.seconds);
    pooled.push(b.seconds);
    oneWorker.push(c.seconds);
    process.stderr.write(
      `  [${library} fib] run ${r + 1}/${repeat}: local ${a.seconds.toFixed(3)} s, pool ${b.seconds.toFixed(3)} s, 1 worker ${c.seconds.toFixed(3)} s\n`,
    );
  }
  await Promise.all([pool.close(), single.close()]);
  const sync = await timed(() => fibSync(FIB_N));
  const time = median(pooled);
  const localTime = median(local);
  const oneWorkerTime = median(oneWorker);
  const idealSeconds = localTime / workers;
  return {
    workload: 'fib',
    library,
    version: versionOf('fanout'),
    workers,
    items: 1,
    seconds: round(time),
    idealSeconds: round(idealSeconds),
    ratioToIdeal: round(time / idealSeconds),
    samples: pooled.map((s) => round(s)),
    loadAverage: round(loadavg()[0] as number, 2),
    note:
      `fib(${FIB_N}) with taskContext().pool: ${round(localTime / time, 3)}× the same task called locally ` +
      `(${round(localTime)} s, children as direct calls; ideal: that ÷ ${workers}); on 1 worker ${round(oneWorkerTime)} s ` +
      `(${round(localTime / oneWorkerTime, 3)}× the local call; ${workers} workers ${round(oneWorkerTime / time, 3)}× 1 worker); ` +
      `a plain synchronous recursion takes ${round(sync.seconds * 1000, 3)} ms`,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const workload = (args.get('workload') ?? 'async-io') as NestedWorkload['name'];
  const library = args.get('library') ?? 'fanout-threads';
  const repeat = numberOption(args, 'repeat', 5);
  const scale = numberOption(args, 'scale', 1);
  const workers = numberOption(args, 'workers', availableParallelism());
  if (workload === 'fib') {
    process.stdout.write(`${JSON.stringify(await fibRow(library, workers, repeat))}\n`);
    return;
  }
  const concurrent = numberOption(args, 'concurrent', 16);
  const log = (line: string) => process.stderr.write(`  [${library} ${workload}] ${line}\n`);
  const runner = startRunner(library, workers, concurrent);
  // The hand-split reference, run alternately with this row's library: on a shared machine its
  // time moves with the load from one second to the next, so a ratio to it is only fair when
  // both were timed at the same moments.
  const reference = library === 'hand-split' ? undefined : startRunner('hand-split', workers, concurrent);
  const items = Array.from({ length: Math.max(workers, Math.round(ASYNC_IO_ITEMS * scale)) }, (_, i) => i);
  const warm = items.slice(0, 4 * workers * concurrent);
  for (const [name, r] of [
    [library, runner],
    ['hand-split', reference],
  ] as const) {
    if (!r) continue;
    await r.started();
    // Warm up: every worker started, the task module loaded, the JIT warm.
    checkEach(await r.map(warm), warm, name);
  }
  const cpu = (items.length * IO_COMPUTE_MS) / 1000;
  const wait = (items.length * IO_WAIT_MS) / 1000;
  // The inline backend has one core; the others have `workers`.
  const cores = library === 'fanout-inline' ? 1 : workers;
  const idealSeconds = Math.max(cpu / cores, wait / (workers * concurrent));
  const seconds: number[] = [];
  const referenceSeconds: number[] = [];
  for (let r = 0; r < repeat; r++) {
    const run = await timed(() => runner.map(items));
    checkEach(run.value, items, library);
    seconds.push(run.seconds);
    let against = '';
    if (reference) {
      const ref = await timed(() => reference.map(items));
      checkEach(ref.value, items, 'hand-split');
      referenceSeconds.push(ref.seconds);
      against = `, ${(run.seconds / ref.seconds).toFixed(3)}× hand-split (${ref.seconds.toFixed(3)} s)`;
    }
    log(
      `run ${r + 1}/${repeat}: ${run.seconds.toFixed(3)} s, ${(run.seconds / idealSeconds).toFixed(3)}× the ideal${against}`,
    );
  }
  await runner.close();
  await reference?.close();
  const time = median(seconds);
  // The median of the per-run ratios: each pairs runs timed one after the other.
  const toReference = reference ? median(seconds.map((s, i) => s / (referenceSeconds[i] as number))) : 1;
  const record: NestedRecord = {
    workload,
    library,
    version: runner.version,
    workers,
    items: items.length,
    seconds: round(time),
    idealSeconds: round(idealSeconds),
    ratioToIdeal: round(time / idealSeconds),
    ratioToHandSplit: round(toReference),
    samples: seconds.map((s) => round(s)),
    loadAverage: round(loadavg()[0] as number, 2),
    note:
      `${items.length} tasks: await ${IO_WAIT_MS} ms, then compute ${IO_COMPUTE_MS} ms; ${concurrent} in flight per worker ` +
      `(inline: ${workers * concurrent} in progress on the main thread); ideal max(CPU ÷ ${cores} core${cores > 1 ? 's' : ''}, wait ÷ ${workers * concurrent})` +
      (reference
        ? `; hand-split, run alternately with it: median ${round(median(referenceSeconds))} s (${round(median(referenceSeconds) / idealSeconds)}× the ideal)`
        : ''),
  };
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

await main();
