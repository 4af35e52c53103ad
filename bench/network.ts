/**
 * `npm run bench:network`: what a network between the caller and Redis costs the redis backend,
 * and how much of it batching hides.
 *
 * On loopback, with a delaying TCP proxy (test/delay-proxy.ts: each chunk held RTT/2 ms each way,
 * in order) standing in for the network. One `fanout worker` process (a thread per core) serves
 * the queue. Rows, in the order measured:
 * - loopback: caller, Redis and worker connected directly (the reference);
 * - through the proxy at 0 ms: what the proxy itself costs;
 * - caller at RTT from Redis (the worker next to Redis: a laptop driving a cluster);
 * - caller and worker each at RTT from Redis (Redis on a machine of its own).
 * For each, items/s of `pool.map(next, range(N))` (best of --runs calls): with `batchSize: 1` (a
 * job per item: no batching); with automatic batching, for a small call and a large one (on a
 * network a call pays a fixed cost, as its batch size grows from 1 item and its last batches
 * shrink, which a large call spreads over more items); and the small call with a fixed
 * `batchSize` (no growing, no shrinking). Then the round trip of one job (`pool.run`, one at a
 * time on an idle cluster: median and p90). Every result is checked, element by element. The
 * pool's `workers` is the worker's threads, as the README advises. Prints a table and writes
 * bench/results/network.json.
 *
 * Options: --rtt MS (default 20), --small N (default 20,000), --items N (the large call, default
 * 1,000,000), --batch N (the fixed batchSize, default 5,000), --runs N (default 3), --unbatched N
 * (items of the batchSize 1 calls, default 400), --trips N (default 50).
 */

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { Pool } from '../src/index.js';
import { type DelayProxy, startDelayProxy } from '../test/delay-proxy.js';
import { numberOption, parseArgs } from './args.js';
import { startRedis, startWorker, stop } from './processes.js';
import bench from './redis-tasks.js';

const options = parseArgs(process.argv.slice(2));
const RTT = options.get('rtt') === '0' ? 0 : numberOption(options, 'rtt', 20);
const SMALL = numberOption(options, 'small', 20_000);
const ITEMS = numberOption(options, 'items', 1_000_000);
const RUNS = numberOption(options, 'runs', 3);
const BATCH = numberOption(options, 'batch', 5000);
const UNBATCHED = numberOption(options, 'unbatched', 400);
const TRIPS = numberOption(options, 'trips', 50);

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** `pool.map(next, range(n))`, checked element by element; its items per second. */
async function timedMap(pool: Pool, n: number, batchSize?: number): Promise<number> {
  const items = range(n);
  const t0 = performance.now();
  const results = await pool.map(bench.next, items, batchSize === undefined ? {} : { batchSize });
  const seconds = (performance.now() - t0) / 1000;
  if (results.length !== n) throw new Error(`${results.length} results for ${n} items`);
  results.forEach((value, i) => {
    if (value !== i + 1) throw new Error(`result ${i} is ${value}, not ${i + 1}`);
  });
  return n / seconds;
}

/** One job at a time: median and 90th percentile of submit → result, in ms. */
async function roundTrip(pool: Pool): Promise<{ median: number; p90: number }> {
  for (let i = 0; i < 5; i++) await pool.run(bench.next, i);
  const times: number[] = [];
  for (let i = 0; i < TRIPS; i++) {
    const t0 = performance.now();
    const value = await pool.run(bench.next, i);
    times.push(performance.now() - t0);
    if (value !== i + 1) throw new Error(`round trip ${i} returned ${value}`);
  }
  times.sort((a, b) => a - b);
  return {
    median: times[Math.floor(times.length / 2)] as number,
    p90: times[Math.floor(times.length * 0.9)] as number,
  };
}

interface Row {
  setup: string;
  /** Round trip the proxy adds between the caller and Redis, and between the worker and Redis (ms). */
  callerRttMs: number | null;
  workerRttMs: number | null;
  /** items/s of calls of UNBATCHED items with batchSize 1. */
  unbatchedItemsPerSecond: number;
  /** Automatic batching: items/s of a call of SMALL items, and of one of ITEMS items. */
  smallCallItemsPerSecond: number;
  largeCallItemsPerSecond: number;
  /** items/s of a call of SMALL items with batchSize BATCH. */
  smallCallFixedBatchItemsPerSecond: number;
  roundTripMs: { median: number; p90: number };
}

