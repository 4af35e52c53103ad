/**
 * The reference no scheduler can beat: plain worker_threads, the items cut by hand into one
 * chunk per worker, one message each way. On a shared machine it shows what `workers` cores
 * actually deliver at the moment, so the libraries' speedups can be read against it.
 */

import { Worker } from 'node:worker_threads';
import type { TaskName } from '../workers/functions.js';
import type { StartHarness } from './harness.js';

const script = new URL('../workers/hand-split-worker.js', import.meta.url);

function runChunk(worker: Worker, task: TaskName, items: readonly number[]): Promise<Float64Array> {
  return new Promise((resolve, reject) => {
    // Both listeners go when either fires: a listener left per call piles up over the runs.
    const done = (results: Float64Array) => {
      worker.off('error', failed);
      resolve(results);
    };
    const failed = (error: Error) => {
      worker.off('message', done);
      reject(error);
    };
    worker.once('message', done);
    worker.once('error', failed);
    worker.postMessage({ task, items });
  });
}

export const startHandSplit: StartHarness = async (workers) => {
  const threads = Array.from({ length: workers }, () => new Worker(script));
  return {
    version: `node ${process.version}`,
    async map(task, items) {
      const per = Math.ceil(items.length / workers);
      const chunks = await Promise.all(
        threads.map((thread, w) => runChunk(thread, task, items.slice(w * per, (w + 1) * per))),
      );
      const results = new Float64Array(items.length);
      for (const [w, chunk] of chunks.entries()) results.set(chunk, w * per);
      return results;
    },
    close: async () => {
      await Promise.all(threads.map((thread) => thread.terminate()));
    },
  };
};
