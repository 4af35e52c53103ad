/**
 * The `actor-call` row: the round trip of an actor method call (`await counter.echo(i)`) against
 * the round trip of `await pool.run(tasks.echo, i)` on the same pool, in the same run. Rounds of
 * each alternate, so both see the same machine load; each figure is the median over rounds of
 * a round's mean round trip. Target: the actor call no slower than `pool.run`.
 *
 *   npm run bench:actors                       # threads and processes; writes bench/results/actors.json
 *   npm run bench:actors -- --rounds 5 --calls 200 --backends threads
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Pool } from '../src/index.js';
import { actors, tasks } from './actor-tasks.js';
import { machineDescription } from './record.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    calls: { type: 'string', default: '500' },
    backends: { type: 'string', default: 'threads,processes' },
  },
});
const rounds = Number(values.rounds);
const calls = Number(values.calls);
const backendNames = (values.backends ?? '').split(',') as ('threads' | 'processes' | 'inline')[];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Mean round trip of `calls` awaited one after another, in µs. */
async function round(call: (i: number) => Promise<number>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < calls; i++) {
    if ((await call(i)) !== i) throw new Error(`wrong result for ${i}`);
  }
  return ((performance.now() - start) * 1000) / calls;
}

const rows: Record<string, unknown>[] = [];
for (const backend of backendNames) {
  await using pool = backend === 'inline' ? new Pool({ backend }) : new Pool({ backend, workers: 2 });
  await using echo = await pool.actor(actors.Echo);
  // Warm-up: workers started, modules loaded, code optimised.
  await round((i) => echo.echo(i));
  await round((i) => pool.run(tasks.echo, i));
  const actor: number[] = [];
  const run: number[] = [];
  for (let r = 0; r < rounds; r++) {
    actor.push(await round((i) => echo.echo(i)));
    run.push(await round((i) => pool.run(tasks.echo, i)));
  }
  const row = {
    row: 'actor-call',
    backend,
    rounds,
    calls,
    actorCallUs: Number(median(actor).toFixed(1)),
    poolRunUs: Number(median(run).toFixed(1)),
    ratio: Number((median(actor) / median(run)).toFixed(3)),
  };
  rows.push(row);
  console.log(
    `actor-call  ${backend.padEnd(9)}  actor ${row.actorCallUs.toFixed(1).padStart(7)} µs   pool.run ${row.poolRunUs.toFixed(1).padStart(7)} µs   actor/run ${row.ratio.toFixed(2)}×`,
  );
}
mkdirSync(new URL('results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('results/actors.json', import.meta.url),
  `${JSON.stringify({ machine: machineDescription(), rows }, null, 2)}\n`,
);
