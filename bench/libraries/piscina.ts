/**
 * Piscina, two ways. Naive: one `run` per item, all submitted, then awaited, default options but
 * the thread count (what a new user writes). Expert: the settings Piscina's documentation gives
 * for throughput, and the items hand-chunked (see chunked.ts).
 */

import { Piscina } from 'piscina';
import { CHUNKS_PER_WORKER, rangesOf, runChunked } from './chunked.js';
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

const expertWorker = new URL('../workers/piscina-expert-worker.js', import.meta.url).href;

export const startPiscinaExpert: StartHarness = async (workers) => {
  // maxQueue 'auto' (threads²: the docs' "Queue Size" advice); minThreads = maxThreads, so no
  // thread is ever stopped and restarted (the docs' "Queue Pressure and Idle Threads").
  const pool = new Piscina({
    filename: expertWorker,
    minThreads: workers,
    maxThreads: workers,
    maxQueue: 'auto',
  });
  const limit = workers + pool.options.maxQueue;
  return {
    version: versionOf('piscina'),
    describe: () =>
      `${CHUNKS_PER_WORKER} chunks per worker, each one run() over a range of items (no input array), results moved back as a Float64Array (Piscina.move); maxQueue 'auto' (${pool.options.maxQueue}), minThreads = maxThreads = ${workers}`,
    map: (task, items) =>
      runChunked(rangesOf(task, items.length, CHUNKS_PER_WORKER * workers), limit, (range) =>
        pool.run(range, { name: 'chunk' }),
      ),
    close: () => pool.destroy(),
  };
};
