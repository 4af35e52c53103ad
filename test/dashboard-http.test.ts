/**
 * A pool's dashboard over HTTP: the page, /api/state after real calls, the event stream,
 * /metrics read back by a strict parser; 127.0.0.1 by default; a token on any other address
 * (401 without it, 403 with a wrong one); the port free again once the pool closes; a process
 * that never closes its pool still ends.
 */

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Pool } from '../src/index.js';
import type { DashboardSnapshot } from '../src/observe/dashboard/types.js';
import faults from './fixtures/faults.js';
import tasks from './fixtures/tasks.js';
import { range, rejectsWith, runScript } from './helpers.js';
import { parsePrometheus, sampleValue } from './prometheus.js';

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A request with nothing reused (a fresh connection each time). */
function get(url: string | URL, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function state(url: string): Promise<DashboardSnapshot> {
  const reply = await get(new URL('api/state', url));
  assert.equal(reply.status, 200, reply.body);
  assert.match(String(reply.headers['content-type']), /^application\/json/);
  return JSON.parse(reply.body) as DashboardSnapshot;
}

/** Whether a TCP connection to host:port is refused (nothing listens there). */
async function refused(host: string, port: number): Promise<boolean> {
  const socket = connect({ host, port });
  try {
    await once(socket, 'connect');
    return false;
  } catch (error) {
    return (error as { code?: string }).code === 'ECONNREFUSED';
  } finally {
    socket.destroy();
  }
}

const portOf = (url: string) => Number(new URL(url).port);

describe('a pool dashboard over HTTP', () => {
  const pools: Pool[] = [];
  after(async () => {
    await Promise.all(pools.map((p) => p.terminate()));
  });
  const pool = (options: ConstructorParameters<typeof Pool>[0]) => {
    const p = new Pool(options);
    pools.push(p);
    return p;
  };

  it('serves its state as JSON: workers, their batches, calls and totals after real calls', async () => {
    const p = pool({ workers: 2, dashboard: { port: 0 } });
    const url = (await p.dashboard?.url()) as string;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const before = await state(url);
    assert.equal(before.source.kind, 'pool');
    assert.equal(before.source.backend, 'threads');
    assert.equal(before.workers.length, 0, 'workers start with the first call');
    assert.equal(before.calls.length, 0);
    // Both workers, for a lane each: a small job alone would start only one (see workersThatPay).
    await p.runOnEach(tasks.noop);
    await p.map(tasks.square, range(200), { batchSize: 10 });
    await p.starmap(
      tasks.failOn,
      [
        [1, 3],
        [2, 3],
        [3, 3],
        [4, 3],
      ],
      { errors: 'collect' },
    );
    const s = await state(url);
    assert.equal(s.totals.tasksDone, 206);
    assert.equal(s.totals.batches >= 20, true);
    assert.equal(s.workers.length, 2);
    for (const w of s.workers) {
      assert.equal(w.endedAt, null);
      assert.ok(['idle', 'busy'].includes(w.state), w.state);
      assert.ok(w.batches.length > 0, 'a lane with bars');
      assert.equal(typeof w.heapUsed, 'number');
    }
    assert.deepEqual(
      s.workers.reduce((sum, w) => sum + w.tasksDone, 0),
      206,
    );
    assert.deepEqual(
      s.calls.map((c) => [c.call, c.task, c.state, c.done, c.failed, c.total]),
      [
        ['pool.starmap', 'failOn', 'finished', 4, 1, 4],
        ['pool.map', 'square', 'finished', 200, 0, 200],
        ['pool.runOnEach', 'noop', 'finished', 1, 0, 1],
        ['pool.runOnEach', 'noop', 'finished', 1, 0, 1],
      ],
    );
    assert.deepEqual([...s.taskNames].sort(), ['failOn', 'noop', 'square']);
    assert.equal(
      s.series.items.reduce((a, b) => a + b, 0),
      206,
    );
  });

  it('counts a call started at once, before the dashboard has loaded', async () => {
    const p = pool({ workers: 2, dashboard: { port: 0 } });
    // The dashboard loads asynchronously: this call and its workers' first events come before it.
    const results = await p.map(tasks.square, range(50), { batchSize: 5 });
    assert.equal(results.length, 50);
    const s = await state((await p.dashboard?.url()) as string);
    assert.equal(s.totals.tasksDone, 50);
    // Its workers' starts came before the dashboard loaded too (one or two: a second starts only
    // if the batches outlast a worker's start).
    assert.ok(s.totals.workersStarted >= 1);
    assert.equal(s.totals.workersStarted, s.workers.length);
    assert.deepEqual(
      s.calls.map((c) => [c.call, c.state, c.done, c.total]),
      [['pool.map', 'finished', 50, 50]],
    );
  });

  it('lists failed items and crashed workers with their stacks and codes', async () => {
    const p = pool({ workers: 2, dashboard: { port: 0 } });
    const url = (await p.dashboard?.url()) as string;
    await p.map(tasks.fail, ['broken'], { errors: 'collect' });
    await rejectsWith(p.run(faults.doubleOrDie, -1), 'ERR_WORKER_CRASHED');
    const s = await state(url);
    const [crash, failure] = s.errors;
    assert.equal(crash?.code, 'ERR_WORKER_CRASHED');
    assert.equal(crash?.task, 'doubleOrDie');
    assert.equal(failure?.code, 'E_CUSTOM');
    assert.equal(failure?.name, 'RangeError');
    assert.equal(failure?.message, 'broken');
    assert.match(failure?.stack ?? '', /tasks\.ts/, 'the stack of where the task threw');
    assert.equal(s.totals.crashes, 1);
    assert.equal(s.workers.filter((w) => w.state === 'crashed').length, 1);
    const families = parsePrometheus((await get(new URL('metrics', url))).body);
    assert.equal(sampleValue(families, 'fanout_worker_crashes_total'), 1);
    assert.equal(sampleValue(families, 'fanout_task_failures_total'), 2);
  });

  it('serves the page, an event stream of states, and /metrics in the exposition format', async () => {
    const p = pool({ workers: 1, dashboard: { port: 0 } });
    const url = (await p.dashboard?.url()) as string;
    await p.map(tasks.square, range(10));
    const page = await get(url);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, csp);
    assert.match(csp, /default-src 'none'/);
    assert.ok(page.body.includes(`<script nonce="${nonce}">`), 'the script runs by its nonce');
    assert.doesNotMatch(
      page.body,
      /<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!www\.w3)/,
      'nothing loaded from elsewhere',
    );
    const metrics = await get(new URL('metrics', url));
    assert.equal(metrics.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheus(metrics.body);
    assert.equal(sampleValue(families, 'fanout_tasks_total'), 10);
    assert.equal(sampleValue(families, 'fanout_calls_total'), 1);
    assert.equal(sampleValue(families, 'fanout_calls_running'), 0);
    const event = await new Promise<string>((resolve, reject) => {
      const req = request(new URL('api/events', url), { agent: false }, (response) => {
        assert.equal(response.headers['content-type'], 'text/event-stream; charset=utf-8');
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
          const match = /event: state\ndata: (.*)\n\n/.exec(text);
          if (match) {
            req.destroy();
            resolve(match[1] as string);
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal((JSON.parse(event) as DashboardSnapshot).totals.tasksDone, 10);
    assert.equal((await get(new URL('nothing-here', url))).status, 404);
  });

  it('listens on 127.0.0.1 by default, and answers only requests naming a loopback host', async () => {
    const p = pool({ workers: 1, dashboard: true });
    const url = (await p.dashboard?.url()) as string;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'port 8787, or any free one when it is taken');
    const port = portOf(url);
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (outside) assert.ok(await refused(outside, port), `not reachable on ${outside}`);
    assert.equal((await get(url, { Host: 'localhost' })).status, 200);
    const rebound = await get(new URL('api/state', url), { Host: 'attacker.example' });
    assert.equal(rebound.status, 403, 'a page of another site, its name pointed at 127.0.0.1, is refused');
    assert.equal(rebound.headers['access-control-allow-origin'], undefined);
  });

  it('needs its token on any other address: 401 without, 403 when wrong, on every endpoint', async () => {
    const p = pool({ workers: 1, dashboard: { host: '0.0.0.0', port: 0 } });
    const url = (await p.dashboard?.url()) as string;
    const token = new URL(url).searchParams.get('token') as string;
    assert.ok(token.length >= 16, `a token was generated: ${url}`);
    const base = `http://127.0.0.1:${portOf(url)}/`;
    for (const path of ['', 'api/state', 'api/events', 'metrics']) {
      const bare = await get(new URL(path, base));
      assert.equal(bare.status, 401, path);
      assert.equal(bare.headers['www-authenticate'], 'Bearer realm="fanout"');
      assert.equal((await get(new URL(`${path}?token=not-the-right-token-at-all`, base))).status, 403, path);
      assert.equal(
        (await get(new URL(path, base), { Authorization: 'Bearer wrong-wrong-wrong-wrong' })).status,
        403,
      );
    }
    assert.equal((await get(new URL(`api/state?token=${token}`, base))).status, 200);
    assert.equal((await get(new URL('metrics', base), { Authorization: `Bearer ${token}` })).status, 200);
    const page = await get(url.replace(/\/\/[^/:]+:/, '//127.0.0.1:'));
    assert.equal(page.status, 200, 'the URL printed opens the page');
  });

  it('frees its port when the pool closes, and when it is terminated', async () => {
    const closing = new Pool({ workers: 1, dashboard: { port: 0 } });
    const a = portOf((await closing.dashboard?.url()) as string);
    await closing.map(tasks.square, [1]);
    await closing.close();
    assert.ok(await refused('127.0.0.1', a), 'nothing listens after close()');
    const terminated = new Pool({ workers: 1, dashboard: { port: 0 } });
    const b = portOf((await terminated.dashboard?.url()) as string);
    await terminated.terminate();
    assert.ok(await refused('127.0.0.1', b), 'nothing listens after terminate()');
  });

  it('reports a port it cannot take with ERR_DASHBOARD and a warning, and the pool still works', async () => {
    const taken: Server = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const { port } = taken.address() as { port: number };
    const warned = once(process, 'warning');
    try {
      const p = pool({ workers: 1, dashboard: { port } });
      const error = await rejectsWith(p.dashboard?.url() as Promise<string>, 'ERR_DASHBOARD');
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}: the port is taken`));
      const [warning] = (await warned) as [Error & { code?: string }];
      assert.equal(warning.code, 'FANOUT_DASHBOARD');
      assert.deepEqual(await p.map(tasks.square, [3]), [9]);
    } finally {
      taken.close();
    }
  });

  it('refuses a bad dashboard option before anything starts', () => {
    assert.throws(() => new Pool({ dashboard: { port: 1.5 } }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new Pool({ dashboard: 'on' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new Pool({ dashboard: { colour: 'blue' } as never }), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
  });

  it('never keeps the process alive: a program that does not close its pool ends, a page connected', async () => {
    const script = fileURLToPath(new URL('./fixtures/dashboard-open.ts', import.meta.url));
    const result = await runScript(script, [], 60_000);
    assert.equal(result.timedOut, false, `the program did not end by itself; stderr: ${result.stderr}`);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n'), ['[1,4,9]', 'streamed']);
    assert.match(result.stderr, /fanout: dashboard at http:\/\/127\.0\.0\.1:\d+\//, 'the URL on stderr');
  });
});

describe('`fanout dashboard` and `fanout worker --metrics-*` flags', () => {
  const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', cli, ...args],
        { env: { ...process.env, FANOUT_REDIS_URL: '', FANOUT_DASHBOARD_TOKEN: '', ...env } },
        (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('says in --help that any address but loopback needs a token', async () => {
    for (const command of [['dashboard'], ['worker']]) {
      const help = await run([...command, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /ANY OTHER\s+ADDRESS NEEDS A TOKEN/);
      assert.match(help.stdout, /127\.0\.0\.1/);
    }
  });

  it('refuses bad flags with exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['dashboard'], /--redis URL is required/],
      [['dashboard', '--redis', 'redis://127.0.0.1:1', '--port', 'http'], /--port must be a port number/],
      [['dashboard', '--redis', 'redis://127.0.0.1:1', '--token', 'short'], /--token.*16/],
      [['dashboard', '--redis', 'redis://127.0.0.1:1', '--queue', 'a:b'], /--queue/],
      [
        ['worker', '--redis', 'redis://127.0.0.1:1', '--tasks', cli, '--metrics-host', '0.0.0.0'],
        /need --metrics-port/,
      ],
      [
        ['worker', '--redis', 'redis://127.0.0.1:1', '--tasks', cli, '--metrics-port', '99999'],
        /--metrics-port must be/,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await run(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
  });

  it('prints a URL with a generated token when --host is not loopback, and a taken port is exit code 1', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        cli,
        'dashboard',
        '--redis',
        'redis://127.0.0.1:1',
        '--host',
        '0.0.0.0',
        '--port',
        '0',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FANOUT_DASHBOARD_TOKEN: '' } },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    try {
      while (!/ at (http:\S+)/.test(stderr)) {
        assert.equal(child.exitCode, null, stderr);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const url = new URL(/ at (http:\S+)/.exec(stderr)?.[1] as string);
      const token = url.searchParams.get('token') ?? '';
      assert.ok(token.length >= 16, url.href);
      const local = `http://127.0.0.1:${url.port}/api/state`;
      assert.equal((await get(local)).status, 401);
      const reply = await get(`${local}?token=${token}`);
      assert.equal(reply.status, 200);
      const s = JSON.parse(reply.body) as DashboardSnapshot;
      assert.equal(s.source.kind, 'redis');
      assert.ok(s.source.problem, 'the Redis it cannot reach is reported in the state');
      const taken = await run(
        ['dashboard', '--redis', 'redis://127.0.0.1:1', '--port', url.port, '--host', '0.0.0.0'],
        {
          FANOUT_DASHBOARD_TOKEN: 'a-token-from-the-environment',
        },
      );
      assert.equal(taken.code, 1, taken.stderr);
      assert.match(taken.stderr, /the port is taken/);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    assert.equal(child.exitCode, 0, stderr);
  });
});
