/**
 * Faults on the redis backend, on one machine: workers killed mid-batch, Redis frozen, its
 * connections dropped, Redis restarted empty, Redis gone for good, and workers told to stop.
 * Each test has its own queue, so what one leaves running never reaches another.
 *
 * The workers here use a 2 s lock and a 1 s stalled check, so a killed worker's jobs restart
 * within about 4 s (lock + 2 × interval) instead of the defaults' 20 s.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from '../src/index.js';
import tasks from './fixtures/tasks.js';
import { range, rejectsWith } from './helpers.js';
import { freePort, RedisServer, redisTests, stopAll, until, WorkerProcess } from './redis-harness.js';
import { gate } from './requirements.js';

/** Without redis-server every test is registered as skipped, so the summary counts them. */
const { after, before, describe, it } = gate(redisTests('test/faults.redis.test.ts'));

const FAST_STALLS = ['--lock-duration', '2000', '--stalled-interval', '1000'];
const squares = (n: number) => range(n).map((x) => x * x);
const slowItems = (n: number, ms: number) => range(n).map((x) => [x, ms] as [number, number]);

describe('redis backend: faults', () => {
  let server: RedisServer;
  const workers: WorkerProcess[] = [];
  const startWorkers = async (count: number, queue: string, flags: string[] = FAST_STALLS) => {
    const started = await Promise.all(
      range(count).map(() => WorkerProcess.start(server.url, { queue, workers: 2, flags })),
    );
    workers.push(...started);
    return started;
  };
  const pool = (queue: string, size: number, backend: Record<string, unknown> = {}) =>
    new Pool({ backend: { redis: server.url, queue, checkInterval: 200, ...backend }, workers: size });
  /** Names (`host:pid`) of the workers holding an active job of `queue` now. */
  const holders = async (queue: string): Promise<Set<string>> => {
    const ids = (await server.command('LRANGE', `fanout:${queue}:active`, 0, -1)) as string[];
    const names = await Promise.all(ids.map((id) => server.command('HGET', `fanout:${queue}:${id}`, 'pb')));
    return new Set(names.filter((name): name is string => typeof name === 'string'));
  };

  before(async () => {
    server = await RedisServer.start();
  });
  after(() => stopAll(workers, server));

  it('2 of 3 workers SIGKILLed mid-batch: every result arrives exactly once, in order', async () => {
    const [survivor, ...victims] = (await startWorkers(3, 'kill')) as [WorkerProcess, ...WorkerProcess[]];
    await using p = pool('kill', 6);
    const n = 4000;
    const seen: number[] = [];
    // Items that keep their thread busy for 2 ms (async ones would overlap 16 to a thread and
    // finish before both victims were seen holding a job).
    const items = range(n).map((x) => [null, x, 'block', 2] as [null, number, 'block', number]);
    const consuming = (async () => {
      for await (const value of p.istarmap(tasks.gated, items)) seen.push(value);
    })();
    await until(async () => seen.length >= 300, '300 results');
    // "Mid-batch", for sure: each victim holds a job at the moment it dies.
    const names = victims.map((victim) => `${hostname()}:${victim.pid}`);
    await until(async () => {
      const busy = await holders('kill');
      return names.every((name) => busy.has(name));
    }, 'both victims to hold a job');
    for (const victim of victims) victim.kill('SIGKILL');
    await consuming;
    assert.equal(seen.length, n);
    assert.deepEqual(seen, squares(n));
    // Their jobs were found stalled and run again, here by the survivor (its log line may reach
    // us a moment after the results do: wait for it rather than race it).
    await until(
      async () => /stalled \(its worker stopped responding\): queued again/.test(survivor.stderr),
      "the survivor's log of the stalled jobs",
    );
    for (const victim of victims) assert.equal((await victim.exited).signal, 'SIGKILL');
  });

  it('Redis frozen for 3 s mid-run (SIGSTOP): the run completes once it is back', async () => {
    await startWorkers(2, 'freeze', []);
    await using p = pool('freeze', 4);
    let done = 0;
    const run = p.starmap(tasks.slowSquare, slowItems(2000, 2), {
      onProgress: (counts) => {
        done = counts.done;
      },
    });
    await until(async () => done >= 200, '200 results');
    server.pause();
    await sleep(3000);
    server.resume();
    assert.deepEqual(await run, squares(2000));
  });

  it('every Redis connection dropped mid-run: clients reconnect and the run completes', async () => {
    await startWorkers(2, 'drop', []);
    await using p = pool('drop', 4);
    let done = 0;
    const run = p.starmap(tasks.slowSquare, slowItems(2000, 2), {
      onProgress: (counts) => {
        done = counts.done;
      },
    });
    await until(async () => done >= 200, '200 results');
    const killed = Number(await server.command('CLIENT', 'KILL', 'TYPE', 'normal'));
    assert.ok(killed >= 3, `dropped ${killed} connections`);
    assert.deepEqual(await run, squares(2000));
  });

  it('Redis restarted empty mid-run (jobs lost): vanished jobs are sent again and the run completes', async () => {
    await startWorkers(2, 'restart', FAST_STALLS);
    await using p = pool('restart', 4);
    let done = 0;
    const run = p.starmap(tasks.slowSquare, slowItems(2000, 2), {
      onProgress: (counts) => {
        done = counts.done;
      },
    });
    await until(async () => done >= 200, '200 results');
    await server.stop();
    server = await RedisServer.start({ port: server.port });
    assert.deepEqual(await run, squares(2000));
  });

  it('Redis frozen past unavailableTimeout: ERR_BACKEND_UNAVAILABLE, not a hang; new calls work once it is back', async () => {
    await startWorkers(1, 'gone', []);
    await using p = pool('gone', 2, { unavailableTimeout: 1000, checkInterval: 100 });
    assert.equal(await p.run(tasks.square, 2), 4);
    server.pause();
    try {
      const error = await rejectsWith(
        p.starmap(tasks.slowSquare, slowItems(20, 50)),
        'ERR_BACKEND_UNAVAILABLE',
      );
      assert.match(error.message, /did not answer for 1 s \(unavailableTimeout\)/);
      // While it stays away, new work fails at once instead of waiting again.
      await rejectsWith(p.run(tasks.square, 3), 'ERR_BACKEND_UNAVAILABLE');
    } finally {
      server.resume();
    }
    await until(
      async () =>
        (await p.run(tasks.square, 3).then(
          (v) => v,
          () => undefined,
        )) === 9,
      'the pool to work again',
    );
  });

  it('no Redis at all: ERR_BACKEND_UNAVAILABLE naming the connection error; close() returns', async () => {
    const p = new Pool({
      backend: { redis: `redis://127.0.0.1:${await freePort()}`, unavailableTimeout: 300, checkInterval: 50 },
    });
    const error = await rejectsWith(p.run(tasks.square, 2), 'ERR_BACKEND_UNAVAILABLE');
    assert.match(error.message, /ECONNREFUSED/);
    await p.close();
  });

  it('SIGTERM: a worker finishes its running job, then exits with code 0', async () => {
    const [worker] = (await startWorkers(1, 'term', [])) as [WorkerProcess];
    await using p = pool('term', 1);
    const result = p.run(tasks.slowSquare, 3, 1500);
    await until(async () => (await holders('term')).size === 1, 'the job to start');
    worker.kill('SIGTERM');
    assert.equal(await result, 9);
    assert.equal((await worker.exited).code, 0);
    assert.match(worker.stderr, /SIGTERM: stopping; finishing 1 running jobs[\s\S]*stopped/);
  });

  it('a second SIGTERM hands running jobs back at once; another worker runs them', async () => {
    // The job waits on a gate file, so it is surely still running when the signals arrive
    // (a timed job could end first on a slow machine); the gate opens only after the hand-back.
    const dir = mkdtempSync(join(tmpdir(), 'fanout-handback-'));
    try {
      const gate = join(dir, 'open');
      const [first] = (await startWorkers(1, 'handback', [])) as [WorkerProcess];
      await using p = pool('handback', 1);
      const result = p.run(tasks.gated, gate, 4, 'yield');
      await until(async () => existsSync(`${gate}.started`), 'the job to start');
      // A second worker, idle: the job is the first one's.
      await startWorkers(1, 'handback', []);
      first.kill('SIGTERM');
      await first.waitFor(/SIGTERM: stopping/);
      first.kill('SIGTERM');
      assert.equal((await first.exited).code, 0);
      assert.match(first.stderr, /SIGTERM: handing back 1 running jobs[\s\S]*stopped/);
      writeFileSync(gate, '');
      assert.equal(await result, 16);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
