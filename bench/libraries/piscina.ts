/** Piscina: one `run` per item, all submitted, then awaited. Default options but the thread count. */

import { Piscina } from 'piscina';
import { functionsUrl, type StartHarness } from './harness.js';
import { versionOf } from './versions.js';

export const startPiscina: StartHarness = async (workers) => {
  const pool = new Piscina({ filename: functionsUrl, minThreads: workers, maxThreads: workers });
  return {
    version: versionOf('piscina'),
    map: (task, items) =>
      Promise.all(items.map((item) => pool.run(item, { name: task }) as Promise<unknown>)),
    close: () => pool.destroy(),
  };
};
