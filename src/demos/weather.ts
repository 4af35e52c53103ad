/**
 * `fanout demo weather` (`npm run demo`): seed 002's experiment. The same Monte Carlo as a plain
 * serial loop and through a pool with every core; both draw item i from the stream of
 * (seed, i), so the two mean temperatures are identical, bit for bit.
 */

import { Pool } from '../pool.js';
import { randomStream } from '../random.js';
import tasks, { simulateWeather } from './weather-tasks.js';

export interface WeatherOptions {
  sims: number;
  steps: number;
  workers: number | 'auto';
  seed: number;
  out: (line: string) => void;
}

export interface WeatherResult {
  sims: number;
  steps: number;
  workers: number;
  serialSeconds: number;
  parallelSeconds: number;
  speedup: number;
  efficiency: number;
  serialMean: number;
  parallelMean: number;
}

function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

export async function weatherDemo(options: WeatherOptions): Promise<WeatherResult> {
  const { sims, steps, seed, out } = options;
  out(
    `Weather Monte Carlo (seed 002): ${sims.toLocaleString('en-US')} simulations of ${steps} days, start 75 °F, sd 5`,
  );

  let t0 = performance.now();
  let serialSum = 0;
  for (let i = 0; i < sims; i++) serialSum += simulateWeather(randomStream(seed, i), 75, 5, steps);
  const serialSeconds = (performance.now() - t0) / 1000;
  out(`  serial loop           ${serialSeconds.toFixed(3)} s   mean ${(serialSum / sims).toFixed(6)} °F`);

  await using pool = new Pool({ workers: options.workers, seed });
  // Warm the workers (start-up and module import) so the timing measures the work.
  await pool.map(steps === 100 ? tasks.run100 : tasks.run10, [0]);
  t0 = performance.now();
  const task = steps === 10 ? tasks.run10 : steps === 100 ? tasks.run100 : undefined;
  const results = task
    ? await pool.map(task, range(sims))
    : await pool.starmap(
        tasks.simulate,
        (function* () {
          for (let i = 0; i < sims; i++) yield [75, 5, steps] as [number, number, number];
        })(),
      );
  const parallelSeconds = (performance.now() - t0) / 1000;
  let parallelSum = 0;
  for (const r of results) parallelSum += r;
  const speedup = serialSeconds / parallelSeconds;
  out(
    `  pool.map, ${pool.workers} workers   ${parallelSeconds.toFixed(3)} s   mean ${(parallelSum / sims).toFixed(6)} °F`,
  );
  out(
    `  speedup ${speedup.toFixed(2)}×, efficiency ${((speedup / pool.workers) * 100).toFixed(0)}% ` +
      `(speedup ÷ workers), ${((parallelSeconds / sims) * 1e9 * pool.workers).toFixed(0)} ns per item per worker`,
  );
  out(
    serialSum === parallelSum
      ? '  the two means are identical: item i draws from the stream of (seed, i) wherever it runs'
      : '  WARNING: the means differ',
  );
  return {
    sims,
    steps,
    workers: pool.workers,
    serialSeconds,
    parallelSeconds,
    speedup,
    efficiency: speedup / pool.workers,
    serialMean: serialSum / sims,
    parallelMean: parallelSum / sims,
  };
}
