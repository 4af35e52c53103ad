/**
 * `fanout demo amdahl`: Amdahl's law, measured (seed 002).
 *
 * A program with a serial step (work only the main thread can do, such as reading the input)
 * and a parallel part split into many items. Timing both parts serially gives the parallel
 * fraction p we built in; running the program at 1..N workers gives speedups, and fitting
 * Amdahl's law S(n) = 1 / ((1 − p) + p / n) to them gives the fraction the machine actually
 * delivered, a little lower than the built-in one because a pool has costs of its own. The fit
 * then predicts bigger machines: however many cores, never more than 1 / (1 − p).
 */

import { Pool } from '../api/pool.js';
import { amdahlSpeedup } from '../observe/amdahl.js';
import { analyseScaling } from '../observe/report.js';
import type { Series } from '../observe/svg.js';
import { positiveIntegerFlag, UsageError } from '../options/flags.js';
import tasks, { spin } from './amdahl-tasks.js';
import { machineText, timesText, workerCount } from './common.js';
import type { Demo } from './demo.js';
import { printTable, secondsText, timed } from './demo.js';

const PREDICT_AT = [8, 16, 64];

/** Steps of `spin` per millisecond on this thread: the best of a few short runs. */
function calibrate(): number {
  let best = 0;
  for (let round = 0; round < 5; round++) {
    const steps = 2_000_000;
    const start = performance.now();
    spin(steps);
    best = Math.max(best, steps / Math.max(performance.now() - start, 1e-3));
  }
  return best;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function fractionFlag(value: string | undefined): number {
  if (value === undefined) return 0.1;
  const f = Number(value);
  if (!(f >= 0 && f < 1) || value.trim() === '') {
    throw new UsageError(`--serial must be a fraction in [0, 1), got ${JSON.stringify(value)}`);
  }
  return f;
}

export const amdahlDemo: Demo = {
  name: 'amdahl',
  summary: "seed 002's Amdahl's law: a known serial part, run at 1..N workers, fitted and extrapolated",
  flags: {
    'max-workers': { type: 'string' },
    serial: { type: 'string' },
    work: { type: 'string' },
    items: { type: 'string' },
  },
  help: [
    '  --max-workers N  run at 1..N workers (default: --workers, or every core)',
    '  --serial F       the serial share of the work, in [0, 1) (default 0.1)',
    '  --work MS        the whole program serially, in ms (default 2000; 300 with --quick)',
    '  --items N        items the parallel part is split into (default 64)',
  ].join('\n'),
  async run(flags, { out, workers, quick }) {
    const maxWorkers = positiveIntegerFlag(
      'max-workers',
      flags['max-workers'] as string | undefined,
      workerCount(workers),
    );
    const serialShare = fractionFlag(flags.serial as string | undefined);
    const workMs = positiveIntegerFlag('work', flags.work as string | undefined, quick ? 300 : 2000);
    const items = positiveIntegerFlag('items', flags.items as string | undefined, 64);
    const machine = machineText();

    const stepsPerMs = calibrate();
    const serialSteps = Math.round(stepsPerMs * workMs * serialShare);
    const itemSteps = Math.max(1, Math.round((stepsPerMs * workMs * (1 - serialShare)) / items));
    const parallelItems = Array.from({ length: items }, () => itemSteps);
    out(
      `Amdahl's law (seed 002): a serial step of ~${Math.round(workMs * serialShare)} ms, then ${items} items of ~${(itemSteps / stepsPerMs).toFixed(1)} ms, at 1..${maxWorkers} workers, on ${machine}`,
    );

    // Every configuration runs once per round and keeps its median: on a shared machine the
    // load drifts, and interleaving spreads the drift over all of them alike.
    const rounds = quick ? 1 : 3;
    const pools: Pool[] = [];
    const serialTimes: number[] = [];
    const parallelParts: number[] = [];
    const pooled: number[][] = Array.from({ length: maxWorkers }, () => []);
    try {
      for (let w = 1; w <= maxWorkers; w++) {
        const pool = new Pool({ workers: w });
        pools.push(pool);
        // Start the workers (and import the task module in each) before anything is timed.
        await pool.map(
          tasks.spin,
          Array.from({ length: 4 * w }, () => 1000),
        );
      }
      for (let round = 0; round < rounds; round++) {
        // The program serially, its two parts timed apart: the parallel fraction we built in.
        serialTimes.push((await timed(() => spin(serialSteps))).seconds);
        parallelParts.push((await timed(() => parallelItems.map(spin))).seconds);
        for (const [i, pool] of pools.entries()) {
          const run = await timed(async () => {
            spin(serialSteps); // only the main thread can do this part
            return await pool.map(tasks.spin, parallelItems);
          });
          pooled[i]?.push(run.seconds);
        }
      }
    } finally {
      for (const pool of pools) await pool.close();
    }
    const serialStep = median(serialTimes);
    const parallelPart = median(parallelParts);
    const baseline = serialStep + parallelPart;
    const knownP = parallelPart / baseline;
    const points = pooled.map((times, i) => ({ workers: i + 1, seconds: median(times) }));
    const analysis = analyseScaling({ name: 'measured', points, baselineSeconds: baseline });
    const fittedP = analysis.parallelFraction;
    const hasFit = Number.isFinite(fittedP);

    const columns = ['workers', 'seconds', 'speedup', 'efficiency', `Amdahl, p = ${knownP.toFixed(3)}`];
    const rows: (string | number)[][] = [
      ['serial', secondsText(baseline), '1.00×', '', ''],
      ...analysis.points.map((p) => [
        p.workers,
        secondsText(p.seconds),
        timesText(p.speedup),
        `${(p.efficiency * 100).toFixed(0)}%`,
        timesText(amdahlSpeedup(knownP, p.workers)),
      ]),
    ];
    printTable(out, columns, rows);
    out(
      `Parallel fraction: built in p = ${knownP.toFixed(3)} (serial step ${secondsText(serialStep)} s, parallel part ${secondsText(parallelPart)} s serially); ` +
        (hasFit
          ? `fitted to the measurements p = ${fittedP.toFixed(3)}`
          : 'no fit: run at 2 or more workers'),
    );
    const predictColumns = ['cores', 'built-in p', 'fitted p'];
    const predictRows = [...PREDICT_AT, Number.POSITIVE_INFINITY].map((cores) => [
      Number.isFinite(cores) ? cores : 'any number',
      timesText(cores === Number.POSITIVE_INFINITY ? 1 / (1 - knownP) : amdahlSpeedup(knownP, cores)),
      !hasFit
        ? '?'
        : timesText(cores === Number.POSITIVE_INFINITY ? 1 / (1 - fittedP) : amdahlSpeedup(fittedP, cores)),
    ]);
    out('Amdahl predicts:');
    printTable(out, predictColumns, predictRows);

    const span = [1, 2, 4, 8, 16, 32, 64];
    const curve = (p: number) => span.map((n) => [n, amdahlSpeedup(p, n)] as const);
    const series: Series[] = [
      { name: `built-in p = ${knownP.toFixed(3)}`, points: curve(knownP), dashed: true },
    ];
    if (hasFit) series.push({ name: `fitted p = ${fittedP.toFixed(3)}`, points: curve(fittedP) });
    series.push({
      name: 'measured',
      points: analysis.points.map((p) => [p.workers, p.speedup] as const),
      dots: true,
    });
    return {
      title: "Amdahl's law, measured (seed 002)",
      subtitle: `A serial step of ${(serialShare * 100).toFixed(0)}% of the work, then ${items} parallel items, at 1..${maxWorkers} workers on ${machine}`,
      scaling: [{ name: 'measured', points, baselineSeconds: baseline }],
      charts: [
        {
          id: 'amdahl-prediction',
          title: "What Amdahl's law predicts for bigger machines",
          xLabel: 'cores',
          yLabel: 'speedup (×)',
          series,
        },
      ],
      tables: [
        { caption: 'Measured at 1..N workers', columns, rows },
        { caption: 'Predicted speedup', columns: predictColumns, rows: predictRows },
      ],
      notes: [
        'The built-in p is timed: the serial step and the parallel part, each run serially in the main thread.',
        `Each configuration ran ${rounds === 1 ? 'once' : `${rounds} times, interleaved, and kept its median`}.`,
        'The fitted p is the Amdahl curve closest to the measured speedups (least squares on 1/S). It comes out lower than the built-in one: starting batches, copying results and sharing cores with other programs are serial costs too.',
        `Even with p = ${knownP.toFixed(3)}, no number of cores gives more than ${timesText(1 / (1 - knownP))}.`,
        'On a machine with N cores, runs past N workers share cores: their speedup flattens or falls.',
      ],
    };
  },
};
