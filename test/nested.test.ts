/**
 * Nested parallelism beyond the conformance suite (issue 17): a pool made inside a task stays
 * within the machine, and a task's local call runs its children as direct calls.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Pool } from '../src/index.js';
import { nestedTasks } from './fixtures/tasks.js';

describe('a Pool made inside a task', () => {
  it('with no backend runs inline, on the worker it was made in (no threads of its own)', async () => {
    await using pool = new Pool({ workers: 2 });
    const { squares, workers } = await pool.run(nestedTasks.innerPool);
    assert.deepEqual(squares, [0, 1, 4, 9]);
    // An inline pool's workers are runtimes on its thread: one, as `concurrency` defaults to 1.
    assert.equal(workers, 1);
  });

  it('asking for threads without `workers` gets one thread, not one per core', async () => {
    await using pool = new Pool({ workers: 2 });
    const { squares, workers } = await pool.run(nestedTasks.innerPool, 'threads');
    assert.deepEqual(squares, [0, 1, 4, 9]);
    assert.equal(workers, 1);
  });
});

describe('taskContext().pool in a local call', () => {
  it('runs children as direct calls: the serial form of a nested program', async () => {
    assert.equal(await nestedTasks.fib(15), 610);
    assert.equal(await nestedTasks.sumOfSquares(5), 30);
  });

  it('checks child call options as the pool does: an aborted signal, a bad signal, a timeout', async () => {
    const expected = [
      'ABORT_ERR',
      'ABORT_ERR',
      'ERR_INVALID_ARG_TYPE',
      'ERR_INVALID_ARG_VALUE',
      'ERR_INVALID_ARG_TYPE',
      'value 16',
    ];
    assert.deepEqual(await nestedTasks.childOptionCodes(), expected);
    await using pool = new Pool({ backend: 'threads', workers: 1 });
    assert.deepEqual(await pool.run(nestedTasks.childOptionCodes), expected);
  });
});
