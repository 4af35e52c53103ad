/**
 * Where fanout's time goes on one workload (not part of `npm run bench`): the batch sizes the
 * scheduler chose, seen through `onProgress` (called once per finished batch), and how busy the
 * main thread was. Run with `--cpu-prof` to profile the main thread as well.
 *
 *   node dist-bench/bench/diagnose.js --workload weather-10 [--scale 1] [--workers 2]
 */

import { availableParallelism } from 'node:os';
import { Pool } from '../src/index.js';
import { numberOption, parseArgs } from './args.js';
import { timed } from './timing.js';
import tasks from './workers/fanout-tasks.js';
import { workloadNamed } from './workloads.js';

const args = parseArgs(process.argv.slice(2));
const workload = workloadNamed(args.get('workload') ?? 'weather-10');
const workers = numberOption(args, 'workers', availableParallelism());
const n = Math.round(workload.items * numberOption(args, 'scale', 1));
const items = Array.from({ length: n }, (_, i) => i);

await using pool = new Pool({ workers });
await pool.map(tasks[workload.task], items.slice(0, 20_000));

const sizes: number[] = [];
let last = 0;
const run = await timed(() =>
  pool.map(tasks[workload.task], items, {
    ...(workload.fanoutBatchSize ? { batchSize: workload.fanoutBatchSize } : {}),
    onProgress: ({ done }) => {
      sizes.push(done - last);
      last = done;
    },
  }),
);

const histogram = new Map<number, number>();
for (const size of sizes) {
  const bucket = 2 ** Math.floor(Math.log2(size));
  histogram.set(bucket, (histogram.get(bucket) ?? 0) + 1);
}
console.log(
  `${workload.name}: ${n.toLocaleString('en-US')} items in ${run.seconds.toFixed(3)} s, ${sizes.length} batches`,
);
console.log(
  `main thread busy ${(run.utilization * 100).toFixed(0)}%, ${run.cores.toFixed(2)} cores used by the process`,
);
console.log(`first batches: ${sizes.slice(0, 24).join(' ')}`);
console.log(`last batches: ${sizes.slice(-12).join(' ')}`);
console.log('batch size (from) → count:');
for (const [bucket, count] of [...histogram].sort((a, b) => a[0] - b[0]))
  console.log(`  ${bucket}\t${count}`);
