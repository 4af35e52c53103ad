/**
 * `fanout worker` processes launched by Slurm (`slurmWorkers`, `fanout slurm up|status|down`),
 * against a real single-node Slurm started by test/slurm-harness.ts and a throwaway Redis.
 * Each test has its own queue (so its own job name), and ends with no job and no process left.
 *
 * Without Slurm (or not as root) the tests that need it are skipped, loudly; with
 * FANOUT_REQUIRE_SLURM=1 (CI) the file fails instead. Option checks run everywhere.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe as plainDescribe, it as plainIt } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Pool, type SlurmWorkers, type SlurmWorkersOptions, slurmWorkers } from '../src/index.js';
import slurmTasks, { type Where } from './fixtures/slurm-tasks.js';
import { range } from './helpers.js';
import { fixture, RedisServer, until } from './redis-harness.js';
import { gate } from './requirements.js';
import { slurmTests } from './slurm-harness.js';

const { cluster: slurm, skip } = await slurmTests('test/slurm.test.ts');
const { after, before, describe, it } = gate(skip);

const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const tasksFile = fixture('slurm-tasks.ts');
/** Generous: a hang guard, never a timing assertion. */
const LONG = 60_000;

/** Pids of `fanout worker` processes serving `queue`, on this machine. */
function workerProcesses(queue: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const at = args.indexOf('--queue');
      if (args.includes('worker') && at >= 0 && args[at + 1] === queue) found.push(Number(name));
    } catch {
      // gone
    }
  }
  return found;
}

plainDescribe('slurmWorkers: options', () => {
  const base = { redis: 'redis://127.0.0.1:6379', tasks: tasksFile };
  const rejects = async (options: unknown, code: string, pattern: RegExp) =>
    assert.rejects(slurmWorkers(options as SlurmWorkersOptions), (error: Error & { code?: string }) => {
      assert.equal(error.code, code, error.message);
      assert.match(error.message, pattern);
      return true;
    });

  plainIt('are checked, each bad one named, before Slurm is asked anything', async () => {
    await rejects({ ...base, redis: 'http://x' }, 'ERR_INVALID_ARG_VALUE', /`redis`/);
    await rejects({ ...base, tasks: [] }, 'ERR_INVALID_ARG_VALUE', /`tasks`/);
    await rejects({ ...base, tasks: './no/such/tasks.js' }, 'ERR_INVALID_ARG_VALUE', /no\/such\/tasks\.js/);
    await rejects({ ...base, workers: -1 }, 'ERR_INVALID_ARG_VALUE', /`workers`/);
    await rejects({ ...base, cpusPerWorker: 0 }, 'ERR_INVALID_ARG_VALUE', /`cpusPerWorker`/);
    await rejects({ ...base, mem: '4 GB' }, 'ERR_INVALID_ARG_VALUE', /`mem`/);
    await rejects({ ...base, time: '2 hours' }, 'ERR_INVALID_ARG_VALUE', /`time`/);
    await rejects({ ...base, partition: 'a b' }, 'ERR_INVALID_ARG_VALUE', /`partition`/);
    await rejects({ ...base, sbatch: ['account=x'] }, 'ERR_INVALID_ARG_VALUE', /`sbatch`/);
    await rejects({ ...base, sbatch: '--account=x' }, 'ERR_INVALID_ARG_TYPE', /`sbatch`/);
    await rejects({ ...base, workerArgs: ['--queue', 'x'] }, 'ERR_INVALID_ARG_VALUE', /--queue.*`queue`/);
    await rejects({ ...base, name: 'a,b' }, 'ERR_INVALID_ARG_VALUE', /`name`/);
    await rejects({ ...base, wrokers: 2 }, 'ERR_INVALID_ARG_VALUE', /Unknown option `wrokers`/);
  });

  plainIt('without sbatch on PATH: ERR_SLURM, saying what to install', async () => {
    const path = process.env.PATH;
    const empty = mkdtempSync(join(tmpdir(), 'fanout-no-slurm-'));
    process.env.PATH = empty;
    try {
      await rejects(base, 'ERR_SLURM', /`sbatch` is not on PATH: install .*slurm-client/);
    } finally {
      process.env.PATH = path;
      rmSync(empty, { recursive: true });
    }
  });
});

