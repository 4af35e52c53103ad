/**
 * `imap` over an endless generator: consume `--items` results (10,000,000 by default) and
 * report the process's peak RSS. The input is read lazily through a bounded window, so memory
 * must stay flat however many items pass (issue 3's target: under 200 MB).
 */

import { availableParallelism, loadavg } from 'node:os';
import { Pool } from '../../src/index.js';
import { numberOption, parseArgs } from '../args.js';
import { versionOf } from '../libraries/versions.js';
import type { BenchRecord } from '../record.js';
import { round } from '../stats.js';
import { timed } from '../timing.js';
import tasks from '../workers/fanout-tasks.js';
import { noop } from '../workers/functions.js';

function* endless(): Generator<number> {
  for (let i = 0; ; i++) yield i;
}

const mb = (bytes: number) => bytes / 1024 / 1024;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const items = Math.round(numberOption(args, 'items', 10_000_000) * numberOption(args, 'scale', 1));
  const workers = numberOption(args, 'workers', availableParallelism());

  await using pool = new Pool({ workers });
  await pool.map(
    tasks.noop,
    Array.from({ length: 1000 }, (_, i) => i),
  );
  const rssBefore = process.memoryUsage.rss();

  // The same endless generator consumed by a plain loop, as the baseline.
  const serial = await timed(() => {
    let sum = 0;
    let count = 0;
    for (const i of endless()) {
      sum += noop(i);
      if (++count >= items) break;
    }
    return sum;
  });
  // Each result is checked as it arrives (item i's is noop(i)), so a misordered stream fails.
  const run = await timed(async () => {
    let sum = 0;
    let count = 0;
    for await (const r of pool.imap(tasks.noop, endless())) {
      if (r !== noop(count))
        throw new Error(`imap returned wrong results: result ${count} is ${r}, expected ${noop(count)}`);
      sum += r;
      if (++count >= items) break;
    }
    return sum;
  });
  if (run.value !== serial.value) throw new Error('imap returned different results from the serial loop');

  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const record: BenchRecord = {
    workload: 'imap-endless',
    library: 'fanout',
    version: versionOf('fanout'),
    workers,
    items,
    seconds: round(run.seconds),
    itemsPerSecond: round(items / run.seconds),
    speedupVsSerial: round(serial.seconds / run.seconds),
    efficiency: round(serial.seconds / run.seconds / workers),
    serialSeconds: round(serial.seconds),
    mainThreadUtilization: round(run.utilization, 3),
    coresUsed: round(run.cores, 3),
    cpuEfficiency: round(serial.cpuSeconds / run.cpuSeconds, 3),
    peakRssMb: round(peakRssMb),
    loadAverage: round(loadavg()[0] as number, 2),
    note: `no-op task over an endless generator, ordered; RSS before the call ${mb(rssBefore).toFixed(0)} MB; target peak < 200 MB`,
  };
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

await main();
