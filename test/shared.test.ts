/** Data without copies: shared memory, transfers and broadcast values. */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Pool, shared, transfer } from '../src/index.js';
import data from './fixtures/data-tasks.js';
import tasks from './fixtures/tasks.js';
import { backends, range, rejectsWith } from './helpers.js';

describe('shared memory', () => {
  for (const backend of backends.filter((b) => b.name !== 'processes')) {
    it(`${backend.name}: a worker's writes to a shared array are visible to the caller (no copy)`, async () => {
      await using pool = backend.pool();
      const array = shared.float64(8);
      await pool.starmap(
        data.write,
        range(8).map((i) => [array, i, i * 10] as [Float64Array, number, number]),
      );
      assert.deepEqual(
        [...array],
        range(8).map((i) => i * 10),
      );
      const counter = shared.int32(1);
      await pool.map(
        data.increment,
        range(100).map(() => counter),
      );
      assert.equal(counter[0], 100, 'Atomics on shared memory count every increment once');
    });
  }

  it('threads: column sums of a shared matrix, each worker writing its own columns', async () => {
    await using pool = new Pool({ workers: 2 });
    const rows = 500;
    const columns = 8;
    const matrix = shared.float64(rows * columns);
    for (let i = 0; i < matrix.length; i++) matrix[i] = i % 7;
    const sums = shared.float64(columns);
    await pool.starmap(data.columnSums, [
      [matrix, sums, columns, 0, 4],
      [matrix, sums, columns, 4, 8],
    ]);
    const expected = range(columns).map((c) => range(rows).reduce((s, r) => s + ((r * columns + c) % 7), 0));
    assert.deepEqual([...sums], expected);
  });

  it('shared.from copies a typed array onto shared memory', () => {
    const copy = shared.from(new Int16Array([1, -2, 3]));
    assert.ok(copy instanceof Int16Array && shared.isShared(copy));
    assert.deepEqual([...copy], [1, -2, 3]);
  });

  it('processes: a shared array is refused with a clear error (processes share no memory)', async () => {
    await using pool = new Pool({ backend: 'processes', workers: 1 });
    const error = await rejectsWith(pool.run(data.sum, shared.float64(4)), 'ERR_NOT_CLONEABLE');
    assert.match(error.message, /SharedArrayBuffer.*share no memory/);
  });
});

describe('transfer', () => {
  it('threads: a transferred argument is detached on the sending side; without transfer it is copied', async () => {
    await using pool = new Pool({ workers: 1 });
    const copied = new Float64Array(1000).fill(2);
    assert.equal(await pool.run(data.sum, copied), 2000);
    assert.equal(copied.byteLength, 8000, 'a copy leaves the original alone');
    const moved = new Float64Array(1000).fill(3);
    assert.equal(await pool.run(data.sum, transfer(moved)), 3000);
    assert.equal(moved.byteLength, 0, 'a transferred buffer is detached');
  });

  it('threads: the pool moves no buffer of its own either way (a numeric batch and its results are copied)', async () => {
    // Moving (detaching) any ArrayBuffer makes V8 drop, for the rest of that thread's life, the
    // assumption that no buffer is ever detached: every typed-array access in optimised code
    // then checks for it (a stencil loop ran ~20% slower). So the pool's own packing copies.
    await using pool = new Pool({ workers: 1 });
    await pool.run(data.watchMoves);
    const moved: number[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'fanout-moves-'));
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, message: unknown, list?: readonly unknown[]) {
      moved.push(list?.length ?? 0);
      return post.call(this, message, list as never);
    };
    try {
      const sums = await pool.map(
        data.sum,
        range(40).map((i) => new Float64Array([i])),
        { batchSize: 20 },
      );
      assert.equal(sums[39], 39);
      // Numbers in and out, packed into one Float64Array per batch each way; traced, so the
      // item times come back too.
      const squares = await pool.map(tasks.square, range(100), {
        batchSize: 50,
        trace: join(dir, 'trace.json'),
      });
      assert.equal(squares[99], 99 * 99);
    } finally {
      Worker.prototype.postMessage = post;
      rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(moved.length > 0, 'the batches were posted');
    assert.deepEqual(
      moved.filter((n) => n > 0),
      [],
      'buffers the caller moved to the worker',
    );
    assert.equal(await pool.run(data.movedByWorker), 0, 'buffers the worker moved to the caller');
  });

  it('threads: a task can hand a result back by transfer', async () => {
    await using pool = new Pool({ workers: 1 });
    const result = await pool.run(data.makeTransferred, 1000);
    assert.ok(result instanceof Float64Array);
    assert.equal(result.length, 1000);
    assert.equal(result[999], 1);
  });
});

describe('broadcast', () => {
  for (const backend of backends) {
    it(`${backend.name}: a broadcast value reaches each worker once, and releasing frees it there`, async () => {
      await using pool = backend.pool({ workers: 2 });
      const big = new Float64Array(100_000).fill(0.5);
      const handle = pool.broadcast(big);
      const sums = await pool.map(
        data.sum,
        range(40).map(() => handle),
        { batchSize: 1 },
      );
      assert.ok(sums.every((s) => s === 50_000));
      const stats = await pool.map(
        data.broadcastStats,
        range(40).map(() => handle.broadcastId),
        { batchSize: 1 },
      );
      for (const s of stats) {
        if (backend.name === 'inline')
          assert.ok(s.received >= 1, 'the inline workers share one thread and cache');
        else assert.equal(s.received, 1, `worker ${s.worker} received it ${s.received} times`);
        assert.equal(s.has, true);
      }
      handle.release();
      await rejectsWith(pool.run(data.sum, handle), 'ERR_INVALID_ARG_VALUE');
      const after = await pool.map(
        data.broadcastStats,
        range(20).map(() => handle.broadcastId),
        { batchSize: 1 },
      );
      assert.ok(
        after.every((s) => s.has === false),
        'released in every worker',
      );
    });
  }

  it('threads: a shared array inside a broadcast is not copied at all', async () => {
    await using pool = new Pool({ workers: 2 });
    const array = shared.float64(4);
    const handle = pool.broadcast(array);
    await pool.starmap(data.write, [
      [handle, 0, 7],
      [handle, 3, 9],
    ]);
    assert.deepEqual([...array], [7, 0, 0, 9]);
  });

  it('processes: a broadcast holding shared memory is refused', async () => {
    await using pool = new Pool({ backend: 'processes', workers: 1 });
    assert.throws(() => pool.broadcast({ data: shared.float64(2) }), /share no memory/);
  });
});
