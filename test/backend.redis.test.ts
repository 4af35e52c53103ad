/**
 * The redis backend beyond the conformance suite: its options, what a job may name (task
 * identity and the security boundary), cleanup in Redis, cancellation, credentials and TLS,
 * and the `fanout worker` command line.
 */

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { REDIS_BATCH_LIMITS } from '../src/backends/redis/engine.js';
import { defineTasks, Pool, type PoolOptions } from '../src/index.js';
import { AutoBatchSizer, autoLimits, MIN_BATCH_MS } from '../src/scheduler/batch-size.js';
import tasks from './fixtures/tasks.js';
import { range, rejectsWith } from './helpers.js';
import { fixture, RedisServer, redisTests, stopAll, until, WorkerProcess } from './redis-harness.js';

const closedPort = 'redis://127.0.0.1:1';
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('redis backend: options', () => {
  const bad: [unknown, string, RegExp][] = [
    [{ redis: 42 }, 'ERR_INVALID_ARG_TYPE', /`backend.redis` to be a redis:\/\/ or rediss:\/\/ URL, got 42/],
    [{ redis: 'localhost:6379' }, 'ERR_INVALID_ARG_VALUE', /protocol "localhost:"/],
    [{ redis: 'http://u:hunter2@host' }, 'ERR_INVALID_ARG_VALUE', /protocol "http:"/],
    [{ redis: closedPort, queue: 'a:b' }, 'ERR_INVALID_ARG_VALUE', /`backend.queue` to be .*no colon.*"a:b"/],
    [{ redis: closedPort, prefix: '' }, 'ERR_INVALID_ARG_VALUE', /`backend.prefix`/],
    [{ redis: closedPort, tls: {} }, 'ERR_INVALID_ARG_VALUE', /`backend.tls` applies to rediss:\/\//],
    [{ redis: closedPort, unavailableTimeout: 0 }, 'ERR_INVALID_ARG_VALUE', /`backend.unavailableTimeout`/],
    [{ redis: closedPort, queues: 'x' }, 'ERR_INVALID_ARG_VALUE', /Unknown option `queues`/],
  ];
  for (const [backend, code, pattern] of bad) {
    it(`rejects ${JSON.stringify(backend)}`, () => {
      assert.throws(
        () => new Pool({ backend: backend as PoolOptions['backend'] }),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, code);
          assert.match(error.message, pattern);
          assert.doesNotMatch(error.message, /hunter2/, 'a password never appears in a message');
          return true;
        },
      );
    });
  }

  it('rejects options of local workers, and workers that are not a count', () => {
    assert.throws(
      () => new Pool({ backend: { redis: closedPort }, execArgv: [] }),
      /`execArgv` does not apply/,
    );
    assert.throws(
      () => new Pool({ backend: { redis: closedPort }, concurrency: 2 }),
      /`concurrency` does not/,
    );
    assert.throws(
      () => new Pool({ backend: { redis: closedPort }, workers: 'auto' }),
      /batches the cluster runs/,
    );
    assert.throws(() => new Pool({ backend: { redis: closedPort }, workers: -1 }), /got -1/);
  });

  it('names itself and sizes from `workers` (default 8)', async () => {
    await using a = new Pool({ backend: { redis: closedPort } });
    await using b = new Pool({ backend: { redis: closedPort }, workers: 3 });
    assert.equal(a.backend, 'redis');
    assert.equal(a.workers, 8);
    assert.equal(b.workers, 3);
    assert.equal(a.liveWorkers, 0);
  });

  it('loads BullMQ and ioredis only once a redis pool has work to send', {
    skip: !existsSync(dist) && 'run `npm run build` first',
  }, async () => {
    // Compiled code in a child process: this test process has loaded BullMQ itself.
    const script = `
      import { createRequire } from 'node:module';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /bullmq|ioredis/.test(k)).length;
      const { Pool, defineTasks } = await import(${JSON.stringify(dist)});
      const local = new Pool({ workers: 1 });
      const remote = new Pool({ backend: { redis: 'redis://127.0.0.1:1', unavailableTimeout: 100, checkInterval: 20 } });
      const before = loaded();
      await local.close();
      await remote.run(() => 0).catch(() => {});
      const inline = loaded();
      const tasks = defineTasks('file:///app/tasks.js', { f: () => 0 });
      await remote.run(tasks.f).catch(() => {});
      const working = loaded() > 0;
      await remote.close();
      console.log(JSON.stringify({ before, inline, working }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    // Not even a refused inline function loads them; a task to send does.
    assert.deepEqual(JSON.parse(stdout), { before: 0, inline: 0, working: true });
  });

  it('asks the scheduler for batches of at least 10 ms and at most 32,768 items', () => {
    const limits = autoLimits(REDIS_BATCH_LIMITS);
    assert.equal(limits.minMs, Math.max(MIN_BATCH_MS, 10));
    assert.equal(limits.maxItems, 32_768);
    // Items of no cost: the size doubles up to the cap, and no further.
    const sizer = new AutoBatchSizer(4, limits);
    for (let i = 0; i < 40; i++) sizer.observe(sizer.current, 0.001);
    assert.equal(sizer.current, 32_768);
  });

  it('rejects inline functions before anything is sent (no Redis is even needed)', async () => {
    await using pool = new Pool({ backend: { redis: closedPort } });
    const error = await rejectsWith(
      pool.map((x: number) => x * 2, [1]),
      'ERR_INVALID_ARG_VALUE',
    );
    assert.match(error.message, /Inline functions cannot run on the redis backend .*use defineTasks/);
  });
});

describe('fanout worker: command line', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const worker = WorkerProcess.spawn(args, { FANOUT_REDIS_URL: '', ...env });
    return worker.exited.then((exit) => ({ ...exit, stderr: worker.stderr }));
  };

  it('--help documents every flag', () => {
    const help = spawnSync(
      process.execPath,
      ['--import', 'tsx', new URL('../src/cli/main.ts', import.meta.url).pathname, 'worker', '--help'],
      { encoding: 'utf8' },
    );
    assert.equal(help.status, 0);
    for (const flag of [
      '--redis URL',
      '--tasks FILE',
      '--workers N',
      '--queue NAME',
      '--prefix NAME',
      '--concurrency N',
      '--lock-duration MS',
      '--stalled-interval MS',
      '--max-stalled N',
      '--grace MS',
      '--help',
      'FANOUT_REDIS_URL',
    ]) {
      assert.ok(help.stdout.includes(flag), `--help mentions ${flag}`);
    }
  });

  const tasksFile = fixture('tasks.ts');
  const badFlags: [string[], RegExp][] = [
    [['--tasks', tasksFile], /--redis URL is required/],
    [['--redis', 'redis://localhost'], /at least one --tasks FILE is required/],
    [['--redis', 'redis://localhost', '--tasks', 'nope.js'], /--tasks nope\.js: no such file/],
    [['--redis', 'ftp://localhost', '--tasks', tasksFile], /--redis must be a redis:\/\/ or rediss:\/\/ URL/],
    [['--redis', 'redis://localhost', '--tasks', tasksFile, '--workers', '0'], /Expected `--workers`/],
    [
      ['--redis', 'redis://localhost', '--tasks', tasksFile, '--grace', '0'],
      /--grace must be a positive integer/,
    ],
    [
      ['--redis', 'redis://localhost', '--tasks', tasksFile, '--stalled-interval', '2147483648'],
      /--stalled-interval is 2147483648 ms, past the limit of 2147483647 ms/,
    ],
    [['--redis', 'redis://localhost', '--tasks', tasksFile, '--queue', 'a:b'], /--queue must be/],
    [['--redis', 'redis://localhost', '--tasks', tasksFile, '--nope'], /Unknown option '--nope'/],
  ];
  for (const [args, pattern] of badFlags) {
    it(`exits with code 2 on ${args.slice(-2).join(' ')}`, async () => {
      const { code, stderr } = await run(args);
      assert.equal(code, 2, stderr);
      assert.match(stderr, pattern);
      assert.match(stderr, /Usage: fanout worker/);
    });
  }

  it('exits with code 2 when two task modules have the same file name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-'));
    try {
      const other = join(dir, 'tasks.mjs');
      spawnSync('cp', [fixture('js-tasks.mjs'), other]);
      const { code, stderr } = await run([
        '--redis',
        'redis://localhost',
        '--tasks',
        tasksFile,
        '--tasks',
        other,
      ]);
      assert.equal(code, 2);
      assert.match(stderr, /are both task module "tasks"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('redis backend: jobs', redisTests('test/backend.redis.test.ts'), () => {
  let server: RedisServer;
  let worker: WorkerProcess;
  const pool = (options: PoolOptions = {}, backend: Record<string, unknown> = {}) =>
    new Pool({ backend: { redis: server.url, checkInterval: 100, ...backend }, workers: 2, ...options });
  /** The keys of jobs (not of the queue itself) left in Redis. */
  const jobKeys = async (queue = 'fanout') =>
    ((await server.command('KEYS', `fanout:${queue}:*`)) as string[]).filter((key) =>
      /:[\w-]+-\d+(?::|$)/.test(key.slice(`fanout:${queue}:`.length - 1)),
    );

  before(async () => {
    server = await RedisServer.start();
    worker = await WorkerProcess.start(server.url, { tasks: [fixture('tasks.ts')] });
  });
  after(() => stopAll([worker], server));

  it('names a task module by its file name: any tasks.* of the caller is the worker tasks.ts', async () => {
    await using p = pool();
    const elsewhere = defineTasks('file:///some/other/checkout/dist/tasks.js', { square: (x: number) => x });
    // The caller's local function is never sent: the worker runs its own tasks.ts.
    assert.deepEqual(await p.map(elsewhere.square, [1, 2, 3]), [1, 4, 9]);
  });

  it('refuses two modules with the same file name in one pool', async () => {
    await using p = pool();
    await p.run(tasks.square, 2);
    const twin = defineTasks('file:///elsewhere/tasks.ts', { square: (x: number) => x });
    const error = await rejectsWith(p.run(twin.square, 2), 'ERR_INVALID_ARG_VALUE');
    assert.match(error.message, /both named "tasks"/);
  });

  it('a module the workers were not started with is ERR_TASK_NOT_FOUND, naming what they run', async () => {
    await using p = pool();
    const other = defineTasks('file:///srv/app/other.ts', { f: (x: number) => x });
    const error = await rejectsWith(p.run(other.f, 1), 'ERR_TASK_NOT_FOUND');
    assert.match(error.message, /No task module for task "other#f" on this worker: it runs only .*\(tasks\)/);
  });

  it('a job naming a path, or malformed, fails as unrecoverable; the worker runs nothing of it', async () => {
    const queue = new Queue('fanout', {
      connection: { host: '127.0.0.1', port: server.port },
      prefix: 'fanout',
    });
    try {
      const p = Buffer.from('not v8').toString('base64');
      const evil = [
        { task: '../../../tmp/evil#run', v: 1, n: 1, p },
        { task: '/tmp/evil.js#run', v: 1, n: 1, p },
        { task: 'file:///tmp/evil.js#run', v: 1, n: 1, p },
        { task: 'tasks#square', v: 2, n: 1, p },
        { task: 'tasks#square', v: 1, n: 1, p },
        { source: 'process.exit(1)' },
      ];
      const jobs = await Promise.all(evil.map((data, i) => queue.add(`evil${i}`, data)));
      for (const job of jobs) {
        const id = job.id as string;
        await until(async () => (await queue.getJobState(id)) === 'failed', `job ${id} to fail`);
        const failed = await queue.getJob(job.id as string);
        assert.match(failed?.failedReason ?? '', /^ERR_TASK_NOT_FOUND: /);
        assert.equal(failed?.attemptsMade, 1, 'not retried');
      }
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
    }
    // The worker is still there and serving.
    await using p = pool();
    assert.equal(await p.run(tasks.square, 5), 25);
  });

  it('enforces `timeout` on the worker: ERR_TASK_TIMEOUT, and the worker goes on', async () => {
    await using p = pool({ timeout: 300 });
    const error = await rejectsWith(p.run(tasks.busy, 20_000), 'ERR_TASK_TIMEOUT');
    assert.match(error.message, /Task "busy" on item 0 ran longer than 300 ms/);
    assert.equal(error.index, 0);
    assert.equal(await p.run(tasks.square, 6), 36);
  });

  it('removes every job once its result is delivered', async () => {
    await using p = pool();
    const results = await p.map(tasks.square, range(3000));
    assert.equal(results.length, 3000);
    await rejectsWith(p.run(tasks.fail, 'x'), 'ERR_TASK_FAILED');
    // Removal follows delivery by a round trip.
    await until(async () => (await jobKeys()).length === 0, 'delivered jobs to be removed');
    assert.equal(await server.command('ZCARD', 'fanout:fanout:completed'), 0);
  });

  it('cancelling a queued task removes its job from Redis', async () => {
    // A queue no worker serves: the job waits until cancelled.
    await using p = pool({}, { queue: 'nobody' });
    const future = p.run(tasks.square, 3);
    const waiting = async () => Number(await server.command('LLEN', 'fanout:nobody:wait'));
    await until(async () => (await waiting()) === 1, 'the job to be queued');
    assert.equal(future.cancel(), true);
    await rejectsWith(future, 'ABORT_ERR');
    await until(
      async () => (await waiting()) === 0 && (await jobKeys('nobody')).length === 0,
      'the job to go',
    );
  });

  it('delivers results by checking job ids when events are missed (here: the caller may not read them)', async () => {
    // An ACL user without XREAD: the caller's event stream never works, only the check does.
    await server.command('ACL', 'SETUSER', 'noevents', 'on', '>pw', '~*', '&*', '+@all', '-xread');
    await using p = new Pool({
      backend: { redis: `redis://noevents:pw@127.0.0.1:${server.port}`, checkInterval: 100 },
      workers: 2,
    });
    assert.deepEqual(
      await p.map(tasks.square, range(200)),
      range(200).map((x) => x * x),
    );
    assert.equal(await p.run(tasks.add, 1, 2), 3);
  });

  it('works with an ACL user and password; a wrong password is ERR_BACKEND_UNAVAILABLE naming why', async () => {
    await server.command(
      'ACL',
      'SETUSER',
      'fanout',
      'on',
      '>s3cret',
      '~fanout:*',
      '&*',
      '+@all',
      '-@dangerous',
      '+info',
    );
    const url = `redis://fanout:s3cret@127.0.0.1:${server.port}`;
    const own = await WorkerProcess.start(url, { queue: 'acl' });
    try {
      await using p = new Pool({ backend: { redis: url, queue: 'acl' }, workers: 2 });
      assert.deepEqual(await p.map(tasks.square, [1, 2, 3]), [1, 4, 9]);
      await using wrong = new Pool({
        backend: {
          redis: `redis://fanout:nope@127.0.0.1:${server.port}`,
          queue: 'acl',
          unavailableTimeout: 500,
        },
      });
      const error = await rejectsWith(wrong.run(tasks.square, 2), 'ERR_BACKEND_UNAVAILABLE');
      assert.match(error.message, /WRONGPASS/);
      assert.doesNotMatch(error.message, /nope/);
    } finally {
      await own.stop();
    }
  });
});

