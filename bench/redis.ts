/**
 * `npm run bench:redis`: items through Redis on loopback, with 1 and 2 `fanout worker` processes.
 *
 * Starts its own redis-server (a free port, nothing written to disk) and the workers, then for
 * each setup measures no-op items and seed 002's weather step (10 days) through `pool.map` with
 * automatic batching (items/s), and the round trip of one job (`pool.run` of a no-op, one at a
 * time, on an idle cluster). The threads backend on the same machine is measured for reference.
 * Every run's results are checked element by element (the weather's against a serial loop over
 * the same streams); wrong results stop it with an error and a non-zero exit.
 * Prints a table and writes bench/results/redis.json. Everything started is stopped at the end.
 *
 * Options: --items N (default 2,000,000), --runs N (best of N, default 3), --trips N (default 200).
 */

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Pool, type TaskRef } from '../src/index.js';
import { assertSameResults } from './check.js';
import { startRedis, startWorker, stop } from './processes.js';
import bench from './redis-tasks.js';
import { functions } from './workers/functions.js';

const { values } = parseArgs({
  options: { items: { type: 'string' }, runs: { type: 'string' }, trips: { type: 'string' } },
});
const ITEMS = Number(values.items ?? 2_000_000);
const RUNS = Number(values.runs ?? 3);
const TRIPS = Number(values.trips ?? 200);

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Best of RUNS: items per second of `pool.map(task, range(ITEMS))`. Every run's results must
 * equal `expected` element by element, or the benchmark stops with an error.
 */
async function throughput(
  pool: Pool,
  task: TaskRef<(item: number) => unknown>,
  expected: readonly unknown[],
  label: string,
): Promise<number> {
  const items = range(ITEMS);
  await pool.map(task, range(50_000)); // warm: workers, JIT, batch sizes
  let best = 0;
  for (let run = 0; run < RUNS; run++) {
    const t0 = performance.now();
    const results = await pool.map(task, items);
    const seconds = (performance.now() - t0) / 1000;
    assertSameResults(results, expected, `${label} on the ${pool.backend} backend`);
    best = Math.max(best, ITEMS / seconds);
  }
  return best;
}

/** One job at a time: median and 90th percentile of submit → result, in ms. */
async function roundTrip(pool: Pool): Promise<{ median: number; p90: number }> {
  for (let i = 0; i < 20; i++) await pool.run(bench.noop);
  const times: number[] = [];
  for (let i = 0; i < TRIPS; i++) {
    const t0 = performance.now();
    await pool.run(bench.noop);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return {
    median: times[Math.floor(times.length / 2)] as number,
    p90: times[Math.floor(times.length * 0.9)] as number,
  };
}

interface Row {
  setup: string;
  workerProcesses: number;
  threads: number;
  noopItemsPerSecond: number;
  weather10ItemsPerSecond: number;
  roundTripMs: { median: number; p90: number } | undefined;
}

async function main(): Promise<void> {
  // The machine may be shared: record how busy it was when the run started.
  const load = loadavg()[0];
  const { port, process: redis } = await startRedis();
  const url = `redis://127.0.0.1:${port}`;
  // What every run must return: nothing for the no-op, the serial loop's values for the weather.
  const noopResults = new Array<undefined>(ITEMS).fill(undefined);
  const weatherResults = range(ITEMS).map(functions.weather10);
  const threadsPerWorker = availableParallelism();
  const rows: Row[] = [];
  try {
    for (const processes of [1, 2]) {
      const workers = await Promise.all(range(processes).map(() => startWorker(url, `bench${processes}`)));
      try {
        await using pool = new Pool({
          backend: { redis: url, queue: `bench${processes}` },
          workers: processes * threadsPerWorker,
        });
        const noop = await throughput(pool, bench.noop, noopResults, 'no-op');
        const weather10 = await throughput(pool, bench.weather10, weatherResults, 'weather-10');
        const trip = await roundTrip(pool);
        rows.push({
          setup: `redis, ${processes} worker process${processes > 1 ? 'es' : ''}`,
          workerProcesses: processes,
          threads: processes * threadsPerWorker,
          noopItemsPerSecond: noop,
          weather10ItemsPerSecond: weather10,
          roundTripMs: trip,
        });
      } finally {
        await Promise.all(workers.map(stop));
      }
    }
    await using local = new Pool({ workers: threadsPerWorker });
    rows.push({
      setup: 'threads (local, reference)',
      workerProcesses: 0,
      threads: threadsPerWorker,
      noopItemsPerSecond: await throughput(local, bench.noop, noopResults, 'no-op'),
      weather10ItemsPerSecond: await throughput(local, bench.weather10, weatherResults, 'weather-10'),
      roundTripMs: undefined,
    });
  } finally {
    await stop(redis);
  }

  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(
    `\n${ITEMS.toLocaleString('en-US')} items per run, best of ${RUNS}; round trip over ${TRIPS} jobs\n`,
  );
  console.log(
    'setup                            threads   no-op items/s   weather-10 items/s   job round trip (median / p90)',
  );
  for (const row of rows) {
    const trip = row.roundTripMs
      ? `${row.roundTripMs.median.toFixed(2)} / ${row.roundTripMs.p90.toFixed(2)} ms`
      : '';
    console.log(
      `${row.setup.padEnd(32)} ${String(row.threads).padStart(7)} ${fmt(row.noopItemsPerSecond).padStart(15)} ` +
        `${fmt(row.weather10ItemsPerSecond).padStart(20)}   ${trip}`,
    );
  }
  const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/redis.json', import.meta.url),
    `${JSON.stringify(
      {
        benchmark: 'redis backend on loopback',
        date: new Date().toISOString(),
        machine: {
          cpus: cpus().length,
          cpu: cpus()[0]?.model,
          node: process.version,
          redis: redisVersion,
          loadAverageAtStart: load,
        },
        items: ITEMS,
        runs: RUNS,
        trips: TRIPS,
        threadsPerWorkerProcess: threadsPerWorker,
        rows,
      },
      null,
      2,
    )}\n`,
  );
  console.log('\nwritten: bench/results/redis.json');
}

await main();
