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
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { serialize } from 'node:v8';
import { Queue } from 'bullmq';
import { defineTasks, Memory, Pool, type PoolOptions, WrapperNotAllowedError } from '../src/index.js';
import { redactUrl } from '../src/options/checks.js';
import { REDIS_BATCH_LIMITS } from '../src/redis/capabilities.js';
import { MAX_JOB_ITEMS, MAX_SPREAD_ARGS } from '../src/redis/codec.js';
import { exposureWarning } from '../src/redis/url.js';
import { AutoBatchSizer, autoLimits, MIN_BATCH_MS } from '../src/scheduler/batch-size.js';
import memoryTasks from './fixtures/memory-tasks.js';
import tasks, { overlapTasks } from './fixtures/tasks.js';
import { range, rejectsWith } from './helpers.js';
import { fixture, RedisServer, redisTests, stopAll, until, WorkerProcess } from './redis-harness.js';
import { gate, requirement } from './requirements.js';

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
      const remote = new Pool({ backend: { redis: 'redis://127.0.0.1:1', unavailableTimeout: 1, checkInterval: 1 } });
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

  it('refuses, before sending, a batch a worker would refuse: too many items, too many spread arguments', async () => {
    await using pool = new Pool({
      backend: { redis: closedPort, unavailableTimeout: 500 },
      batchSize: MAX_JOB_ITEMS + 1,
    });
    const error = await rejectsWith(
      pool.map(tasks.square, range(MAX_JOB_ITEMS + 1)),
      'ERR_INVALID_ARG_VALUE',
    );
    assert.match(
      error.message,
      /Cannot send a batch of 1048577 items to the redis workers: .*more than the 1048576 items a job may hold/,
    );
    const args = new Array(MAX_SPREAD_ARGS + 1).fill(1);
    const spread = await rejectsWith(
      pool.starmap(tasks.add, [args as [number, number]]),
      'ERR_INVALID_ARG_VALUE',
    );
    assert.match(spread.message, /item 0 is spread into 65537 arguments, more than the 65536 allowed/);
  });

  it('warns of a plaintext, password-less Redis on another machine; not of loopback, TLS or a password', () => {
    const exposed = [
      'redis://10.0.0.5:6379',
      'redis://redis.internal',
      'redis://user@redis.internal:6379/0',
      'redis://[2001:db8::1]:6379',
      'redis://127.example.com:6379',
    ];
    for (const url of exposed) {
      const warning = exposureWarning(url);
      assert.match(
        warning ?? '',
        /is reached in plaintext \(redis:\/\/\) with no password\. Anyone who can reach that address/,
        url,
      );
      assert.match(warning ?? '', /run any task of their modules on arguments of their choosing/, url);
      assert.match(
        warning ?? '',
        /TLS and a password or ACL user \(rediss:\/\/user:password@host:port\)/,
        url,
      );
    }
    const safe = [
      'redis://127.0.0.1:6379',
      'redis://127.3.2.1:6379',
      'redis://localhost:6379',
      'redis://LOCALHOST:6379',
      'redis://[::1]:6379',
      'redis://[::ffff:127.0.0.1]:6379',
      'redis://:s3cret@10.0.0.5:6379',
      'redis://fanout:s3cret@redis.internal:6379',
      'redis://redis.internal:6379?password=s3cret',
      'rediss://redis.internal:6380',
    ];
    for (const url of safe) assert.equal(exposureWarning(url), undefined, url);
  });

  it('hides a password given as ?password= too', () => {
    assert.equal(redactUrl('redis://h:1/?password=hunter2'), 'redis://h:1/?password=***');
    assert.equal(redactUrl('redis://u:hunter2@h:1'), 'redis://u:***@h:1');
  });

  it('a pool warns once per server, as a FanoutSecurityWarning, when it connects to an exposed Redis', async () => {
    const warnings: (Error & { code?: string })[] = [];
    const listen = (warning: Error & { code?: string }) => {
      if (warning.name === 'FanoutSecurityWarning') warnings.push(warning);
    };
    process.on('warning', listen);
    try {
      // `.invalid` never resolves (RFC 2606): nothing is reached, nothing is bound.
      for (let i = 0; i < 2; i++) {
        await using pool = new Pool({
          backend: { redis: 'redis://fanout-test.invalid:6379', unavailableTimeout: 300 },
        });
        await rejectsWith(pool.run(tasks.square, 2), 'ERR_BACKEND_UNAVAILABLE');
      }
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      assert.equal(warnings.length, 1, 'once per server and process');
      assert.equal(warnings[0]?.code, 'FANOUT_REDIS_EXPOSED');
      assert.match(warnings[0]?.message ?? '', /redis:\/\/fanout-test\.invalid:6379 is reached in plaintext/);
    } finally {
      process.off('warning', listen);
    }
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
      '--concurrent-tasks-per-worker N',
      '--lock-duration MS',
      '--stalled-interval MS',
      '--max-stalled N',
      '--grace MS',
      '--allow cache|files',
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
    [
      ['--redis', 'redis://localhost', '--tasks', tasksFile, '--concurrent-tasks-per-worker', '0'],
      /--concurrent-tasks-per-worker must be a positive integer/,
    ],
    [['--redis', 'redis://localhost', '--tasks', tasksFile, '--nope'], /unknown flag --nope$/m],
    [
      ['--redis', 'redis://localhost', '--tasks', tasksFile, '--wrokers', '2'],
      /unknown flag --wrokers: did you mean --workers\?/,
    ],
    [
      ['--redis', 'redis://localhost', '--tasks', tasksFile, '--allow', 'tasks'],
      /--allow must be one of cache, files, got "tasks"/,
    ],
  ];
  for (const [args, pattern] of badFlags) {
    it(`exits with code 2 on ${args.slice(-2).join(' ')}`, async () => {
      const { code, stderr } = await run(args);
      assert.equal(code, 2, stderr);
      assert.match(stderr, pattern);
      assert.match(stderr, /Usage: fanout worker/);
    });
  }

  it('a --tasks module that does not load is named, with its line, before the worker connects; the worker goes on', async () => {
    // `.invalid` never resolves (RFC 2606): the worker keeps trying to connect, nothing is bound.
    const worker = WorkerProcess.spawn([
      '--redis',
      'redis://fanout-test.invalid:6379',
      '--tasks',
      fixture('broken/bad-syntax.mjs'),
      '--tasks',
      tasksFile,
    ]);
    try {
      await worker.waitFor(/redis: /);
      const [warning, ...more] = worker.stderr.match(/^.*cannot load task module.*$/gm) ?? [];
      assert.equal(more.length, 0, worker.stderr);
      assert.match(
        warning as string,
        /^fanout worker \d+: warning: cannot load task module .*bad-syntax\.mjs \(line 2, column \d+\): SyntaxError: .*; its jobs will fail with ERR_TASK_MODULE_LOAD$/,
      );
      assert.doesNotMatch(worker.stderr, /Usage/);
    } finally {
      worker.kill('SIGTERM');
      await worker.exited;
    }
  });

  it('warns once, on stderr, when its Redis is plaintext and password-less on another machine', async () => {
    // `.invalid` never resolves (RFC 2606): the worker keeps trying to connect, nothing is bound.
    const exposed = WorkerProcess.spawn([
      '--redis',
      'redis://fanout-test.invalid:6379',
      '--tasks',
      tasksFile,
    ]);
    const guarded = WorkerProcess.spawn(['--tasks', tasksFile], {
      FANOUT_REDIS_URL: 'redis://:s3cret@fanout-test.invalid:6379',
    });
    try {
      // Its first connection error is logged after the warning; the warning is not repeated.
      await exposed.waitFor(/redis: /);
      const warnings = exposed.stderr.match(/WARNING: .*/g) ?? [];
      assert.equal(warnings.length, 1, exposed.stderr);
      assert.match(
        warnings[0] as string,
        /WARNING: Redis at redis:\/\/fanout-test\.invalid:6379 is reached in plaintext \(redis:\/\/\) with no password\. Anyone who can reach that address can queue jobs that make the workers run any task/,
      );
      assert.match(warnings[0] as string, /rediss:\/\/user:password@host:port/);
      await guarded.waitFor(/redis: /);
      assert.doesNotMatch(guarded.stderr, /WARNING/);
      assert.doesNotMatch(guarded.stderr, /s3cret/);
    } finally {
      exposed.kill('SIGTERM');
      guarded.kill('SIGTERM');
      await Promise.all([exposed.exited, guarded.exited]);
    }
  });

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

/** The tests below need a redis-server of their own; without one they are registered as skipped. */
const redisSkip = redisTests('test/backend.redis.test.ts');
const redis = gate(redisSkip);

redis.describe('redis backend: jobs', () => {
  const { it, before, after } = redis;
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

  it('--concurrent-tasks-per-worker caps the async items each worker thread holds in flight', async () => {
    const capped = await WorkerProcess.start(server.url, {
      tasks: [fixture('tasks.ts')],
      workers: 1,
      flags: ['--queue', 'slots', '--concurrent-tasks-per-worker', '2'],
    });
    try {
      await using p = pool({}, { queue: 'slots' });
      // One batch of six 20 ms awaits on one thread: two at a time (the default would hold all six).
      const peaks = await p.map(overlapTasks.peakInFlight, [20, 20, 20, 20, 20, 20], { batchSize: 6 });
      assert.equal(Math.max(...peaks), 2);
    } finally {
      await stopAll([capped], undefined);
    }
  });

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

  /** Put jobs straight on a queue (as anyone who can write to Redis can); resolves to how each one ended. */
  const craft = async (datas: readonly unknown[], name = 'fanout'): Promise<string[]> => {
    const queue = new Queue(name, { connection: { host: '127.0.0.1', port: server.port }, prefix: 'fanout' });
    try {
      const jobs = await Promise.all(datas.map((data, i) => queue.add(`crafted${i}`, data)));
      const endings: string[] = [];
      for (const job of jobs) {
        const id = job.id as string;
        const ended = async () => ['failed', 'completed'].includes(await queue.getJobState(id));
        await until(ended, `job ${id} to end`);
        const done = await queue.getJob(id);
        assert.equal(done?.attemptsMade, 1, 'a refused job is not retried');
        endings.push(
          done?.failedReason || `completed (not refused): ${String(done?.returnvalue).slice(0, 80)}`,
        );
      }
      await queue.obliterate({ force: true });
      return endings;
    } finally {
      await queue.close();
    }
  };
  /** A job's base64 payload: a good batch of one item, with `over` in place. */
  const payload = (over: Record<string, unknown> = {}) =>
    serialize({
      items: [3],
      first: 0,
      spread: false,
      seed: 1,
      stopOnError: false,
      track: false,
      timeout: undefined,
      ...over,
    }).toString('base64');
  const job = (over: Record<string, unknown> = {}, n = 1, envelope: Record<string, unknown> = {}) => ({
    v: 1,
    task: 'tasks#square',
    n,
    p: payload(over),
    ...envelope,
  });
  /** An array of 2^32 - 1 holes: 25 bytes serialized. */
  const holes = (): unknown[] => {
    const array: unknown[] = [];
    array.length = 2 ** 32 - 1;
    return array;
  };

  it('refuses a job naming a path (ERR_TASK_NOT_FOUND) or not a fanout batch (ERR_JOB_MALFORMED), each saying so', async () => {
    const p = Buffer.from('not v8').toString('base64');
    const endings = await craft([
      { task: '../../../tmp/evil#run', v: 1, n: 1, p },
      { task: '/tmp/evil.js#run', v: 1, n: 1, p },
      { task: 'file:///tmp/evil.js#run', v: 1, n: 1, p },
      { task: 'tasks#square', v: 2, n: 1, p },
      { task: 'tasks#square', v: 1, n: 1, p },
      { source: 'process.exit(1)' },
    ]);
    const expected = [
      /^ERR_TASK_NOT_FOUND: No task module for task "\.\.\/\.\.\/\.\.\/tmp\/evil#run" on this worker/,
      /^ERR_TASK_NOT_FOUND: No task module for task "\/tmp\/evil\.js#run"/,
      /^ERR_TASK_NOT_FOUND: No task module for task "file:\/\/\/tmp\/evil\.js#run"/,
      /^ERR_JOB_MALFORMED: this worker refuses job \S+: the job has format version 2; this worker reads version 1/,
      /^ERR_JOB_MALFORMED: this worker refuses job \S+: its payload cannot be read/,
      /^ERR_JOB_MALFORMED: this worker refuses job \S+: the job is not a fanout batch/,
    ];
    for (const [i, ending] of endings.entries()) assert.match(ending, expected[i] as RegExp, `job ${i}`);
    // The worker is still there and serving.
    await using p2 = pool();
    assert.equal(await p2.run(tasks.square, 5), 25);
  });

  it('refuses a job whose counts do not match its payload or pass the limits, and runs none of it', async () => {
    const endings = await craft([
      // 132 bytes that asked a worker to loop over 4.29e9 items.
      job({ items: { undefinedTimes: 2 ** 32 - 1 } }, 1),
      job({ items: { undefinedTimes: 2 ** 32 - 1 } }, 2 ** 32 - 1),
      job({ items: holes() }, 1),
      job({ items: [1, 2, 3] }, 5),
      job({ items: new Float64Array(4) }, 2),
      job({ items: [holes()], spread: true }, 1, { task: 'tasks#add' }),
      job({ items: [[1, 2], 7], spread: true }, 2, { task: 'tasks#add' }),
      job({ items: new Float64Array(2), spread: true }, 2, { task: 'tasks#add' }),
      job({ items: 'abc' }, 3),
      job({ first: -1 }),
      job({ first: Number.MAX_SAFE_INTEGER }),
      job({ timeout: 2 ** 31 }),
      job({ spread: 'yes' }),
      job({}, 1, { n: 'many' }),
    ]);
    const expected = [
      /its item count `n` is 1, but its payload holds 4294967295 items/,
      /its item count `n` is 4294967295, more than the 1048576 items a job may hold/,
      /its item count `n` is 1, but its payload holds 4294967295 items/,
      /its item count `n` is 5, but its payload holds 3 items/,
      /its item count `n` is 2, but its payload holds 4 items/,
      /item 0 is spread into 4294967295 arguments, more than the 65536 allowed/,
      /item 1 is spread into arguments but is not an array/,
      /its items are spread into arguments but are not arrays/,
      /its items are not a packed list of values/,
      /the index of its first item is not a count: -1/,
      /the index of its last item is too large/,
      /its timeout is not a number of milliseconds from 1 to 2147483647: 2147483648/,
      /its `spread` is not a boolean/,
      /its item count `n` is not a count: many/,
    ];
    assert.equal(endings.length, expected.length);
    for (const [i, ending] of endings.entries()) {
      assert.match(ending, /^ERR_JOB_MALFORMED: this worker refuses job \S+: /, `job ${i}`);
      assert.match(ending, expected[i] as RegExp, `job ${i}`);
    }
    // Each reason is logged by the worker, which is still there and serving.
    assert.match(worker.stderr, /failed: ERR_JOB_MALFORMED: .*4294967295/);
    await using p = pool();
    assert.deepEqual(await p.map(tasks.square, [1, 2, 3]), [1, 4, 9]);
  });

  it("applies no served task as a wrapper, and fanout's own only when allowed: ERR_WRAPPER_NOT_ALLOWED", async () => {
    const endings = await craft([
      // `times` is a served task that works as a factory: it must not be applied as one.
      job({ wrapOptions: { factor: 1000 } }, 1, { wrap: 'tasks#times' }),
      job({ wrapOptions: { factor: 1000 } }, 1, { wrap: 'times' }),
      job({}, 1, { wrap: 'cache' }),
      job({}, 1, { wrap: 'files' }),
      job({}, 1, { wrap: 42 }),
    ]);
    const expected = [
      /^ERR_WRAPPER_NOT_ALLOWED: The job asks for wrapper "tasks#times", which is not a fanout wrapper \(cache, files\); a task is never applied as one/,
      /^ERR_WRAPPER_NOT_ALLOWED: The job asks for wrapper "times", which is not a fanout wrapper/,
      /^ERR_WRAPPER_NOT_ALLOWED: The task is decorated by memory\.cache \(wrapper "cache"\), which this worker does not apply: .*reads and writes cache entries.*--allow cache/,
      /^ERR_WRAPPER_NOT_ALLOWED: The task is decorated by a file source of pool\.reduceChunks \(wrapper "files"\), .*--allow files/,
      /^ERR_JOB_MALFORMED: this worker refuses job \S+: the job's wrapper is not named by a string/,
    ];
    for (const [i, ending] of endings.entries()) assert.match(ending, expected[i] as RegExp, `job ${i}`);
    await using p = pool();
    assert.equal(await p.run(tasks.square, 4), 16);
  });

  it('a cached task on a worker that does not allow the cache: WrapperNotAllowedError naming --allow cache', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-cache-'));
    try {
      await using p = pool();
      const cached = new Memory(dir).cache(tasks.square);
      const error = await rejectsWith(p.run(cached, 3), 'ERR_WRAPPER_NOT_ALLOWED');
      assert.ok(error instanceof WrapperNotAllowedError);
      assert.match(
        error.message,
        /memory\.cache \(wrapper "cache"\), which this worker does not apply.*--allow cache/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker started with --allow cache runs cached tasks: the second run is served from the cache', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-cache-'));
    const own = await WorkerProcess.start(server.url, {
      queue: 'cached',
      tasks: [fixture('memory-tasks.ts')],
      flags: ['--allow', 'cache'],
    });
    try {
      assert.match(own.stderr, /wrappers allowed: cache/);
      await using p = pool({}, { queue: 'cached' });
      const nonce = new Memory(dir).cache(memoryTasks.nonce);
      const first = await p.map(nonce, [1, 2, 3]);
      const second = await p.map(nonce, [1, 2, 3]);
      assert.deepEqual(
        second.map((r) => r.nonce),
        first.map((r) => r.nonce),
        'computed once, then read from the cache',
      );
    } finally {
      await own.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker on loopback Redis does not warn about exposure', () => {
    assert.doesNotMatch(worker.stderr, /WARNING/);
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

/** The TLS tests also need openssl, to make their certificates; FANOUT_REQUIRE_OPENSSL=1 demands it. */
const opensslSkip = requirement('test/backend.redis.test.ts (TLS)', {
  missing: spawnSync('openssl', ['version']).status === 0 ? undefined : 'openssl is not on PATH',
  env: 'FANOUT_REQUIRE_OPENSSL',
  install: 'apt-get install openssl',
});
const tls = gate(redisSkip || opensslSkip);

tls.describe('redis backend: TLS', () => {
  const { it, before, after } = tls;
  let dir: string;
  let server: RedisServer;
  let worker: WorkerProcess;

  before(async () => {
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
    await stopAll([worker], server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs over rediss:// with a private CA (worker: NODE_EXTRA_CA_CERTS, caller: `tls.ca`)', async () => {
    await using p = new Pool({
      backend: { redis: server.tlsUrl, tls: { ca: readFileSync(join(dir, 'ca.crt')) } },
      workers: 2,
    });
    assert.deepEqual(await p.map(tasks.square, [1, 2, 3]), [1, 4, 9]);
  });

  it('refuses a server it cannot verify: ERR_BACKEND_UNAVAILABLE', async () => {
    await using p = new Pool({ backend: { redis: server.tlsUrl, unavailableTimeout: 500 } });
    const error = await rejectsWith(p.run(tasks.square, 2), 'ERR_BACKEND_UNAVAILABLE');
    assert.match(error.message, /certificate/i);
  });
});