describe('workers launched by Slurm', () => {
  let server: RedisServer;
  let logs: string;
  const children = new Set<ChildProcess>();

  before(async () => {
    server = await RedisServer.start();
    logs = mkdtempSync(join(tmpdir(), 'fanout-slurm-logs-'));
    process.env.SLURM_CONF = slurm?.conf;
  });
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await slurm?.stop();
    await server?.stop();
    delete process.env.SLURM_CONF;
    if (logs) rmSync(logs, { recursive: true, force: true });
  });

  const workers = (queue: string, options: Partial<SlurmWorkersOptions> = {}): Promise<SlurmWorkers> =>
    slurmWorkers({
      redis: server.url,
      tasks: tasksFile,
      queue,
      time: '10:00',
      logDirectory: logs,
      ...options,
    });
  const pool = (queue: string, size: number) =>
    new Pool({ backend: { redis: server.url, queue, checkInterval: 200 }, workers: size });
  /** squeue's jobs of `name` in `state` (every state when left out). */
  const jobs = async (name: string, state?: string) => {
    const lines =
      (await slurm?.run('squeue', ['--noheader', '--array', `--name=${name}`, '--format=%i %T'])) ?? '';
    return lines
      .split('\n')
      .filter((line) => line.trim() !== '' && (state === undefined || line.endsWith(` ${state}`)))
      .map((line) => line.split(' ')[0] as string);
  };
  /** Nothing left of `queue`'s workers: no Slurm job, no job process, no worker process. */
  const nothingLeft = async (name: string, queue: string) => {
    assert.deepEqual(await jobs(name), []);
    assert.deepEqual(slurm?.jobProcesses(), []);
    assert.deepEqual(workerProcesses(queue), []);
  };
  const runCli = (args: string[]) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'slurm', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    const out = { stdout: '', stderr: '', child };
    child.stdout?.on('data', (chunk: Buffer) => (out.stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (out.stderr += chunk.toString()));
    const exited = once(child, 'exit').then(([code]) => {
      children.delete(child);
      return code as number | null;
    });
    return { out, exited };
  };

  it('a map runs on the Slurm jobs alone; close() leaves no job and no process', async () => {
    const cluster = await workers('slurm-map', { workers: 2 });
    assert.equal(cluster.name, 'fanout-slurm-map');
    assert.match(cluster.jobScript, /^#SBATCH --cpus-per-task=1$/m);
    assert.match(
      cluster.jobScript,
      /^exec .* worker --tasks \S+slurm-tasks\.ts --workers 1 --queue slurm-map /m,
    );
    assert.doesNotMatch(cluster.jobScript, /--redis/, 'the URL travels in the environment');
    // The harness's KillWait is 10 s: a worker hands its jobs back 5 s before Slurm's SIGKILL.
    assert.match(cluster.jobScript, / --grace 5000$/m);
    const submitted = await jobs('fanout-slurm-map');
    assert.equal(submitted.length, 2, `squeue: ${submitted}`);
    {
      await using p = pool('slurm-map', 2);
      // No other worker serves this queue: every item is run by one of the two Slurm jobs.
      const results = await p.map(slurmTasks.where, range(40), { batchSize: 1 });
      assert.equal(results.length, 40);
      for (const where of results as Where[])
        assert.ok(submitted.includes(where.job as string), `${where.job}`);
    }
    await cluster.close();
    await nothingLeft('fanout-slurm-map', 'slurm-map');
    // Each worker logged where the script sent it.
    const logged = readdirSync(logs).filter((file) => file.startsWith('fanout-slurm-map-'));
    assert.equal(logged.length, 2, `${logged}`);
  });

  it('scale up and down: squeue shows the counts, and scaling down mid-map loses no item', async () => {
    // A short --grace: a cancelled worker hands its running item back instead of finishing it.
    const cluster = await workers('slurm-scale', { workers: 1, workerArgs: ['--grace', '100'] });
    try {
      await cluster.scale(3);
      await until(
        async () => (await jobs('fanout-slurm-scale', 'RUNNING')).length === 3,
        '3 running jobs',
        LONG,
      );
      assert.equal((await cluster.status()).running, 3);
      // Running is not ready: wait until each worker has said so, so each takes part in the map.
      const logsOf = (prefix: string) =>
        readdirSync(logs)
          .filter((file) => file.startsWith(prefix))
          .map((file) => readFileSync(join(logs, file), 'utf8'));
      await until(
        async () => logsOf('fanout-slurm-scale-').filter((log) => /ready:/.test(log)).length === 3,
        '3 ready workers',
        LONG,
      );
      await using p = pool('slurm-scale', 6);
      const seen = new Set<string>();
      const results: number[] = [];
      const consuming = (async () => {
        for await (const r of p.istarmap(
          slurmTasks.slow,
          range(24).map((x) => [x, 300] as [number, number]),
          {
            batchSize: 1,
          },
        )) {
          results.push(r.x);
          seen.add(r.job as string);
        }
      })();
      await until(async () => seen.size === 3, 'results from all 3 workers', LONG);
      await cluster.scale(1);
      // The 2 newest are cancelled (SIGTERM): squeue shows one job left once they have stopped.
      await until(async () => (await jobs('fanout-slurm-scale')).length === 1, 'one job left', LONG);
      assert.deepEqual((await jobs('fanout-slurm-scale', 'RUNNING')).length, 1);
      await consuming;
      assert.deepEqual(results, range(24), 'every item, once, in order');
      // Both cancelled workers got SIGTERM, and one at least was mid-item: it handed the item
      // back (its --grace is shorter than an item) for the survivor to run.
      const cancelledLogs = logsOf('fanout-slurm-scale-').filter((log) => /SIGTERM: stopping/.test(log));
      assert.equal(cancelledLogs.length, 2, 'both cancelled workers logged their SIGTERM');
      assert.ok(
        cancelledLogs.some((log) => /grace period over: handing back [1-9]/.test(log)),
        cancelledLogs.join('\n---\n'),
      );
    } finally {
      await cluster.close();
    }
    await nothingLeft('fanout-slurm-scale', 'slurm-scale');
  });

  it('jobs of the same name are counted, not duplicated; another configuration of that name is refused', async () => {
    const first = await workers('slurm-same', { workers: 2 });
    try {
      const again = await workers('slurm-same', { workers: 2 });
      assert.equal((await jobs('fanout-slurm-same')).length, 2, 'the same configuration adopts the 2 jobs');
      await again.scale(1);
      await until(async () => (await jobs('fanout-slurm-same')).length === 1, 'one job left', LONG);
      await assert.rejects(
        workers('slurm-same', { cpusPerWorker: 2 }),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, 'ERR_SLURM');
          assert.match(error.message, /named fanout-slurm-same but run another configuration/);
          return true;
        },
      );
    } finally {
      await first.close();
    }
    await nothingLeft('fanout-slurm-same', 'slurm-same');
  });

  it('adapt grows with the queue and shrinks to its minimum once idle, losing nothing', async () => {
    const cluster = await workers('slurm-adapt');
    const changes: { from: number; to: number }[] = [];
    const errors: Error[] = [];
    try {
      cluster.adapt({
        minimum: 0,
        maximum: 3,
        interval: 200,
        cooldown: 1000,
        onScale: ({ from, to }) => changes.push({ from, to }),
        onError: (error) => errors.push(error),
      });
      {
        await using p = pool('slurm-adapt', 6);
        const mapping = p.starmap(
          slurmTasks.slow,
          range(30).map((x) => [x, 200] as [number, number]),
          { batchSize: 1 },
        );
        // Six jobs queued call for the maximum: three workers.
        await until(
          async () => (await jobs('fanout-slurm-adapt')).length === 3,
          'the cluster to grow to 3',
          LONG,
        );
        const results = await mapping;
        assert.deepEqual(
          results.map((r) => r.x),
          range(30),
        );
        assert.ok(results.every((r) => r.job !== undefined));
      }
      // Idle now: after the cooldown every worker is cancelled (minimum 0).
      await until(
        async () => (await jobs('fanout-slurm-adapt')).length === 0,
        'the cluster to shrink to 0',
        LONG,
      );
      assert.equal(changes[0]?.from, 0);
      assert.equal(Math.max(...changes.map((change) => change.to)), 3);
      assert.equal(changes.at(-1)?.to, 0);
      assert.deepEqual(errors, []);
    } finally {
      await cluster.close();
    }
    await nothingLeft('fanout-slurm-adapt', 'slurm-adapt');
  });

  it('fanout slurm up, status and down; up --adapt stays in the foreground until Ctrl-C', async () => {
    const args = [
      '--redis',
      server.url,
      '--tasks',
      tasksFile,
      '--queue',
      'slurm-cli',
      '--time',
      '10',
      '--log-dir',
      logs,
    ];
    const upped = runCli(['up', ...args, '--workers', '2']);
    assert.equal(await upped.exited, 0, upped.out.stderr);
    assert.match(upped.out.stdout, /^fanout-slurm-cli: /);
    await until(async () => (await jobs('fanout-slurm-cli', 'RUNNING')).length === 2, '2 running jobs', LONG);
    const status = runCli(['status', '--queue', 'slurm-cli']);
    assert.equal(await status.exited, 0, status.out.stderr);
    assert.match(status.out.stdout, /^fanout-slurm-cli: 2 running, 0 pending, 0 stopping$/m);
    assert.equal(status.out.stdout.match(/ RUNNING /g)?.length, 2);
    await until(async () => workerProcesses('slurm-cli').length === 2, 'both workers to run', LONG);

    // `down` finds them by name (nothing else links it to that `up`) and waits until they are gone.
    const down = runCli(['down', '--queue', 'slurm-cli']);
    assert.equal(await down.exited, 0, down.out.stderr);
    assert.match(down.out.stderr, /fanout-slurm-cli: 2 workers cancelled/);
    await nothingLeft('fanout-slurm-cli', 'slurm-cli');

    // --adapt: in the foreground; the first SIGINT cancels the workers, as down does.
    const adapting = runCli(['up', ...args, '--adapt', '1:2', '--interval', '200', '--cooldown', '500']);
    await until(
      async () => (await jobs('fanout-slurm-cli', 'RUNNING')).length === 1,
      'the minimum: 1 job',
      LONG,
    );
    await until(async () => /adapting between 1 and 2 workers/.test(adapting.out.stderr), 'adapting', LONG);
    adapting.out.child.kill('SIGINT');
    assert.equal(await adapting.exited, 0, adapting.out.stderr);
    assert.match(adapting.out.stderr, /down, no worker left/);
    await nothingLeft('fanout-slurm-cli', 'slurm-cli');
  });
});
