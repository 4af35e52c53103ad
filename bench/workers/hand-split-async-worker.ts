/**
 * The async-io row's hand-split reference (bench/nested.ts): a worker thread runs its whole
 * chunk with `concurrent` items in flight at once (each lane takes the next item as its last
 * one settles) and sends the results back in one message. No scheduler, no batches, no
 * messages per item: what 10 ms timers and 0.2 ms computes allow on this machine right now.
 */

import { parentPort } from 'node:worker_threads';
import { ioThenCompute } from './nested-functions.js';

parentPort?.on('message', async ({ items, concurrent }: { items: number[]; concurrent: number }) => {
  const results = new Array<number>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await ioThenCompute(items[i] as number);
    }
  };
  await Promise.all(Array.from({ length: concurrent }, lane));
  parentPort?.postMessage(results);
});
