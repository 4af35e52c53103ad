/**
 * `fanout demo graph`: a task graph a user would recognise — many files → parse → features →
 * one aggregate (the stages: demos/graph-tasks.ts) — run as a serial loop, then as one graph of
 * delayed calls (`pool.compute`) on threads and on processes, and as futures (`pool.run` with
 * futures as arguments) on threads. Every variant must compute the same summary, bit for bit:
 * the stages are the same functions, and the aggregate folds the files in the same order.
 */

import { delayed } from '../api/dependencies.js';
import { Pool } from '../api/pool.js';
import { positiveIntegerFlag } from '../options/flags.js';
import type { BatchTrace, LocalBackendName } from '../types.js';
import { countText, machineText, medianTimed, range, timesText, workerCount } from './common.js';
import type { Demo } from './demo.js';
import { printTable } from './demo.js';
import tasks, { aggregate, features, parse, readFile, type Summary } from './graph-tasks.js';

const SEED = 2024;

/** What each variant computed: the summary (a test checks them against its own reference). */
export interface GraphComputed {
  readonly seed: number;
  readonly files: number;
  readonly summaries: readonly { readonly variant: string; readonly summary: Summary }[];
}

/** The pipeline as a graph: 3 nodes a file and one aggregate. */
function pipeline(files: number) {
  return delayed(tasks.aggregate)(
    Array.from(range(files), (i) =>
      delayed(tasks.features)(i, delayed(tasks.parse)(delayed(tasks.readFile)(SEED, i))),
    ),
  );
}

const same = (a: Summary, b: Summary) =>
  (Object.keys(a) as (keyof Summary)[]).every((key) => Object.is(a[key], b[key]));

export const graphDemo: Demo<GraphComputed> = {
  name: 'graph',
  summary: 'a task graph: many files → parse → features → one aggregate, serial vs graph',
  flags: { files: { type: 'string' } },
  help: '  --files N      files in the pipeline (default 20000; 2000 with --quick)',
  async run(flags, { out, workers, quick }) {
    const n = workerCount(workers);
    const machine = machineText();
    const files = positiveIntegerFlag('files', flags.files as string | undefined, quick ? 2000 : 20_000);
    const nodes = 3 * files + 1;
    out(
      `A task graph: ${countText(files)} files → parse → features → one aggregate (${countText(nodes)} nodes), serial vs ${n} workers on ${machine}`,
    );
    const repeats = quick ? 1 : 3;
    const serialRun = () => aggregate(Array.from(range(files), (i) => features(i, parse(readFile(SEED, i)))));
    serialRun(); // compiled before it is timed
    const serial = await medianTimed(repeats, serialRun);
    const summaries: { variant: string; summary: Summary }[] = [
      { variant: 'serial loop', summary: serial.value },
    ];
    const columns = ['variant', 'ms', 'speedup', 'µs a node'];
    const msOf = (s: number) => (s * 1000).toFixed(0);
    const rows: (string | number)[][] = [['serial loop', msOf(serial.seconds), '1.00×', '']];
    let batches: BatchTrace[] = [];
    for (const backend of ['threads', 'processes'] as LocalBackendName[]) {
      await using pool = new Pool({ backend, workers: n });
      await pool.compute(pipeline(2 * n)); // start the workers, load the tasks
      const traced: BatchTrace[] = [];
      const run = await medianTimed(repeats, () => {
        traced.length = 0;
        return pool.compute(pipeline(files), { onBatch: (b) => traced.push(b) });
      });
      if (backend === 'threads') batches = [...traced];
      const variant = `graph (pool.compute), ${n} ${backend}`;
      summaries.push({ variant, summary: run.value });
      rows.push([
        variant,
        msOf(run.seconds),
        timesText(serial.seconds / run.seconds),
        ((run.seconds / nodes) * 1e6).toFixed(2),
      ]);
      if (backend === 'threads') {
        // The small-graph spelling: a future per node, futures as arguments.
        const futures = await medianTimed(repeats, () => {
          const perFile = Array.from(range(files), (i) =>
            pool.run(tasks.features, i, pool.run(tasks.parse, pool.run(tasks.readFile, SEED, i))),
          );
          return pool.run(tasks.aggregate, perFile);
        });
        const label = `futures (pool.run), ${n} ${backend}`;
        summaries.push({ variant: label, summary: futures.value });
        rows.push([
          label,
          msOf(futures.seconds),
          timesText(serial.seconds / futures.seconds),
          ((futures.seconds / nodes) * 1e6).toFixed(2),
        ]);
      }
    }
    printTable(out, columns, rows);
    const agree = summaries.every((s) => same(s.summary, serial.value));
    const s = serial.value;
    out(
      `Summary: ${countText(s.readings)} readings, mean ${(s.sum / s.readings).toFixed(4)}, max ${s.max}, ${countText(s.alerts)} above 29.5 (most in file ${s.worstFile})`,
    );
    out(
      agree
        ? 'Every variant computed the same summary, bit for bit.'
        : 'WARNING: a variant computed a different summary from the serial loop.',
    );
    return {
      computed: { seed: SEED, files, summaries },
      title: 'A task graph: files → parse → features → aggregate',
      subtitle: `${countText(files)} files, ${countText(nodes)} nodes; serial vs ${n} workers on ${machine}`,
      tables: [{ caption: 'Serial loop, graph and futures', columns, rows }],
      batches,
      notes: [
        'Each file is 3 nodes (read, parse, features) feeding one aggregate; ready nodes of one task go to workers in batches, like a map’s items.',
        'The futures row makes one promise and one call per node: fine for hundreds of tasks, costly for tens of thousands. pool.compute reads the whole graph into typed arrays instead.',
        'Values travel through the caller: each parsed file comes back and goes out again to its features node.',
        `Median of ${repeats} run(s).`,
      ],
    };
  },
};
