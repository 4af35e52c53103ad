/** Task modules and references. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callSeed, defineTasks, Pool, randomStream, taskContext } from '../src/index.js';
import tasks, { progressTasks, randomTasks } from './fixtures/tasks.js';

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

describe('a task called locally', () => {
  it('has a task context: index 0, a fresh seed per call that replays its draws, a signal that never aborts', async () => {
    const first = randomTasks.draw();
    const second = randomTasks.draw();
    assert.equal(first.index, 0);
    assert.notEqual(first.seed, second.seed, 'each local call draws a fresh seed');
    for (const call of [first, second]) {
      assert.equal(call.value, randomStream(call.seed, 0).random(), 'randomStream(seed, 0) replays it');
    }
    assert.equal(tasks.index(), 0);
    assert.equal(progressTasks.reportProgress(3), 3, 'progress reports go nowhere');
    // The signal never aborts: the task runs to its own end.
    assert.equal(await tasks.waitForAbort(10), 'timeout');
  });

  it('keeps its context across awaits, and concurrent local calls each have their own', async () => {
    const pairs = await Promise.all([30, 10, 20].map((ms) => randomTasks.seedAcrossAwait(ms)));
    for (const [before, after] of pairs) assert.equal(after, before);
    assert.equal(new Set(pairs.map(([seed]) => seed)).size, 3);
  });

  it("inside a running task, is part of it and shares the task's context", async () => {
    for (const backend of ['inline', 'threads'] as const) {
      await using pool = new Pool(
        backend === 'inline' ? { backend, seed: 5 } : { backend, workers: 1, seed: 5 },
      );
      const draws = await pool.map(randomTasks.drawNested, [0, 1, 2]);
      assert.deepEqual(
        draws.map((d) => [d.index, d.seed]),
        [
          [0, 5],
          [1, 5],
          [2, 5],
        ],
        backend,
      );
    }
  });

  it('a callback that outlives its task finds no context, not the last item the worker ran', async () => {
    await using pool = new Pool({ workers: 1 });
    await pool.map(randomTasks.startLateRead, [5]);
    let seen = 'pending';
    // The timer cannot fire while a task runs (one thread): it runs between two polls.
    while (seen === 'pending') {
      await new Promise((resolve) => setTimeout(resolve, 10));
      seen = await pool.run(randomTasks.lateRead);
    }
    assert.equal(seen, 'ERR_NO_TASK_CONTEXT');
  });

  it('outside any task, taskContext() is a coded error', () => {
    assert.throws(() => taskContext(), {
      code: 'ERR_NO_TASK_CONTEXT',
      name: 'NoTaskContextError',
      message: /where no task is running/,
    });
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

  it('refuses a seed or an index that is not an integer, with a coded error', () => {
    for (const [seed, index, code] of [
      [Number.NaN, Number.NaN, 'ERR_INVALID_ARG_VALUE'],
      [1, Number.NaN, 'ERR_INVALID_ARG_VALUE'],
      [1.5, 0, 'ERR_INVALID_ARG_VALUE'],
      [1, -1, 'ERR_INVALID_ARG_VALUE'],
      [1, 2 ** 53, 'ERR_INVALID_ARG_VALUE'],
      ['1', 0, 'ERR_INVALID_ARG_TYPE'],
      [1, undefined, 'ERR_INVALID_ARG_TYPE'],
    ] as const) {
      assert.throws(() => randomStream(seed as never, index as never), { code }, `${seed}, ${index}`);
    }
  });

  it('callSeed: call 0 is the seed itself, later calls get unrelated seeds', () => {
    assert.equal(callSeed(42, 0), 42);
    const seeds = Array.from({ length: 1000 }, (_, k) => callSeed(42, k));
    assert.equal(new Set(seeds).size, 1000, 'no two calls of a thousand share a seed');
    assert.notEqual(callSeed(43, 1), callSeed(42, 1));
    assert.notEqual(callSeed(2 ** 32 + 42, 7), callSeed(42, 7), 'seeds keep all 53 bits');
    assert.equal(callSeed(-1, 7), callSeed(2 ** 53 - 1, 7), 'a negative seed is taken modulo 2^53');
    assert.throws(() => callSeed(42, -1), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => callSeed(Number.NaN, 1), { code: 'ERR_INVALID_ARG_VALUE' });
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
    const { makeRef } = await import('../src/tasks/tasks.js');
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
