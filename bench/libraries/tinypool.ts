/**
 * tinypool, two ways. Naive: one `run` per item, all submitted, then awaited, default options but
 * the thread count. Expert: tinypool's README points to Piscina's documentation for everything it
 * shares with it, so the same settings as Piscina's expert row, and the items hand-chunked.
 */

import Tinypool from 'tinypool';
import { CHUNKS_PER_WORKER, rangesOf, runChunked } from './chunked.js';
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

const expertWorker = new URL('../workers/tinypool-expert-worker.js', import.meta.url).href;

export const startTinypoolExpert: StartHarness = async (workers) => {
  const pool = new Tinypool({
    filename: expertWorker,
    minThreads: workers,
    maxThreads: workers,
    maxQueue: 'auto',
  });
  const limit = workers + pool.options.maxQueue;
  return {
    version: versionOf('tinypool'),
    describe: () =>
      `${CHUNKS_PER_WORKER} chunks per worker, each one run() over a range of items (no input array), results moved back as a Float64Array (Tinypool.move); maxQueue 'auto' (${pool.options.maxQueue}), minThreads = maxThreads = ${workers}`,
    map: (task, items) =>
      runChunked(rangesOf(task, items.length, CHUNKS_PER_WORKER * workers), limit, (range) =>
        pool.run(range, { name: 'chunk' }),
      ),
    close: () => pool.destroy(),
  };
};
