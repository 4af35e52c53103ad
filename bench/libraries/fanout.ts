/** fanout: `pool.map(task, items)`, automatic batching unless the workload fixes a size. */

import { Pool } from '../../src/index.js';
import tasks from '../workers/fanout-tasks.js';
import type { StartHarness } from './harness.js';
import { versionOf } from './versions.js';

export const startFanout: StartHarness = async (workers) => {
  const pool = new Pool({ workers });
  return {
    version: versionOf('fanout'),
    map: (task, items, options) =>
      pool.map(tasks[task], items, options.batchSize ? { batchSize: options.batchSize } : {}),
    close: () => pool.close(),
  };
};
