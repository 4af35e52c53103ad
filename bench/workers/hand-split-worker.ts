/** The hand-split reference's worker: runs a whole chunk in one loop and sends the results back in one message. */

import { parentPort } from 'node:worker_threads';
import { functions, type TaskName } from './functions.js';

parentPort?.on('message', ({ task, items }: { task: TaskName; items: number[] }) => {
  const fn = functions[task];
  const results = new Float64Array(items.length);
  for (let i = 0; i < items.length; i++) results[i] = fn(items[i] as number);
  parentPort?.postMessage(results, [results.buffer]);
});
