/**
 * The dashboard on redis: every `fanout worker` writes a heartbeat through Redis, so
 * `fanout dashboard --redis` and a redis pool's dashboard show every worker process with its
 * threads, their batches and totals; a worker's `--metrics-port` serves its own /metrics; a
 * worker that stops leaves the page. Needs redis-server (see redis-harness.ts).
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Pool } from '../src/index.js';
import type { DashboardSnapshot } from '../src/observe/dashboard/types.js';
import tasks from './fixtures/tasks.js';
import { range } from './helpers.js';
import { parsePrometheus, sampleValue } from './prometheus.js';
import { RedisServer, redisTests, stopAll, until, WorkerProcess } from './redis-harness.js';
import { gate } from './requirements.js';

const { after, before, describe, it } = gate(redisTests('test/dashboard.redis.test.ts'));
const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));

/** `fanout dashboard --redis URL ...`, run from source; resolves once it printed its URL. */
async function startDashboard(
  args: string[],
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'dashboard', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  await until(
    async () => {
      if (child.exitCode !== null) assert.fail(`fanout dashboard exited:\n${stderr}`);
      return / at (http:\S+)/.test(stderr);
    },
    'fanout dashboard to print its URL',
    30_000,
  );
  return { child, url: / at (http:\S+)/.exec(stderr)?.[1] as string, stderr: () => stderr };
}

async function state(url: string): Promise<DashboardSnapshot> {
  const response = await fetch(new URL('api/state', url));
  assert.equal(response.status, 200);
  return (await response.json()) as DashboardSnapshot;
}

describe('the dashboard on redis', () => {
  let server: RedisServer;
  let workers: WorkerProcess[] = [];
  let dashboard: { child: ChildProcess; url: string; stderr: () => string } | undefined;
  const queue = 'dash';

  before(async () => {
    server = await RedisServer.start();
    workers = await Promise.all(
      range(2).map(() =>
        WorkerProcess.start(server.url, { queue, workers: 2, flags: ['--metrics-port', '0'] }),
      ),
    );
    dashboard = await startDashboard(['--redis', server.url, '--queue', queue, '--port', '0']);
  });

  after(async () => {
    if (dashboard && dashboard.child.exitCode === null) {
      dashboard.child.kill('SIGKILL');
      await once(dashboard.child, 'exit');
    }
    await stopAll(workers, server);
  });

  it('`fanout dashboard --redis` shows both worker processes and their threads', async () => {
    const url = dashboard?.url as string;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    let s = await state(url);
    await until(async () => {
      s = await state(url);
      return s.processes.length === 2;
    }, 'two worker processes in /api/state');
    assert.equal(s.source.kind, 'redis');
    assert.equal(s.source.queue, `fanout:${queue}`);
    assert.deepEqual(s.processes.map((p) => p.pid).sort(), workers.map((w) => w.pid).sort());
    for (const p of s.processes) {
      assert.deepEqual(p.modules, ['tasks']);
      assert.equal(p.state, 'running');
    }
    assert.deepEqual(s.workers, [], 'their threads start with their first job');
    assert.deepEqual(s.queue && [s.queue.waiting, s.queue.active], [0, 0]);
  });

  it('shows their batches once a redis pool runs a map, as does the pool’s own dashboard', async () => {
    const url = dashboard?.url as string;
    await using pool = new Pool({
      backend: { redis: server.url, queue },
      workers: 4,
      dashboard: { port: 0 },
    });
    const items = range(400);
    assert.deepEqual(
      await pool.map(tasks.slowSquare, items, { batchSize: 10 }),
      items.map((x) => x * x),
    );
    let s = await state(url);
    await until(async () => {
      s = await state(url);
      return s.totals.tasksDone === 400;
    }, 'the heartbeats to count every item');
    assert.equal(s.totals.batches, 40);
    // Which process took how many jobs is BullMQ's choice: at most two threads each started.
    assert.ok(s.workers.length >= 1 && s.workers.length <= 4, `${s.workers.length} threads`);
    for (const w of s.workers) {
      assert.ok(
        workers.some((worker) => worker.pid === w.pid),
        `${w.id} is a thread of a worker process`,
      );
      assert.match(w.label, /^thread \d+$/);
      assert.ok(['idle', 'busy'].includes(w.state), w.state);
    }
    assert.equal(
      s.workers.reduce((sum, w) => sum + w.tasksDone, 0),
      400,
      'every item is counted by the thread that ran it',
    );
    assert.ok(
      s.workers.some((w) => w.batches.length > 0),
      'lanes with bars',
    );
    assert.deepEqual(s.taskNames, ['slowSquare']);
    assert.equal(s.calls.length, 0, '`fanout dashboard` sees no call: calls belong to their pools');

    const own = await state((await pool.dashboard?.url()) as string);
    assert.equal(own.source.backend, 'redis');
    assert.equal(own.processes.length, 2, 'the pool’s dashboard shows the workers too');
    assert.equal(own.workers.length, s.workers.length);
    assert.deepEqual(
      own.calls.map((c) => [c.call, c.task, c.done, c.total]),
      [['pool.map', 'slowSquare', 400, 400]],
    );

    let total = 0;
    for (const worker of workers) {
      const metricsUrl = /metrics at (http:\S+)/.exec(worker.stderr)?.[1];
      assert.ok(metricsUrl, worker.stderr);
      const response = await fetch(metricsUrl);
      assert.equal(response.status, 200);
      const families = parsePrometheus(await response.text());
      assert.equal(sampleValue(families, 'fanout_info', { source: 'worker', backend: 'redis' }), 1);
      total += sampleValue(families, 'fanout_tasks_total', { pid: String(worker.pid) });
      assert.equal((await fetch(new URL('/api/state', metricsUrl))).status, 404, 'metrics only');
    }
    assert.equal(total, 400, "the workers' own counters add up to every item");
    const aggregated = parsePrometheus(await (await fetch(new URL('metrics', url))).text());
    assert.equal(aggregated.get('fanout_tasks_total')?.samples.length, 2, 'one series per worker process');
  });

  it('drops a worker that stops, and stops on SIGTERM', async () => {
    const url = dashboard?.url as string;
    const [leaving] = workers;
    await leaving?.stop();
    let s = await state(url);
    await until(async () => {
      s = await state(url);
      return s.processes.length === 1;
    }, 'the stopped worker to leave the page');
    assert.equal(s.processes[0]?.pid, workers[1]?.pid);
    const child = dashboard?.child as ChildProcess;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
    assert.match(dashboard?.stderr() ?? '', /stopped/);
  });
});
