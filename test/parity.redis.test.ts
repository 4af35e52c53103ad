/**
 * The redis backend at parity with the local ones: broadcast values reach each worker process
 * once, cancelling stops batches workers have started, and parallel() calls may mix tasks.
 */

import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Pool, type PoolOptions } from '../src/index.js';
import data from './fixtures/data-tasks.js';
import { range, rejectsWith } from './helpers.js';
import { fixture, RedisServer, redisTests, stopAll, until, WorkerProcess } from './redis-harness.js';
import { gate } from './requirements.js';

const { after, before, describe, it } = gate(redisTests('test/parity.redis.test.ts'));

describe('redis backend: parity', () => {
  let server: RedisServer;
  const workers: WorkerProcess[] = [];
  const pool = (options: PoolOptions = {}) =>
    new Pool({ backend: { redis: server.url, checkInterval: 100 }, workers: 4, ...options });
  const broadcastKeys = async () => (await server.command('KEYS', 'fanout:*:broadcast:*')) as string[];

  before(async () => {
    server = await RedisServer.start();
    const tasks = [fixture('tasks.ts'), fixture('data-tasks.ts')];
    workers.push(
      ...(await Promise.all([1, 2].map(() => WorkerProcess.start(server.url, { tasks, workers: 2 })))),
    );
  });
  after(() => stopAll(workers, server));

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
