/**
 * The conformance suite on the redis backend: a redis-server of its own and two `fanout worker`
 * processes of two threads each. Cancelling tasks already running runs here as everywhere (the
 * caller tells their workers to stop them). Switched off here, and why:
 * - `future.cancel()` of a task "that has not started": a task counts as started when a worker
 *   takes its job (each worker takes a few more jobs than it has threads), which the caller
 *   learns only later, so a second task cannot be held back behind a first one as it is locally
 *   (a queued job is still removed on cancel: backend.redis.test.ts);
 * - "no worker outlives the pool": the workers are separate processes, not the pool's.
 * A module the workers were not started with is ERR_TASK_NOT_FOUND rather than a load error.
 */

import assert from 'node:assert/strict';
import { Pool } from '../../src/index.js';
import type { BackendCase } from '../helpers.js';
import { fixture, RedisServer, redisTests, stopAll, WorkerProcess } from '../redis-harness.js';
import { gate } from '../requirements.js';
import { CONFORMANCE_TEST_COUNT, conformanceSuite, registeredTests } from './suite.js';

/** Without redis-server every test is registered as skipped, so the summary counts them. */
const tests = gate(redisTests('test/conformance/redis.test.ts'));
const { after, before, describe, it } = tests;

let server: RedisServer | undefined;
const workers: WorkerProcess[] = [];

const redis: BackendCase = {
  name: 'redis',
  crossesBoundary: true,
  killable: true,
  syncPrimitives: false,
  ownsWorkers: false,
  knowsStart: false,
  registeredModulesOnly: true,
  addressable: false,
  pool: (options = {}) =>
    new Pool({
      backend: { redis: (server as RedisServer).url, checkInterval: 200 },
      ...options,
      workers: 4,
    }),
  options: () => ({ backend: { redis: (server as RedisServer).url, checkInterval: 200 }, workers: 4 }),
};

describe('redis backend: conformance', () => {
  before(async () => {
    server = await RedisServer.start();
    const tasks = [
      fixture('tasks.ts'),
      fixture('faults.ts'),
      fixture('broken/bad-syntax.mjs'),
      fixture('broken/throws-at-load.mjs'),
      fixture('broken/no-tasks.mjs'),
    ];
    const url = server.url;
    workers.push(...(await Promise.all([1, 2].map(() => WorkerProcess.start(url, { tasks, workers: 2 })))));
  });
  after(() => stopAll(workers, server));

  conformanceSuite(redis, tests);

  it('registered the whole suite', () => {
    assert.deepEqual([...registeredTests.keys()], ['redis'], 'the backends the suite ran on');
    assert.equal(registeredTests.get('redis'), CONFORMANCE_TEST_COUNT);
  });
});
