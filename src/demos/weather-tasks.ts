/**
 * The weather Monte Carlo of seed 002 (`simulate_weather`): tomorrow's temperature is drawn from
 * a normal distribution centred between 72 °F and today's, so each run of `steps` days depends
 * on the day before, but separate runs are independent: embarrassingly parallel.
 */

import { randomStream } from '../data/random.js';
import { taskContext } from '../tasks/context.js';
import { defineTasks } from '../tasks/tasks.js';
import type { RandomStream } from '../types.js';

/** One simulation, drawing from `rng`. */
export function simulateWeather(
  rng: Pick<RandomStream, 'normal'>,
  start: number,
  sd: number,
  steps: number,
): number {
  let temperature = start;
  for (let i = 0; i < steps; i++) temperature = rng.normal((72 + temperature) / 2, sd);
  return temperature;
}

/**
 * The seed's vectorised (numpy) version: every simulation advances one day at a time over a
 * typed array. One random stream feeds the whole array, so its numbers differ from the per-item
 * streams (same distribution, different draws).
 */
export function simulateVectorised(
  seed: number,
  sims: number,
  start: number,
  sd: number,
  steps: number,
): Float64Array {
  const temperatures = new Float64Array(sims).fill(start);
  const rng = randomStream(seed, 0);
  for (let day = 0; day < steps; day++) {
    for (let i = 0; i < sims; i++) temperatures[i] = rng.normal((72 + (temperatures[i] as number)) / 2, sd);
  }
  return temperatures;
}

export default defineTasks(import.meta.url, {
  /** `simulate_weather(start, sd, steps)` with this item's deterministic random stream. */
  simulate(start: number, sd: number, steps: number): number {
    return simulateWeather(taskContext().randomStream(), start, sd, steps);
  },
  /** The seed's `run_simulation(i)`: one item per simulation, parameters fixed. */
  run10(_i: number): number {
    return simulateWeather(taskContext().randomStream(), 75, 5, 10);
  },
  run100(_i: number): number {
    return simulateWeather(taskContext().randomStream(), 75, 5, 100);
  },
});
