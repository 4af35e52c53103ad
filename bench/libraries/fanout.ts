/**
 * fanout: `pool.map(task, items)`, automatic batching unless the workload fixes a size; and the
 * like-for-like form of a fixed size, with at most one batch in flight per worker.
 */

import { Pool } from '../../src/index.js';
import tasks from '../workers/fanout-tasks.js';
import type { RunOptions, StartHarness } from './harness.js';
import { versionOf } from './versions.js';

/**
 * What a fixed batch size leaves fanout free to do, said in the row: keep several batches in
 * flight per worker (the scheduler's pipeline depth, 16 for batches this short) and post the
 * batches assigned in one tick, and the results of short batches, together in one message.
 */
function pipelined(options: RunOptions): string | undefined {
  return options.batchSize
    ? `batchSize ${options.batchSize}; up to 16 batches in flight per worker, the batches queued in one tick sent as one message and the results of short batches returned together`
    : undefined;
}

export const startFanout: StartHarness = async (workers) => {
  const pool = new Pool({ workers });
  return {
    version: versionOf('fanout'),
    map: (task, items, options) =>
      pool.map(tasks[task], items, options.batchSize ? { batchSize: options.batchSize } : {}),
    describe: pipelined,
    close: () => pool.close(),
  };
};

/**
 * Dispatch as the per-task pools do it: `preDispatch: workers` lets no more batches out ahead of
 * the results taken in order than there are workers, so each worker has one batch at a time and
 * every batch travels in a message of its own each way (nothing is queued to merge). It can be a
 * little slower than one-in-flight dispatch proper: a worker that finished a later batch waits
 * until the earlier one is back.
 */
export const startFanoutOneInFlight: StartHarness = async (workers) => {
  const pool = new Pool({ workers });
  return {
    version: versionOf('fanout'),
    map: (task, items, options) =>
      pool.map(tasks[task], items, {
        preDispatch: workers,
        ...(options.batchSize ? { batchSize: options.batchSize } : {}),
      }),
    describe: (options) =>
      `${options.batchSize ? `batchSize ${options.batchSize}, ` : ''}preDispatch ${workers}: one batch in flight per worker, one message per batch each way, as the per-task pools send them`,
    close: () => pool.close(),
  };
};
