/**
 * Batching overhead when items are slow: 400 items that busy-wait 10 ms each, through
 * `pool.starmap` with automatic batching, against the same work hand-batched into one chunk per
 * worker (the best any scheduler can do). Issue 3's target: within 2 % of the hand-batched run.
 * Each item returns its own index after waiting, so every run's results are checked in order;
 * wrong results end the script with an error.
 */

import { availableParallelism, loadavg } from 'node:os';
import { Pool } from '../../src/index.js';
import { numberOption, parseArgs } from '../args.js';
import { assertSameResults } from '../check.js';
import { versionOf } from '../libraries/versions.js';
import type { BenchRecord } from '../record.js';
import { median, round } from '../stats.js';
import { timed } from '../timing.js';
import tasks from '../workers/fanout-tasks.js';
import { busyItem } from '../workers/functions.js';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const count = Math.round(numberOption(args, 'items', 400) * numberOption(args, 'scale', 1));
  const ms = numberOption(args, 'ms', 10);
  const repeat = numberOption(args, 'repeat', 5);
  const workers = numberOption(args, 'workers', availableParallelism());
  // Item i busy-waits `ms` and returns i, so the results must be 0, 1, 2, … in order.
  const items = Array.from({ length: count }, (_, i): [number, number] => [ms, i]);
  const per = Math.ceil(count / workers);
  const chunks = Array.from({ length: workers }, (_, w): [number[], number] => [
    items.slice(w * per, (w + 1) * per).map(([d]) => d),
    w * per,
  ]);
  const expected = items.map(([, id]) => id);
  const check = (results: ArrayLike<unknown>, what: string) => assertSameResults(results, expected, what);

  await using pool = new Pool({ workers });
  await pool.starmap(tasks.busyItem, [
    [1, 0],
    [1, 1],
    [1, 2],
    [1, 3],
  ]);
  // Busy-waiting ends on the wall clock, so one serial run is as good as several.
  const serial = await timed(() => items.map(([d, id]) => busyItem(d, id)));
  check(serial.value, 'the serial loop');

  const auto: number[] = [];
  const hand: number[] = [];
  for (let r = 0; r < repeat; r++) {
    // Alternate which goes first, so a burst of load from elsewhere hits both alike.
    const runAuto = async () => {
      const run = await timed(() => pool.starmap(tasks.busyItem, items));
      check(run.value, 'pool.starmap with automatic batching');
      auto.push(run.seconds);
    };
    const runHand = async () => {
      const run = await timed(() => pool.starmap(tasks.busyChunk, chunks));
      check(run.value.flat(), 'the hand-batched run');
      hand.push(run.seconds);
    };
    if (r % 2 === 0) await runAuto().then(runHand);
    else await runHand().then(runAuto);
    process.stderr.write(
      `  [fanout slow-items] run ${r + 1}/${repeat}: auto ${auto.at(-1)?.toFixed(3)} s, hand-batched ${hand.at(-1)?.toFixed(3)} s\n`,
    );
  }

  // Busy-waiting ends on the wall clock, so nothing can finish before items × ms ÷ workers.
  const idealSeconds = (Math.ceil(count / workers) * ms) / 1000;
  const base = { workload: `slow-items-${ms}ms`, version: versionOf('fanout'), workers, items: count };
  const record = (library: string, samples: number[], note: string): BenchRecord => {
    const seconds = median(samples);
    return {
      ...base,
      library,
      seconds: round(seconds),
      itemsPerSecond: round(count / seconds),
      speedupVsSerial: round(serial.seconds / seconds),
      efficiency: round(serial.seconds / seconds / workers),
      perItemOverheadNs: round(((seconds * workers - serial.seconds) / count) * 1e9),
      serialSeconds: round(serial.seconds),
      idealSeconds,
      loadAverage: round(loadavg()[0] as number, 2),
      samples: samples.map((s) => round(s)),
      note,
    };
  };
  const ratio = median(auto) / median(hand);
  const records = [
    {
      ...record(
        'fanout',
        auto,
        `pool.starmap, batchSize auto; ${round(ratio, 4)}× the hand-batched time (target ≤ 1.02), ${round(median(auto) / idealSeconds, 4)}× the ideal ${idealSeconds} s`,
      ),
      ratioToHandBatched: round(ratio),
    },
    record(
      'fanout (hand-batched)',
      hand,
      `one chunk of ${per} items per worker, pool.starmap over ${workers} chunks; ${round(median(hand) / idealSeconds, 4)}× the ideal ${idealSeconds} s`,
    ),
  ];
  process.stdout.write(`${JSON.stringify(records)}\n`);
}

await main();
