/** tinypool: one `run` per item, all submitted, then awaited. Default options but the thread count. */

import Tinypool from 'tinypool';
import { functionsUrl, type StartHarness } from './harness.js';
import { versionOf } from './versions.js';

export const startTinypool: StartHarness = async (workers) => {
  const pool = new Tinypool({ filename: functionsUrl, minThreads: workers, maxThreads: workers });
  return {
    version: versionOf('tinypool'),
    map: (task, items) =>
      Promise.all(items.map((item) => pool.run(item, { name: task }) as Promise<unknown>)),
    close: () => pool.destroy(),
  };
};