async function measure(
  setup: string,
  url: string,
  queue: string,
  threads: number,
  rtt: Pick<Row, 'callerRttMs' | 'workerRttMs'>,
): Promise<Row> {
  await using pool = new Pool({ backend: { redis: url, queue }, workers: threads });
  await timedMap(pool, 20_000); // warm: connections, JIT
  const best = async (n: number, batchSize?: number) => {
    let fastest = 0;
    for (let run = 0; run < RUNS; run++) fastest = Math.max(fastest, await timedMap(pool, n, batchSize));
    return fastest;
  };
  const unbatched = await best(UNBATCHED, 1);
  const small = await best(SMALL);
  const large = await best(ITEMS);
  const fixed = await best(SMALL, BATCH);
  const trip = await roundTrip(pool);
  const row: Row = {
    setup,
    ...rtt,
    unbatchedItemsPerSecond: unbatched,
    smallCallItemsPerSecond: small,
    largeCallItemsPerSecond: large,
    smallCallFixedBatchItemsPerSecond: fixed,
    roundTripMs: trip,
  };
  process.stderr.write(`measured: ${setup}\n`);
  return row;
}

async function main(): Promise<void> {
  const load = loadavg()[0];
  const threads = availableParallelism();
  const { port, process: redis } = await startRedis();
  const direct = `redis://127.0.0.1:${port}`;
  const proxies: DelayProxy[] = [];
  const proxied = async (rtt: number) => {
    const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port }, delayMs: rtt / 2 });
    proxies.push(proxy);
    return `redis://${proxy.host}:${proxy.port}`;
  };
  const rows: Row[] = [];
  try {
    // The worker next to Redis: the caller reaches Redis directly, then through the proxy.
    const near = await startWorker(direct, 'network-near');
    try {
      rows.push(
        await measure('loopback', direct, 'network-near', threads, { callerRttMs: 0, workerRttMs: 0 }),
      );
      rows.push(
        await measure('proxy at 0 ms (its own cost)', await proxied(0), 'network-near', threads, {
          callerRttMs: 0,
          workerRttMs: 0,
        }),
      );
      rows.push(
        await measure(`caller ${RTT} ms RTT from Redis`, await proxied(RTT), 'network-near', threads, {
          callerRttMs: RTT,
          workerRttMs: 0,
        }),
      );
    } finally {
      await stop(near);
    }
    // Redis on a machine of its own: the worker too is RTT away.
    const far = await proxied(RTT);
    const worker = await startWorker(far, 'network-far');
    try {
      rows.push(
        await measure(`caller and worker ${RTT} ms RTT from Redis`, far, 'network-far', threads, {
          callerRttMs: RTT,
          workerRttMs: RTT,
        }),
      );
    } finally {
      await stop(worker);
    }
  } finally {
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await stop(redis);
  }

  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const n = (count: number) => count.toLocaleString('en-US');
  console.log(
    `\nno-op items through pool.map, best of ${RUNS} calls (batchSize 1: of ${n(UNBATCHED)} items); ` +
      `${TRIPS} round trips; 1 worker process, ${threads} threads, pool workers: ${threads}\n`,
  );
  const columns = [
    'batchSize 1',
    `${n(SMALL)} items, auto`,
    `${n(ITEMS)} items, auto`,
    `${n(SMALL)}, batchSize ${n(BATCH)}`,
  ];
  console.log(
    `${'setup (items/s)'.padEnd(40)} ${columns.map((c) => c.padStart(24)).join(' ')}   job round trip (median / p90)`,
  );
  for (const row of rows) {
    const trip = `${row.roundTripMs.median.toFixed(2)} / ${row.roundTripMs.p90.toFixed(2)} ms`;
    const cells = [
      row.unbatchedItemsPerSecond,
      row.smallCallItemsPerSecond,
      row.largeCallItemsPerSecond,
      row.smallCallFixedBatchItemsPerSecond,
    ];
    console.log(`${row.setup.padEnd(40)} ${cells.map((c) => fmt(c).padStart(24)).join(' ')}   ${trip}`);
  }
  const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/network.json', import.meta.url),
    `${JSON.stringify(
      {
        benchmark: 'redis backend across a simulated network (delaying proxy on loopback)',
        date: new Date().toISOString(),
        machine: {
          cpus: cpus().length,
          cpu: cpus()[0]?.model,
          node: process.version,
          redis: redisVersion,
          loadAverageAtStart: load,
        },
        rttMs: RTT,
        smallCallItems: SMALL,
        largeCallItems: ITEMS,
        fixedBatchSize: BATCH,
        runs: RUNS,
        unbatchedItems: UNBATCHED,
        trips: TRIPS,
        workerThreads: threads,
        rows,
      },
      null,
      2,
    )}\n`,
  );
  console.log('\nwritten: bench/results/network.json');
}

await main();
