/**
 * `fanout demo timeline`: seed 000's `report_work` experiment, Node's answer to the GIL.
 *
 * A loop counts its iterations into 50 ms bins for about a second: once on the main thread,
 * then N copies as async tasks on the main thread's event loop, as N worker threads, and as N
 * processes. The async tasks take turns on one thread, so together they do about what one
 * loop does alone (Python's threads under the GIL, in the seed); worker threads and processes
 * each have a core, so on N free cores they do about N times as much.
 */

import { Pool } from '../api/pool.js';
import type { Series } from '../observe/svg.js';
import { positiveIntegerFlag } from '../options/flags.js';
import type { BatchTrace, LocalBackendName } from '../types.js';
import { countText, machineText, timesText, wallClock, workerCount } from './common.js';
import type { Demo } from './demo.js';
import { printTable } from './demo.js';
import tasks, { reportWork } from './timeline-tasks.js';

interface Variant {
  readonly name: string;
  readonly runsOn: string;
  readonly tasks: number;
  /** Iterations per bin, summed over the variant's tasks. */
  readonly bins: number[];
}

function sumBins(runs: readonly (readonly number[])[], bins: number): number[] {
  const total = new Array<number>(bins).fill(0);
  for (const run of runs) {
    for (let i = 0; i < bins; i++) total[i] = (total[i] as number) + (run[i] ?? 0);
  }
  return total;
}

/** N copies of the loop through a pool, started together. */
async function pooled(
  backend: LocalBackendName,
  n: number,
  binMs: number,
  bins: number,
): Promise<{ runs: number[][]; workersUsed: number }> {
  const options = backend === 'inline' ? { backend, concurrency: n } : { backend, workers: n };
  await using pool = new Pool(options);
  const run = (startAt: number, count: number, onBatch?: (batch: BatchTrace) => void) => {
    const copies = Array.from({ length: n }, (): [number, number, number] => [startAt, binMs, count]);
    // One item per batch, so each copy runs on its own worker (or its own async slot).
    const callOptions = { batchSize: 1, ...(onBatch ? { onBatch } : {}) };
    return backend === 'inline'
      ? pool.starmap(tasks.reportWorkAsync, copies, callOptions)
      : pool.starmap(tasks.reportWork, copies, callOptions);
  };
  // Start every worker and import the task module before the clock starts. Twice: in the first
  // round a worker that is up early may take every item while the others are still starting.
  await run(0, 0);
  await run(0, 0);
  const used = new Set<number>();
  const runs = await run(wallClock(), bins, (batch) => used.add(batch.worker));
  return { runs, workersUsed: used.size };
}

export const timelineDemo: Demo = {
  name: 'timeline',
  summary: "seed 000's report_work: work over time by one thread, async tasks, worker threads, processes",
  flags: { duration: { type: 'string' }, bin: { type: 'string' } },
  help: [
    '  --duration MS  how long each variant runs (default 1000; 300 with --quick)',
    '  --bin MS       width of a time bin (default 50)',
  ].join('\n'),
  async run(flags, { out, workers, quick }) {
    const binMs = positiveIntegerFlag('bin', flags.bin as string | undefined, 50);
    const durationMs = positiveIntegerFlag(
      'duration',
      flags.duration as string | undefined,
      quick ? 300 : 1000,
    );
    const bins = Math.max(1, Math.round(durationMs / binMs));
    const n = workerCount(workers);
    const machine = machineText();
    out(
      `Work over time (seed 000's report_work): ${bins} bins of ${binMs} ms, ${n} tasks per variant, on ${machine}`,
    );

    const variants: Variant[] = [];
    reportWork(wallClock(), 1, 20); // let the JIT compile the loop before it is measured
    variants.push({
      name: 'one thread',
      runsOn: 'main thread',
      tasks: 1,
      bins: reportWork(wallClock(), binMs, bins),
    });
    const async = await pooled('inline', n, binMs, bins);
    variants.push({
      name: `${n} async tasks`,
      runsOn: 'main thread (event loop)',
      tasks: n,
      bins: sumBins(async.runs, bins),
    });
    const threads = await pooled('threads', n, binMs, bins);
    variants.push({
      name: `${n} worker threads`,
      runsOn: `${threads.workersUsed} worker threads`,
      tasks: n,
      bins: sumBins(threads.runs, bins),
    });
    const processes = await pooled('processes', n, binMs, bins);
    variants.push({
      name: `${n} processes`,
      runsOn: `${processes.workersUsed} processes`,
      tasks: n,
      bins: sumBins(processes.runs, bins),
    });

    const total = (v: Variant) => v.bins.reduce((a, b) => a + b, 0);
    const oneThread = total(variants[0] as Variant);
    const columns = ['variant', 'runs on', 'tasks', 'iterations', '× one thread'];
    const rows = variants.map((v) => [
      v.name,
      v.runsOn,
      v.tasks,
      countText(total(v)),
      timesText(total(v) / oneThread),
    ]);
    printTable(out, columns, rows);
    out('Async tasks take turns on one thread; only worker threads and processes add cores.');

    const series: Series[] = variants.map((v) => ({
      name: v.name,
      points: v.bins.map((count, i) => [(i + 0.5) * binMs, count] as const),
      dots: true,
    }));
    return {
      title: 'Work over time (seed 000)',
      subtitle: `Loop iterations per ${binMs} ms bin over ${bins * binMs} ms: one thread, ${n} async tasks, ${n} worker threads, ${n} processes, on ${machine}`,
      charts: [
        {
          id: 'work-over-time',
          title: `Work done per ${binMs} ms`,
          xLabel: 'time (ms)',
          yLabel: 'iterations per bin',
          series,
        },
      ],
      tables: [{ caption: 'Total work per variant', columns, rows }],
      notes: [
        "Each variant runs seed 000's report_work: a loop that counts its own iterations into time bins.",
        'Async tasks share the main thread: they interleave (each yields every millisecond), so together they do about what one thread does, as Python threads do under the GIL.',
        'Worker threads and processes each get a core: on N free cores they do about N times the work of one thread. On a busy machine they get less.',
      ],
    };
  },
};
