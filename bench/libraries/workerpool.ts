/** workerpool: one `exec` per item, all submitted, then awaited. Default options but the worker count. */

import { fileURLToPath } from 'node:url';
import workerpool from 'workerpool';
import type { StartHarness } from './harness.js';
import { versionOf } from './versions.js';

const script = new URL('../workers/workerpool-worker.js', import.meta.url);

export const startWorkerpool: StartHarness = async (workers) => {
  // workerpool's default is one worker fewer than the cores; pin it to the same count as the others.
  const pool = workerpool.pool(fileURLToPath(script), {
    minWorkers: workers,
    maxWorkers: workers,
    workerType: 'thread',
  });
  return {
    version: versionOf('workerpool'),
    map: (task, items) => Promise.all(items.map((item) => pool.exec(task, [item]) as Promise<unknown>)),
    close: async () => {
      await pool.terminate();
    },
  };
};
