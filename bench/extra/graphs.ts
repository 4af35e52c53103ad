/**
 * Task graphs (issue 17): `graph-tree` and `graph-pipeline`, the graphs of
 * bench/python/graph_dask.py (its header defines them; the builders below mirror it node for
 * node), built with `delayed` and run by `pool.compute` on threads. Each is timed against a flat
 * `pool.map` over the same items in the same run (graph-tree: `leaf` over the leaves;
 * graph-pipeline: `transform` over the items), and per node (build + compute, as Dask's
 * `seconds` counts). Dask's rows (bench/python-refs.ts) follow when a Python with dask is here.
 * `graph-vectors` (fanout's own) is graph-tree's shape over `--vector-leaves` leaves whose
 * values are 1,000 numbers: what keeping inner values on the workers saves.
 *
 *   node dist-bench/bench/extra/graphs.js [--leaves 1000000] [--items 1000000] [--repeat 3]
 *                                         [--vector-leaves 8192]
 *                                         [--workers N] [--scale 1] [--dask threads,processes|none]
 *                                         [--dask-size N]
 */

import { availableParallelism, loadavg } from 'node:os';
import { type Delayed, Pool } from '../../src/index.js';
import { listOption, numberOption, parseArgs } from '../args.js';
import { buildPipeline, buildTree, buildVectorTree } from '../graph-shapes.js';
import { versionOf } from '../libraries/versions.js';
import { DASK_INSTALL, type DaskScheduler, type GraphWorkload, runDaskGraphs } from '../python-refs.js';
import type { BenchRecord } from '../record.js';
import { median, round } from '../stats.js';
import { timed } from '../timing.js';
import tasks from '../workers/graph-tasks.js';

