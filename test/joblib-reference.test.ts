/**
 * The benchmark's Python reference (bench/python/weather_joblib.py, seed 002's own code under
 * joblib) runs and computes the seed's simulation, so the joblib rows of `npm run bench` compare
 * like with like. It needs Python with joblib and numpy (Debian's python3-joblib and
 * python3-numpy); without them the test says SKIPPED loudly, and with FANOUT_REQUIRE_JOBLIB=1
 * (CI) it fails instead.
 */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { findPython, runJoblib } from '../bench/joblib.js';
import { requirement } from './requirements.js';

const python = findPython();
const skip = requirement('test/joblib-reference.test.ts', {
  missing: python ? undefined : 'no Python here imports joblib and numpy',
  env: 'FANOUT_REQUIRE_JOBLIB',
  install: 'apt-get install python3-joblib python3-numpy',
});

/**
 * The seed's process: x₀ = 75, xₜ₊₁ ~ Normal((72 + xₜ) / 2, 5). Its mean after n steps is
 * 72 + 3 / 2ⁿ and its spread tends to 5 / √(1 − 1/4) ≈ 5.77, so the mean of `sims` runs lies
 * within 6 standard errors of that with near certainty.
 */
function expectedMean(steps: number): number {
  return 72 + 3 / 2 ** steps;
}
const STD_DEV = 5 / Math.sqrt(1 - 1 / 4);

it('the joblib reference runs the seed’s weather simulation, serially and with Parallel(n_jobs=-1)', {
  skip,
  timeout: 120_000,
}, async () => {
  const sims10 = 400;
  const sims100 = 100;
  const records = await runJoblib({ python: python as string, scale: 1, repeat: 1, sims10, sims100 });

  assert.deepEqual(
    records.map((r) => [r.workload, r.library, r.items]),
    [
      ['weather-10', 'python-serial', sims10],
      ['weather-10', 'joblib', sims10],
      ['weather-100', 'python-serial', sims100],
      ['weather-100', 'joblib', sims100],
    ],
  );
  for (const record of records) {
    const steps = record.workload === 'weather-10' ? 10 : 100;
    const tolerance = (6 * STD_DEV) / Math.sqrt(record.items);
    assert.ok(record.seconds > 0 && Number.isFinite(record.speedupVsSerial), `${record.library}: timed`);
    assert.ok(
      Math.abs((record.meanTemperature as number) - expectedMean(steps)) < tolerance,
      `${record.library} ${record.workload}: mean ${record.meanTemperature} vs ${expectedMean(steps)} ± ${tolerance}`,
    );
  }
});
