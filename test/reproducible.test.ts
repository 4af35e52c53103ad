/**
 * Reproducible randomness: a Monte Carlo run gives bit-identical results whatever the number of
 * workers, the backend or the batch size. Item i of call k on a pool seeded with `seed` draws
 * from the stream of (callSeed(seed, k), i), and a serial loop over those streams reproduces it.
 */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import weather, { simulateWeather } from '../src/demos/weather-tasks.js';
import { callSeed, Pool, randomStream } from '../src/index.js';
import { range } from './helpers.js';

it('the same run with 1 or 2 workers, batch size 1 or auto, threads or processes is bit-identical', async () => {
  const seed = 1234;
  const items = range(3000);
  // Each pool runs two calls, one per batch size: call 0 and call 1 of its sequence.
  const serial = [0, 1].map((call) =>
    items.map((i) => simulateWeather(randomStream(callSeed(seed, call), i), 75, 5, 10)),
  );
  assert.notDeepEqual(serial[0], serial[1], 'two calls draw different streams');
  const runs: [string, number[], number[]][] = [];
  // Batch sizes in both orders across the pools, so each call runs with either size somewhere.
  let flip = false;
  for (const backend of ['threads', 'processes'] as const) {
    for (const workers of [1, 2]) {
      const order = flip ? (['auto', 1] as const) : ([1, 'auto'] as const);
      flip = !flip;
      await using pool = new Pool({ backend, workers, seed });
      runs.push([
        `${backend} ×${workers} batch sizes ${order.join(' then ')}`,
        await pool.map(weather.run10, items, { batchSize: order[0] }),
        await pool.map(weather.run10, items, { batchSize: order[1] }),
      ]);
    }
  }
  for (const [name, first, second] of runs) {
    assert.deepEqual(first, serial[0], `${name}: call 0`);
    assert.deepEqual(second, serial[1], `${name}: call 1`);
  }
});
