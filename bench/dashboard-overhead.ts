/**
 * What a dashboard costs a pool: `noop-auto` (2,000,000 no-op items, automatic batching) on a
 * plain pool and on a pool with `dashboard: true`, both in this process, run alternately, the
 * medians compared. With `--viewer`, a page's event stream is connected to the dashboard (from
 * another process, as a browser would be) while it runs. `--control` gives the second pool no
 * dashboard either: what the same comparison shows between two identical pools, the noise floor.
 * Every run's results are checked.
 *
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/dashboard-overhead.js [--rounds 9] [--viewer | --control]
 */

import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Pool } from '../src/index.js';
import { WorkerCollector } from '../src/observe/dashboard/workers.js';
import type { BatchRequest } from '../src/scheduler/backend.js';
import tasks from './workers/fanout-tasks.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string' },
    items: { type: 'string' },
    workers: { type: 'string' },
    viewer: { type: 'boolean' },
    control: { type: 'boolean' },
  },
});
const rounds = Number(values.rounds ?? 9);
const count = Number(values.items ?? 2_000_000);
const workers = values.workers === undefined ? undefined : Number(values.workers);
const items = Array.from({ length: count }, (_, i) => i);

async function timed(pool: Pool): Promise<number> {
  const start = performance.now();
  const results = await pool.map(tasks.noop, items);
  const seconds = (performance.now() - start) / 1000;
  if (results.length !== count) throw new Error(`${results.length} results for ${count} items`);
  for (let i = 0; i < count; i++) if (results[i] !== i) throw new Error(`result ${i} is ${results[i]}`);
  return seconds;
}

/** Microseconds of the main thread the collector takes per batch (its two events), in a loop of 1,000,000. */
function collectorCost(): number {
  const collector = new WorkerCollector();
  collector.started(0, 'thread 1');
  const request = { taskName: 'noop', first: 0 } as BatchRequest;
  const n = 1_000_000;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    collector.running(0, request);
    collector.settled(0, request, {
      kind: 'done',
      values: [],
      ran: 10_000,
      failures: undefined,
      worker: 0,
      startedAt: 1.8e12 + i,
      duration: 1,
    });
  }
  return ((performance.now() - start) * 1000) / n;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

const plain = new Pool({ workers });
const watched = new Pool({ workers, dashboard: values.control ? false : { port: 0 } });
const url = values.control ? undefined : ((await watched.dashboard?.url()) as string);
// A page's event stream, in a process of its own: it reads every state the dashboard pushes.
const viewer =
  values.viewer && url
    ? spawn(
        process.execPath,
        [
          '-e',
          `const http = require('node:http'); let n = 0;
         http.get(process.argv[1], (r) => r.on('data', (c) => { n += String(c).split('event: state').length - 1; }));
         process.on('SIGTERM', () => { console.log(n); process.exit(0); });`,
          new URL('api/events', url).href,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      )
    : undefined;
try {
  // Warm both: workers started, the task module loaded, the code optimised.
  for (const pool of [plain, watched])
    for (let i = 0; i < 3; i++) await pool.map(tasks.noop, items.slice(0, 20_000));
  const times = { plain: [] as number[], dashboard: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first, so neither always runs right after the other.
    const order = round % 2 ? (['dashboard', 'plain'] as const) : (['plain', 'dashboard'] as const);
    for (const which of order) times[which].push(await timed(which === 'plain' ? plain : watched));
  }
  const p = median(times.plain);
  const d = median(times.dashboard);
  const rate = (s: number) => Math.round(count / s).toLocaleString('en-US');
  console.log(
    `noop-auto, ${count.toLocaleString('en-US')} items, ${plain.workers} workers, ${rounds} alternating rounds${values.viewer ? ', a page connected to the dashboard' : ''}`,
  );
  console.log(
    `plain pool      median ${p.toFixed(4)} s  ${rate(p)} items/s  runs ${times.plain.map((t) => t.toFixed(3)).join(' ')}`,
  );
  console.log(
    `dashboard pool  median ${d.toFixed(4)} s  ${rate(d)} items/s  runs ${times.dashboard.map((t) => t.toFixed(3)).join(' ')}`,
  );
  console.log(
    `dashboard ÷ plain (time): ${(d / p).toFixed(3)}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  if (values.control) console.log('(control: the second pool has no dashboard either)');
  if (url) {
    const state = (await (await fetch(new URL('api/state', url))).json()) as { totals: { batches: number } };
    const calls = 3 + rounds;
    const perBatch = collectorCost();
    console.log(
      `the dashboard saw ${state.totals.batches} batches in ${calls} calls (~${Math.round(state.totals.batches / calls)} a call); ` +
        `its collector takes ${perBatch.toFixed(2)} µs of the main thread per batch (${((perBatch * state.totals.batches) / calls / 1000).toFixed(3)} ms a call)`,
    );
  }
} finally {
  if (viewer) {
    viewer.kill('SIGTERM');
    const states = await new Promise<string>((resolve) => {
      let out = '';
      viewer.stdout?.on('data', (c) => (out += c));
      viewer.on('exit', () => resolve(out.trim()));
    });
    console.log(`the page received ${states} states`);
  }
  await plain.close();
  await watched.close();
}
