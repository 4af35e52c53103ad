/**
 * The redis backend across a network: Redis, the caller and two worker machines, each a network
 * namespace with its own address on a private bridge (test/netns-harness.ts). Hosts are cut off
 * by setting their link down, which drops their packets silently, as a pulled cable does (unlike
 * killing a process, nothing tells the other side). What the README promises (Running on a
 * cluster, Faults and timings) is checked as it is written:
 *
 * - a worker cut off from Redis for longer than its lock loses its jobs to other workers, which
 *   run them again (at-least-once); each result still reaches the caller exactly once, in order;
 * - Redis away: the caller waits up to `unavailableTimeout`, then fails with
 *   ERR_BACKEND_UNAVAILABLE (and new calls fail at once until Redis answers); back within it,
 *   the call completes.
 *
 * Workers use a 2 s lock and a 1 s stalled check, so a cut-off worker's jobs run elsewhere within
 * about 4 s. Inputs are endless until the test ends them, so each fault happens mid-run for sure.
 * Needs root and iproute2; skipped loudly without them (FANOUT_REQUIRE_NETNS=1 makes that fail).
 */

import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { CallerProcess, Network, netnsTests, RedisHost } from './netns-harness.js';
import { redisTests, WorkerProcess } from './redis-harness.js';
import { gate } from './requirements.js';

const FILE = 'test/netns.redis.test.ts';
const { after, afterEach, before, describe, it } = gate(netnsTests(FILE) || redisTests(FILE));

const FAST_STALLS = ['--lock-duration', '2000', '--stalled-interval', '1000'];
const STALLED = /stalled \(its worker stopped responding\): queued again/;

/** A worker's name in Redis (`host:pid`): namespaces share the machine's host name and pids. */
const nameOf = (worker: WorkerProcess) => `${hostname()}:${worker.pid}`;

/** Poll until `check` holds; fails after `ms` (a hang guard, never a timing assertion). */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Results of an endless stream: every value, once, in order: values[i] = i², as many as were read. */
function assertExactlyOnce(values: readonly number[] | undefined, produced: number | undefined): void {
  assert.ok(values, 'the stream returned no values');
  assert.equal(values.length, produced, 'as many results as items read');
  values.forEach((value, i) => {
    if (value !== i * i) assert.fail(`result ${i} is ${value}, not ${i * i}`);
  });
}

