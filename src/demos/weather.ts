/**
 * `fanout demo weather` (`npm run demo`): seed 002's experiment. The weather Monte Carlo as a
 * plain serial loop, through a thread pool with every core, through a process pool, and
 * vectorised over a typed array (the seed's numpy version), at 10 and 100 steps. Each pooled run
 * is a call with `seed: SEED`, so its item i draws from the random stream of (SEED, i) wherever
 * it runs, and the serial loop and both pools give the same mean temperature to the last bit.
 */

import { Pool } from '../api/pool.js';
import { randomStream } from '../data/random.js';
import { cores } from '../options/checks.js';
import { positiveIntegerFlag } from '../options/flags.js';
import type { Demo } from './demo.js';
import { printTable, secondsText, timed } from './demo.js';
import tasks, { simulateVectorised, simulateWeather } from './weather-tasks.js';

const SEED = 2024;

function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

function serialMean(sims: number, steps: number): number {
  let sum = 0;
  for (let i = 0; i < sims; i++) sum += simulateWeather(randomStream(SEED, i), 75, 5, steps);
  return sum / sims;
}

async function pooledMean(pool: Pool, sims: number, steps: number): Promise<number> {
  const task = steps === 100 ? tasks.run100 : tasks.run10;
  // The call's own seed: the pool's calls (a warm-up first) would otherwise each draw fresh ones.
  const results = await pool.map(task, range(sims), { seed: SEED });
  let sum = 0;
  for (const r of results) sum += r;
  return sum / sims;
}

export const weatherDemo: Demo = {
  name: 'weather',
  summary: "seed 002's weather Monte Carlo: serial, threads, processes, vectorised; 10 and 100 steps",
  flags: { sims: { type: 'string' } },
  help: '  --sims N       simulations at 10 steps (a tenth of them at 100 steps; default 2000000)',
  async run(flags, { out, workers, quick }) {
    const sims10 = positiveIntegerFlag('sims', flags.sims as string | undefined, quick ? 20_000 : 2_000_000);
    const n = workers === 'auto' ? cores() : workers < 0 ? Math.max(1, cores() + 1 + workers) : workers;
    out(`Weather Monte Carlo (seed 002): start 75 °F, sd 5; ${n} workers on a ${cores()}-core machine`);
    const rows: (string | number)[][] = [];
    const scaling: { workers: number; seconds: number }[] = [];
    let serial10 = 0;
    for (const steps of [10, 100]) {
      const sims = steps === 10 ? sims10 : Math.max(1, Math.round(sims10 / 10));
      const serial = await timed(() => serialMean(sims, steps));
      if (steps === 10) serial10 = serial.seconds;
      const variants: { name: string; seconds: number; mean: number }[] = [
        { name: 'serial loop', seconds: serial.seconds, mean: serial.value },
      ];
      for (const backend of ['threads', 'processes'] as const) {
        await using pool = new Pool({ backend, workers: n });
        await pool.map(steps === 100 ? tasks.run100 : tasks.run10, range(4 * n)); // start the workers
        const run = await timed(() => pooledMean(pool, sims, steps));
        variants.push({ name: `pool.map, ${backend}`, seconds: run.seconds, mean: run.value });
      }
      const vectorised = await timed(() => {
        const temps = simulateVectorised(SEED, sims, 75, 5, steps);
        let sum = 0;
        for (const t of temps) sum += t;
        return sum / sims;
      });
      variants.push({
        name: 'vectorised (typed array)',
        seconds: vectorised.seconds,
        mean: vectorised.value,
      });
      for (const v of variants) {
        const speedup = serial.seconds / v.seconds;
        rows.push([
          v.name,
          steps,
          sims,
          secondsText(v.seconds),
          Math.round(sims / v.seconds).toLocaleString('en-US'),
          `${speedup.toFixed(2)}×`,
          v.name.startsWith('pool') ? `${((speedup / n) * 100).toFixed(0)}%` : '',
          v.mean.toFixed(6),
        ]);
      }
      const identical = variants.slice(0, 3).every((v) => v.mean === serial.value);
      out(
        identical
          ? `  ${steps} steps: serial and both pools agree to the last bit (item i draws from the stream of (seed, i))`
          : `  ${steps} steps: WARNING: the pools' mean differs from the serial loop's`,
      );
    }
    const columns = ['variant', 'steps', 'sims', 'seconds', 'sims/s', 'speedup', 'efficiency', 'mean °F'];
    printTable(out, columns, rows);
    // Scaling: the 10-step run on 1..n threads, for the report's speedup chart.
    for (let w = 1; w <= n; w++) {
      await using pool = new Pool({ workers: w });
      await pool.map(tasks.run10, range(4 * w));
      scaling.push({ workers: w, seconds: (await timed(() => pooledMean(pool, sims10, 10))).seconds });
    }
    return {
      title: 'Weather Monte Carlo (seed 002)',
      subtitle: `${sims10.toLocaleString('en-US')} simulations of 10 steps; speedups against the serial loop (${secondsText(serial10)} s)`,
      tables: [{ caption: 'Every variant', columns, rows }],
      scaling: [{ name: 'pool.map, threads', points: scaling, baselineSeconds: serial10 }],
      notes: [
        'The vectorised version draws from one stream for the whole array, so its mean differs slightly (same distribution, different draws).',
        'Efficiency is speedup ÷ workers; on 2 cores a speedup can reach at most 2×.',
      ],
    };
  },
};