interface Shape {
  readonly workload: GraphWorkload | 'graph-vectors';
  readonly items: number;
  readonly nodes: number;
  readonly expected: number;
  build(n: number): Delayed<number> | Delayed<number[]>;
  /** The number to compare with `expected` (graph-vectors: the sum's first element). */
  check?(value: unknown): number;
  flat(pool: Pool, xs: number[]): Promise<unknown>;
  flatNote: string;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const scale = numberOption(args, 'scale', 1);
  const leaves = Math.round(numberOption(args, 'leaves', 1_000_000) * scale);
  const items = Math.round(numberOption(args, 'items', 1_000_000) * scale);
  const vectorLeaves = Math.round(numberOption(args, 'vector-leaves', 8192) * scale);
  const repeat = numberOption(args, 'repeat', 3);
  const workers = numberOption(args, 'workers', availableParallelism());
  const dask = (listOption(args, 'dask') ?? ['threads', 'processes']).filter((s) => s !== 'none');
  const shapes: Shape[] = [
    {
      workload: 'graph-tree',
      items: leaves,
      nodes: 2 * leaves - 1,
      expected: (leaves * (leaves - 1)) / 2,
      build: buildTree,
      flat: (pool, xs) => pool.map(tasks.leaf, xs),
      flatNote: 'pool.map(leaf) over the leaves',
    },
    {
      workload: 'graph-pipeline',
      items,
      nodes: 2 * items + 1,
      expected: items * items,
      build: buildPipeline,
      flat: (pool, xs) => pool.map(tasks.transform, xs),
      flatNote: 'pool.map(transform) over the items',
    },
    {
      workload: 'graph-vectors',
      items: vectorLeaves,
      nodes: 2 * vectorLeaves - 1,
      expected: (vectorLeaves * (vectorLeaves - 1)) / 2,
      build: buildVectorTree,
      check: (value) => (value as number[])[0] as number,
      flat: (pool, xs) => pool.map(tasks.vector, xs),
      flatNote: 'pool.map(vector) over the leaves (each result 1,000 numbers)',
    },
  ];
  const records: BenchRecord[] = [];
  await using pool = new Pool({ workers });
  // Warm: workers started, modules loaded, the graph code compiled.
  await pool.compute(buildTree(1000));
  await pool.compute(buildPipeline(1000));
  for (const shape of shapes) {
    const xs = Array.from({ length: shape.items }, (_, i) => i);
    const flat: number[] = [];
    const graph: number[] = [];
    const build: number[] = [];
    for (let r = 0; r < repeat; r++) {
      const flatRun = await timed(() => shape.flat(pool, xs));
      flat.push(flatRun.seconds);
      const graphRun = await timed(async () => {
        const start = performance.now();
        const root = shape.build(shape.items);
        build.push((performance.now() - start) / 1000);
        return pool.compute(root);
      });
      const got = shape.check ? shape.check(graphRun.value) : graphRun.value;
      if (got !== shape.expected) {
        throw new Error(`${shape.workload}: the graph computed ${got}, expected ${shape.expected}`);
      }
      graph.push(graphRun.seconds);
      process.stderr.write(
        `  [fanout ${shape.workload}] run ${r + 1}/${repeat}: graph ${graphRun.seconds.toFixed(3)} s (build ${build.at(-1)?.toFixed(3)} s), flat map ${flatRun.seconds.toFixed(3)} s\n`,
      );
    }
    const seconds = median(graph);
    const flatSeconds = median(flat);
    const base = { workload: shape.workload, version: versionOf('fanout'), workers, items: shape.items };
    records.push({
      ...base,
      library: 'fanout pool.compute',
      seconds: round(seconds),
      itemsPerSecond: round(shape.nodes / seconds),
      speedupVsSerial: round(flatSeconds / seconds),
      efficiency: round(flatSeconds / seconds / workers),
      samples: graph.map((s) => round(s)),
      loadAverage: round(loadavg()[0] as number, 2),
      note: `${shape.nodes.toLocaleString('en-US')} nodes on threads: ${round((seconds / shape.nodes) * 1e6, 3)} µs a node (build ${round(median(build), 3)} s of it); ${round(seconds / flatSeconds, 2)}× the flat map (target ≤ 3× for graph-tree, ≤ 1 µs a node); itemsPerSecond counts nodes, speedupVsSerial is the flat map's time ÷ this`,
    });
    records.push({
      ...base,
      library: 'fanout pool.map (flat)',
      seconds: round(flatSeconds),
      itemsPerSecond: round(shape.items / flatSeconds),
      speedupVsSerial: 1,
      efficiency: round(1 / workers),
      samples: flat.map((s) => round(s)),
      loadAverage: round(loadavg()[0] as number, 2),
      note: `the baseline: ${shape.flatNote}, same pool, same run`,
    });
  }
  if (dask.length > 0) {
    // Dask's own sizes (its script's defaults: ~10–30 s a run) unless asked, or scaled down
    // with the rest (a smoke run).
    const size = args.has('dask-size')
      ? numberOption(args, 'dask-size', 0)
      : scale === 1
        ? undefined
        : Math.max(1000, Math.round(50_000 * scale));
    const reference = await runDaskGraphs({
      schedulers: dask as DaskScheduler[],
      leaves: size,
      items: size,
      repeat: 1,
    });
    if (reference.missing !== undefined) {
      process.stderr.write(`  Dask: ${reference.missing} (${DASK_INSTALL})\n`);
    } else {
      for (const row of reference.result.rows) {
        records.push({
          workload: row.workload,
          library: row.library,
          version: row.version,
          workers: row.workers,
          items: row.items,
          seconds: row.seconds,
          itemsPerSecond: round(row.nodes / row.seconds),
          speedupVsSerial: 0,
          efficiency: 0,
          loadAverage: row.loadAverage,
          note: `${row.nodes.toLocaleString('en-US')} nodes: ${round(row.usPerNode, 3)} µs a node (build + compute); ${row.note}`,
        });
      }
    }
  }
  process.stdout.write(`${JSON.stringify(records)}\n`);
}

await main();