describe('redis backend across a network (hosts in network namespaces)', () => {
  let network: Network;
  let redis: RedisHost;
  let workers: WorkerProcess[] = [];
  let caller: CallerProcess | undefined;

  /** The two worker machines, serving `queue`; returns their names as Redis knows them (`host:pid`). */
  const startWorkers = async (queue: string, flags: string[] = FAST_STALLS) => {
    workers = await Promise.all(
      ['w1', 'w2'].map((host) =>
        WorkerProcess.start(undefined, {
          queue,
          workers: 2,
          flags,
          env: { FANOUT_REDIS_URL: redis.url },
          via: network.via(host),
        }),
      ),
    );
    return workers;
  };
  const startCaller = async (queue: string, backend: Record<string, unknown> = {}) => {
    caller = await CallerProcess.start(
      network,
      'caller',
      { redis: redis.url, queue, checkInterval: 200, ...backend },
      4,
    );
    return caller;
  };
  const stopProcesses = async () => {
    await caller?.close();
    caller = undefined;
    await Promise.all(workers.map((worker) => worker.stop()));
    workers = [];
  };

  before(async () => {
    network = Network.create(['redis', 'caller', 'w1', 'w2']);
    redis = await RedisHost.start(network, 'redis');
  });
  afterEach(async () => {
    if (!network || network.destroyed) return;
    // Links back up first (a failed test may have left one down), so processes can leave cleanly.
    for (const host of ['redis', 'caller', 'w1', 'w2']) network.restore(host);
    await stopProcesses();
  });
  // Whatever is still running on the network is killed with it.
  after(() => network?.destroy());

  it('a worker machine cut off for 10 s mid-batch: its jobs run again elsewhere, each result arrives once', async () => {
    const [cutOff, other] = (await startWorkers('cut-worker')) as [WorkerProcess, WorkerProcess];
    const p = await startCaller('cut-worker');
    const run = p.send({ op: 'stream', ms: 5 });
    await p.waitProgress(run, 300);
    // "Mid-batch", for sure: the machine holds a job at the moment it is cut off.
    await until(() => redis.holders('cut-worker').has(nameOf(cutOff)), 'w1 to hold a job');
    network.cut('w1');
    // At least 10 s, and until the other machine found w1's jobs stalled and queued them again
    // (its lock expired: w1 could not renew it).
    await Promise.all([
      sleep(10_000),
      until(() => STALLED.test(other.stderr), "w2's log of w1's stalled jobs"),
    ]);
    const before = p.progress(run);
    network.restore('w1');
    // Back on the network, w1 takes jobs again while the run goes on; the results it computed
    // for the jobs it lost are refused by Redis (it no longer holds their lock).
    await until(() => redis.holders('cut-worker').has(nameOf(cutOff)), 'w1 to hold a job again');
    await p.waitProgress(run, before + 500);
    p.send({ op: 'end', id: run });
    const { values, produced, error } = await p.answer(run);
    assert.equal(error, undefined, `the stream failed: ${error?.message}`);
    assertExactlyOnce(values, produced);
  });

  it('Redis cut off past unavailableTimeout: ERR_BACKEND_UNAVAILABLE; new calls fail at once, then work once it is back', async () => {
    await startWorkers('cut-redis-long');
    const p = await startCaller('cut-redis-long', { unavailableTimeout: 3000 });
    assert.equal((await p.answer(p.send({ op: 'run', x: 2 }))).value, 4);
    const run = p.send({ op: 'stream', ms: 5 });
    await p.waitProgress(run, 300);
    network.cut('redis');
    try {
      const { error } = await p.answer(run);
      assert.equal(error?.code, 'ERR_BACKEND_UNAVAILABLE', `got ${JSON.stringify(error)}`);
      assert.match(error.message, /did not answer for 3 s \(unavailableTimeout\)/);
      // While Redis stays away, a new call fails at once instead of waiting again.
      const now = await p.answer(p.send({ op: 'run', x: 3 }));
      assert.equal(now.error?.code, 'ERR_BACKEND_UNAVAILABLE', `got ${JSON.stringify(now)}`);
    } finally {
      network.restore('redis');
    }
    // Back: a new call works again (the first ones may still meet the outage until Redis answers).
    await until(
      async () => (await p.answer(p.send({ op: 'run', x: 3 }))).value === 9,
      'the pool to work again',
    );
  });

  it('Redis cut off for 5 s, back within unavailableTimeout: the call completes, each result once', async () => {
    await startWorkers('cut-redis-short');
    // The default unavailableTimeout (30 s), as documented.
    const p = await startCaller('cut-redis-short');
    const run = p.send({ op: 'stream', ms: 5 });
    await p.waitProgress(run, 300);
    network.cut('redis');
    await sleep(5000);
    const before = p.progress(run);
    network.restore('redis');
    await p.waitProgress(run, before + 500);
    p.send({ op: 'end', id: run });
    const { values, produced, error } = await p.answer(run);
    assert.equal(error, undefined, `the stream failed: ${error?.message}`);
    assertExactlyOnce(values, produced);
  });

  it('leaves nothing behind: no process, namespace or link of the network', async () => {
    // The tests' callers and workers left on their own (stopped after each test)...
    for (const host of ['caller', 'w1', 'w2'])
      assert.deepEqual(network.pids(host), [], `processes on ${host}`);
    // ...and redis-server, which serves every test, goes with the network.
    const redisPids = network.pids('redis');
    assert.equal(redisPids.length, 1, 'redis-server runs until the network is destroyed');
    network.destroy();
    assert.deepEqual(network.leftovers(), []);
    // Killed: gone once reaped.
    await until(() => !alive(redisPids[0] as number), 'redis-server to be gone');
  });
});