const openssl = spawnSync('openssl', ['version']).status === 0;

describe('redis backend: TLS', redisTests('test/backend.redis.test.ts'), () => {
  let dir: string;
  let server: RedisServer;
  let worker: WorkerProcess;
  const skip = !openssl && 'openssl is not installed (it makes the test certificates)';

  before(async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), 'fanout-tls-'));
    const sh = promisify(execFile);
    await sh('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=fanout test CA',
      '-keyout',
      join(dir, 'ca.key'),
      '-out',
      join(dir, 'ca.crt'),
    ]);
    await sh('openssl', [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      join(dir, 'redis.key'),
      '-out',
      join(dir, 'redis.csr'),
    ]);
    await sh('openssl', [
      'x509',
      '-req',
      '-in',
      join(dir, 'redis.csr'),
      '-CA',
      join(dir, 'ca.crt'),
      '-CAkey',
      join(dir, 'ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-copy_extensions',
      'copy',
      '-out',
      join(dir, 'redis.crt'),
    ]);
    server = await RedisServer.start({
      tls: { cert: join(dir, 'redis.crt'), key: join(dir, 'redis.key'), ca: join(dir, 'ca.crt') },
    });
    worker = await WorkerProcess.start(server.tlsUrl, { env: { NODE_EXTRA_CA_CERTS: join(dir, 'ca.crt') } });
  });
  after(async () => {
    if (skip) return;
    await stopAll([worker], server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs over rediss:// with a private CA (worker: NODE_EXTRA_CA_CERTS, caller: `tls.ca`)', {
    skip,
  }, async () => {
    await using p = new Pool({
      backend: { redis: server.tlsUrl, tls: { ca: readFileSync(join(dir, 'ca.crt')) } },
      workers: 2,
    });
    assert.deepEqual(await p.map(tasks.square, [1, 2, 3]), [1, 4, 9]);
  });

  it('refuses a server it cannot verify: ERR_BACKEND_UNAVAILABLE', { skip }, async () => {
    await using p = new Pool({ backend: { redis: server.tlsUrl, unavailableTimeout: 500 } });
    const error = await rejectsWith(p.run(tasks.square, 2), 'ERR_BACKEND_UNAVAILABLE');
    assert.match(error.message, /certificate/i);
  });
});
