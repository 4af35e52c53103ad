/**
 * Reproducible randomness: a Monte Carlo run gives bit-identical results whatever the number of
 * workers, the backend or the batch size, because item i always draws from the stream of (seed, i).
 */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import weather, { simulateWeather } from '../src/demos/weather-tasks.js';
import { Pool, randomStream } from '../src/index.js';
import { range } from './helpers.js';

it('the same run with 1 or 2 workers, batch size 1 or auto, threads or processes is bit-identical', async () => {
  const seed = 1234;
  const items = range(3000);
  const serial = items.map((i) => simulateWeather(randomStream(seed, i), 75, 5, 10));
  const runs: [string, number[]][] = [];
  for (const backend of ['threads', 'processes'] as const) {
    for (const workers of [1, 2]) {
      await using pool = new Pool({ backend, workers, seed });
      for (const batchSize of [1, 'auto'] as const) {
        runs.push([
          `${backend} ×${workers} batch ${batchSize}`,
          await pool.map(weather.run10, items, { batchSize }),
        ]);
      }
    }
  }
  for (const [name, result] of runs) assert.deepEqual(result, serial, name);
});
