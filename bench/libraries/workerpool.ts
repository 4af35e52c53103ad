/**
 * workerpool, two ways. Naive: one `exec` per item, all submitted, then awaited, default options
 * but the worker count. Expert: worker threads, a bounded queue (`maxQueueSize`, which its docs
 * give to keep memory in check), results sent back with `workerpool.Transfer`, and the items
 * hand-chunked (see chunked.ts).
 */

import { fileURLToPath } from 'node:url';
import workerpool from 'workerpool';
import { CHUNKS_PER_WORKER, rangesOf, runChunked } from './chunked.js';
import type { StartHarness } from './harness.js';
import { versionOf } from './versions.js';

const script = fileURLToPath(new URL('../workers/workerpool-worker.js', import.meta.url));

export const startWorkerpool: StartHarness = async (workers) => {
  // workerpool's default is one worker fewer than the cores; pin it to the same count as the others.
  const pool = workerpool.pool(script, { minWorkers: workers, maxWorkers: workers, workerType: 'thread' });
  return {
    version: versionOf('workerpool'),
    map: (task, items) => Promise.all(items.map((item) => pool.exec(task, [item]) as Promise<unknown>)),
    close: async () => {
      await pool.terminate();
    },
  };
};

export const startWorkerpoolExpert: StartHarness = async (workers) => {
  // The same bound as Piscina's maxQueue 'auto' (workers²): workerpool's docs give no figure.
  const maxQueueSize = workers * workers;
  const pool = workerpool.pool(script, {
    minWorkers: workers,
    maxWorkers: workers,
    workerType: 'thread',
    maxQueueSize,
  });
  return {
    version: versionOf('workerpool'),
    describe: () =>
      `${CHUNKS_PER_WORKER} chunks per worker, each one exec() over a range of items (no input array), results sent back as a transferred Float64Array (workerpool.Transfer); workerType 'thread', maxQueueSize ${maxQueueSize}, minWorkers = maxWorkers = ${workers}`,
    map: (task, items) =>
      runChunked(
        rangesOf(task, items.length, CHUNKS_PER_WORKER * workers),
        workers + maxQueueSize,
        (range) => pool.exec('chunk', [range]) as Promise<unknown>,
      ),
    close: async () => {
      await pool.terminate();
    },
  };
};
