/** Task modules and references. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineTasks, randomStream } from '../src/index.js';
import tasks from './fixtures/tasks.js';

describe('defineTasks', () => {
  it('returns callable, typed references that know their module and name', () => {
    assert.equal(tasks.add(2, 3), 5);
    assert.equal(tasks.add.taskName, 'add');
    assert.equal(tasks.add.module, new URL('./fixtures/tasks.ts', import.meta.url).href);
  });

  it('rejects a missing module URL or a non-function task, naming it', () => {
    assert.throws(() => defineTasks(undefined as never, {}), /import\.meta\.url/);
    assert.throws(() => defineTasks('not a url', {}), /import\.meta\.url/);
    assert.throws(() => defineTasks(import.meta.url, { bad: 5 as never }), /task "bad"/);
  });
});

describe('randomStream', () => {
  it('is deterministic per (seed, index) and independent across indices', () => {
    const a = randomStream(1, 5);
    const b = randomStream(1, 5);
    const seqA = [a.random(), a.random(), a.normal()];
    assert.deepEqual(seqA, [b.random(), b.random(), b.normal()]);
    assert.notEqual(randomStream(1, 6).random(), randomStream(1, 5).random());
    assert.notEqual(randomStream(2, 5).random(), randomStream(1, 5).random());
  });

  it('draws uniform floats in [0, 1) and normals with the right moments', () => {
    const rng = randomStream(99, 0);
    let sum = 0;
    let sumSq = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const u = rng.random();
      assert.ok(u >= 0 && u < 1);
      const z = rng.normal(72, 5);
      sum += z;
      sumSq += z * z;
    }
    const mean = sum / n;
    const sd = Math.sqrt(sumSq / n - mean * mean);
    // Sampling error of the mean is 5 / sqrt(n) ≈ 0.011; these bounds are ~10 of those.
    assert.ok(Math.abs(mean - 72) < 0.12, `mean ${mean}`);
    assert.ok(Math.abs(sd - 5) < 0.1, `sd ${sd}`);
  });
});

describe('task wrappers', () => {
  it('decorate a task where it runs, on every backend', async () => {
    const { makeRef } = await import('../src/tasks.js');
    const { Pool } = await import('../src/index.js');
    const { decorators } = await import('./fixtures/tasks.js');
    const wrapper = { module: decorators.times.module, name: 'times', options: { factor: 10 } };
    const tripled = makeRef(tasks.square.module, 'square', (x: number) => tasks.square(x) * 10, wrapper);
    for (const backend of ['inline', 'threads'] as const) {
      await using pool = new Pool(backend === 'inline' ? { backend } : { backend, workers: 1 });
      assert.deepEqual(await pool.map(tripled, [1, 2, 3]), [10, 40, 90]);
      assert.deepEqual(await pool.map(tasks.square, [1, 2, 3]), [1, 4, 9], 'the plain task is unchanged');
    }
  });
});
