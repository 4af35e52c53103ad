/**
 * `npm run bench:sync`: the synchronisation primitives (issue 18), in one run.
 *
 * - lock, uncontended, in a thread worker: `tryAcquire()` + `release()` and `await acquire()` +
 *   `release()`, against a bare compare-and-swap + store on a shared cell (the floor);
 * - lock, contended: 2 workers each doing `--n` non-atomic increments of a shared cell under it
 *   (threads; processes: a Counter add under it, through the caller's broker); the total is checked;
 * - counter: 2 workers adding 1 `--n` times each (threads, processes);
 * - queue: one worker puts `--n` numbers, another takes them (threads, processes).
 *
 * Median of `--repeats` runs; ns per operation and operations a second. Writes bench/results/sync.json.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Counter, Lock, Pool, Queue, shared } from '../../src/index.js';
import { numberOption, parseArgs } from '../args.js';
import { median } from '../stats.js';
import tasks from './tasks.js';

const args = parseArgs(process.argv.slice(2));
const n = numberOption(args, 'n', 20_000);
const repeats = numberOption(args, 'repeats', 3);
const uncontendedN = 2_000_000;
/** `--only lock-uncontended`: just the uncontended lock rows (quick, for the ≤ 100 ns target). */
const only = args.get('only');

interface Row {
  row: string;
  backend: string;
  nsPerOp: number;
  opsPerSecond: number;
  note: string;
}
const rows: Row[] = [];
const add = (row: string, backend: string, nsPerOp: number, note = '') =>
  rows.push({ row, backend, nsPerOp, opsPerSecond: 1e9 / nsPerOp, note });

async function medianOf(run: () => Promise<number>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) times.push(await run());
  return median(times);
}

{
  await using pool = new Pool({ backend: 'threads', workers: 1 });
  const lock = new Lock();
  const cell = shared.int32(1);
  await pool.run(tasks.bareCas, cell, 1000); // start the worker
  add(
    'lock-uncontended',
    'threads',
    await medianOf(() => pool.run(tasks.bareCas, cell, uncontendedN)),
    'floor: bare CAS + store',
  );
  add(
    'lock-uncontended',
    'threads',
    await medianOf(() => pool.run(tasks.tryAcquireRelease, lock, uncontendedN)),
    'tryAcquire() + release()',
  );
  add(
    'lock-uncontended',
    'threads',
    await medianOf(() => pool.run(tasks.awaitFloor, uncontendedN)),
    'floor of an awaited acquire: bare await Promise.resolve()',
  );
  add(
    'lock-uncontended',
    'threads',
    await medianOf(() => pool.run(tasks.acquireRelease, lock, uncontendedN)),
    'await acquire() + release()',
  );
}

for (const backend of only === 'lock-uncontended' ? [] : (['threads', 'processes'] as const)) {
  await using pool = new Pool({ backend, workers: 2 });
  const lock = new Lock();
  const count = backend === 'threads' ? n : n / 10;
  await pool.starmap(tasks.adds, [
    [new Counter(), 10],
    [new Counter(), 10],
  ]); // start both workers
  const contended = await medianOf(async () => {
    const start = performance.now();
    if (backend === 'threads') {
      const cell = shared.int32(1);
      await pool.starmap(tasks.lockedIncrements, [
        [lock, cell, count],
        [lock, cell, count],
      ]);
      if (cell[0] !== 2 * count) throw new Error(`lost updates: ${cell[0]} of ${2 * count}`);
    } else {
      const counter = new Counter();
      await pool.starmap(tasks.lockedCounter, [
        [lock, counter, count],
        [lock, counter, count],
      ]);
      if ((await counter.get()) !== 2 * count) throw new Error('lost updates');
    }
    return ((performance.now() - start) * 1e6) / (2 * count);
  });
  add(
    'lock-contended',
    backend,
    contended,
    `2 workers × ${count} acquire + increment + release (wall time per operation)`,
  );

  const adds = await medianOf(async () => {
    const counter = new Counter();
    const start = performance.now();
    await pool.starmap(tasks.adds, [
      [counter, count],
      [counter, count],
    ]);
    if ((await counter.get()) !== 2 * count) throw new Error('counter lost adds');
    return ((performance.now() - start) * 1e6) / (2 * count);
  });
  add('counter', backend, adds, `2 workers × ${count} await add(1) (wall time per add)`);

  const items = await medianOf(async () => {
    const queue = new Queue<number>({ capacity: 1024 });
    const start = performance.now();
    await Promise.all([pool.run(tasks.produce, queue, count), pool.run(tasks.consume, queue, count)]);
    return ((performance.now() - start) * 1e6) / count;
  });
  add('queue', backend, items, `one worker puts ${count} numbers, another gets them (wall time per item)`);
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
console.log(`bench:sync  n=${n} repeats=${repeats} load=${loadavg()[0]?.toFixed(2)}`);
for (const r of rows) {
  console.log(
    `${r.row.padEnd(17)} ${r.backend.padEnd(10)} ${fmt(r.nsPerOp).padStart(9)} ns/op ${Math.round(r.opsPerSecond).toLocaleString('en').padStart(13)} /s  ${r.note}`,
  );
}
const resultsDir = new URL('../results/', import.meta.url);
mkdirSync(resultsDir, { recursive: true });
writeFileSync(
  new URL('sync.json', resultsDir),
  `${JSON.stringify({ n, repeats, load: loadavg(), rows }, null, 2)}\n`,
);
