/**
 * The redis backend at parity with the local ones: broadcast values reach each worker process
 * once, cancelling stops batches workers have started, and parallel() calls may mix tasks.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { delayed, Memory, Pool, type PoolOptions, parallel } from '../src/index.js';
import data from './fixtures/data-tasks.js';
import faults from './fixtures/faults.js';
import tasks from './fixtures/tasks.js';
import { eventually, range, rejectsWith } from './helpers.js';
import { fixture, RedisServer, redisTests, stopAll, until, WorkerProcess } from './redis-harness.js';
import { gate } from './requirements.js';

const { after, before, describe, it } = gate(redisTests('test/parity.redis.test.ts'));

describe('redis backend: parity', () => {
  let server: RedisServer;
  const workers: WorkerProcess[] = [];
  const pool = (options: PoolOptions = {}) =>
    new Pool({ backend: { redis: server.url, checkInterval: 100 }, workers: 4, ...options });
  let dir: string;
  /** Jobs a worker holds now (started, not finished). */
  const active = async () => Number(await server.command('LLEN', 'fanout:fanout:active'));
  const broadcastKeys = async () => (await server.command('KEYS', 'fanout:*:broadcast:*')) as string[];

  before(async () => {
    server = await RedisServer.start();
    dir = mkdtempSync(join(tmpdir(), 'fanout-parity-'));
    const modules = [fixture('tasks.ts'), fixture('data-tasks.ts'), fixture('faults.ts')];
    workers.push(
      ...(await Promise.all(
        [1, 2].map(() => WorkerProcess.start(server.url, { tasks: modules, workers: 2 })),
      )),
    );
  });
  after(async () => {
    await stopAll(workers, server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('an abort stops a started task that ignores its signal: its worker thread is replaced after abortGrace', async () => {
    await using p = pool({ abortGrace: 200 });
    const started = join(dir, 'spin');
    const controller = new AbortController();
    // Ten minutes of spinning, unless the worker stops it.
    const spinning = p.runWith(faults.spinMarked, [started, 600_000], { signal: controller.signal });
    await eventually(() => existsSync(started), 30_000, 'the task to start');
    assert.equal(await active(), 1);
    controller.abort();
    await rejectsWith(spinning, 'ABORT_ERR');
    await until(async () => (await active()) === 0, 'the worker to stop the job');
    assert.deepEqual(
      await p.map(tasks.square, range(8), { batchSize: 1 }),
      range(8).map((x) => x * x),
      'every thread works',
    );
  });

  it('parallel() calls may mix tasks, of several modules, on redis', async () => {
    await using p = pool();
    const calls = range(40).map((i) =>
      i % 3 === 0
        ? delayed(tasks.square)(i)
        : i % 3 === 1
          ? delayed(tasks.add)(i, 1000)
          : delayed(data.sum)(new Float64Array([i, i])),
    );
    const expected = range(40).map((i) => (i % 3 === 0 ? i * i : i % 3 === 1 ? i + 1000 : 2 * i));
    assert.deepEqual(await parallel({ pool: p })(calls), expected);
    assert.deepEqual(await parallel({ pool: p, batchSize: 1 })(calls.slice(0, 6)), expected.slice(0, 6));
    // A decorated task cannot be mixed with others here (a job names one decoration at most).
    const memory = new Memory(join(dir, 'cache'));
    await rejectsWith(
      parallel({ pool: p })([delayed(memory.cache(tasks.square))(2), delayed(tasks.add)(1, 2)]),
      'ERR_INVALID_ARG_VALUE',
    );
  });

  it('terminate() stops the tasks workers are running: they see their signal', async () => {
    const p = pool();
    const marks = [join(dir, 't1'), join(dir, 't2'), join(dir, 't3')];
    const running = rejectsWith(p.map(faults.markOnAbort, marks, { batchSize: 1 }), 'ERR_POOL_CLOSED');
    await eventually(() => marks.every((m) => existsSync(`${m}.started`)), 30_000, 'the tasks to start');
    await p.terminate();
    await running;
    await eventually(() => marks.every((m) => existsSync(m)), 30_000, 'every task to see its signal');
    await until(async () => (await active()) === 0, 'no job left running');
  });

  it('a broadcast value is read from Redis once per worker process, whatever the number of jobs; release and close leave no key', async () => {
    // Every command Redis runs, as it runs it: the reads of broadcast values are counted there.
    const watcher = new Redis(server.url);
    const monitor = await watcher.monitor();
    const reads: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() === 'get' && args[1]?.includes(':broadcast:')) reads.push(args[1]);
    });
    try {
      await using p = pool();
      const handle = p.broadcast(new Float64Array(100_000).fill(0.5));
      const results = await p.map(
        data.sumWhere,
        range(200).map(() => handle),
        { batchSize: 1 },
      );
      assert.ok(results.every((r) => r.sum === 50_000));
      const processes = new Set(results.map((r) => r.pid));
      await until(async () => reads.length >= processes.size, 'the reads to be seen');
      assert.equal(
        reads.length,
        processes.size,
        `${reads.length} reads for ${processes.size} worker processes`,
      );
      assert.equal(new Set(reads).size, 1, 'one key');
      assert.deepEqual(await broadcastKeys(), reads.slice(0, 1), 'stored once, under that key');
      handle.release();
      await until(async () => (await broadcastKeys()).length === 0, 'the released value to be deleted');
      await rejectsWith(p.run(data.sumWhere, handle), 'ERR_INVALID_ARG_VALUE');
      // A value still held when the pool closes goes with it.
      const kept = p.broadcast(new Float64Array(10).fill(1));
      assert.equal((await p.run(data.sumWhere, kept)).sum, 10);
      assert.equal((await broadcastKeys()).length, 1);
      await p.close();
      assert.deepEqual(await broadcastKeys(), [], 'nothing left after close()');
    } finally {
      monitor.disconnect();
      watcher.disconnect();
    }
  });
});
