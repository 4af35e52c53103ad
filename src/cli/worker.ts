/**
 * `fanout worker`: run the tasks of pools whose backend is `{ redis: URL }`, on this machine's
 * cores. Flags are checked here (a bad one prints a message and exits with code 2); the work is
 * done by the redis backend's worker module. Logs go to stderr.
 */

import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { DashboardServer } from '../observe/dashboard/server.js';
import { dashboardSource } from '../observe/dashboard/source.js';
import { WorkerCollector } from '../observe/dashboard/workers.js';
import { duration, positiveInteger, redactUrl, resolveWorkers } from '../options/checks.js';
import { DASHBOARD, type DashboardConfig } from '../options/dashboard.js';
import { flagValue, UsageError } from '../options/flags.js';
import { optionSet } from '../options/option-set.js';
import { LOCAL_WORKERS, POOL, REDIS } from '../options/schema.js';
import { TaskDirectory } from '../redis/identity.js';
import { WRAPPER_IDS, type WrapperId } from '../redis/wrappers.js';
import { type RedisWorker, startRedisWorker } from '../remote/redis-worker.js';
import { serverConfig } from './dashboard.js';
import { EXIT_HELP, importTaskModule, readArgs } from './flags.js';

/**
 * The flags of `fanout worker` that are its own (the Redis ones and `--workers` are the pool's
 * options, read by their own declarations in options/schema.ts).
 */
const WORKER_FLAGS = optionSet('the fanout worker flags', {
  concurrency: {
    check: (v: unknown, name: string) => positiveInteger(name, v),
    doc: 'jobs taken at once (default: 2 × workers)',
    flag: { name: 'concurrency', kind: 'count' },
  },
  lockDuration: {
    check: (v: unknown, name: string) => duration(name, v),
    default: 10_000,
    unit: 'ms',
    doc: "a job's lock: not renewed for this long, the job runs again elsewhere",
    flag: { name: 'lock-duration', kind: 'ms' },
  },
  stalledInterval: {
    check: (v: unknown, name: string) => duration(name, v),
    default: 5000,
    unit: 'ms',
    doc: 'how often to look for stalled jobs',
    flag: { name: 'stalled-interval', kind: 'ms' },
  },
  maxStalled: {
    check: (v: unknown, name: string) => positiveInteger(name, v),
    default: 3,
    doc: 'times a job may lose its worker before it fails',
    flag: { name: 'max-stalled', kind: 'count' },
  },
  grace: {
    check: (v: unknown, name: string) => duration(name, v),
    default: 10_000,
    unit: 'ms',
    doc: 'on SIGINT or SIGTERM, time to finish running jobs',
    flag: { name: 'grace', kind: 'ms' },
  },
  allow: {
    check: (v: unknown) => v as WrapperId,
    doc: 'a feature jobs may use that acts on a path the job names',
    flag: { name: 'allow', kind: 'choice' },
    choices: WRAPPER_IDS,
  },
  // A worker's metrics endpoint: a dashboard's address and token, under its own flag names.
  metricsPort: {
    ...DASHBOARD.specs.port,
    doc: "serve Prometheus metrics of this worker's threads on this port",
    flag: { name: 'metrics-port', kind: 'port' },
  },
  metricsHost: { ...DASHBOARD.specs.host, flag: { name: 'metrics-host', kind: 'text' } },
  metricsToken: { ...DASHBOARD.specs.token, flag: { name: 'metrics-token', kind: 'text' } },
});

export const WORKER_USAGE = `Usage: fanout worker --redis URL --tasks FILE [--tasks FILE ...] [options]

Runs the tasks of pools created with { backend: { redis: URL } }: takes batches from a Redis
queue and runs them on this machine's cores (one worker thread per --workers).

  --redis URL             Redis server: redis://[user:password@]host:port[/db], or rediss://
                          for TLS (a private CA via NODE_EXTRA_CA_CERTS). Default: the
                          FANOUT_REDIS_URL environment variable, which keeps a password out of
                          the process list.
  --tasks FILE            a task module this worker may run; repeat for several. Only these run.
                          A caller's task is matched by the module's file name without its
                          extension: ./dist/tasks.js serves a caller's src/tasks.ts.
  --workers N             worker threads: a positive integer, 'auto' (every core), or -1 (every
                          core), -2 (all but one), ... (default: auto)
  --queue NAME            queue to take jobs from, as the pool's backend.queue (default: fanout)
  --prefix NAME           prefix of the queue's Redis keys, as backend.prefix (default: fanout)
  --concurrency N         jobs taken at once (default: 2 × workers, so no thread waits for Redis)
  --concurrent-tasks-per-worker N
                          async tasks in progress at once on each worker thread: a thread
                          takes more items while its tasks await, up to N (default: 16; 1:
                          one task at a time). A job is a batch of items: with many slots and
                          small batches, raise --concurrency too
  --lock-duration MS      a job's lock; if this worker stops renewing it (killed, cut off from
                          Redis) for this long, the job is run again elsewhere (default: 10000)
  --stalled-interval MS   how often to look for such jobs (default: 5000); a killed worker's
                          jobs restart within about lock-duration + 2 × stalled-interval
  --max-stalled N         times a job may lose its worker before it fails with
                          ERR_WORKER_CRASHED (default: 3)
  --allow cache|files     let jobs use a feature that acts on a path the job names; repeat for
                          both. cache: memory.cache (reads and writes cache entries under the
                          job's folder); files: file sources of pool.reduceChunks (reads the
                          job's file). Default: neither; such jobs fail with
                          ERR_WRAPPER_NOT_ALLOWED
  --grace MS              on SIGINT or SIGTERM, time to finish running jobs before handing them
                          back to the queue (default: 10000); a second signal hands them back at
                          once, a third exits at once
  --metrics-port P        serve Prometheus metrics of this worker's threads at
                          http://HOST:P/metrics (0: any free port, printed on stderr)
  --metrics-host H        the address to serve them on (default: 127.0.0.1, this machine only).
                          ANY OTHER ADDRESS NEEDS A TOKEN: every request must carry it, as
                          ?token=... or an 'Authorization: Bearer ...' header (Prometheus:
                          authorization: { credentials: ... })
  --metrics-token T       that token, at least 16 characters (default: FANOUT_DASHBOARD_TOKEN;
                          generated, and printed, when --metrics-host is not loopback)
  -h, --help              show this help

Every worker also writes a heartbeat to Redis each second (its threads, their last batches and
errors), which 'fanout dashboard --redis URL' and a redis pool's dashboard show.

Anyone who can write to the queue's Redis keys can make this worker run the tasks of these
modules with any arguments: protect Redis (password or ACL user, TLS, network). A worker
warns when its Redis is plaintext (redis://) with no password on another machine.

Every --tasks module is loaded once before the worker connects: one that does not load is named
on stderr with its line, and its jobs fail with ERR_TASK_MODULE_LOAD (the others run). ${EXIT_HELP} A worker stopped by a signal exits 0, or 130
(SIGINT) or 143 (SIGTERM) when a third signal ends it at once.`;

interface WorkerFlags {
  readonly url: string;
  readonly queue: string;
  readonly prefix: string;
  readonly directory: TaskDirectory;
  readonly files: readonly string[];
  readonly allowedWrappers: ReadonlySet<WrapperId>;
  readonly threads: number;
  readonly concurrency: number;
  readonly concurrentTasks: number;
  readonly lockDuration: number;
  readonly stalledInterval: number;
  readonly maxStalled: number;
  readonly grace: number;
  /** `--metrics-port` and its address and token, when given. */
  readonly metrics: DashboardConfig | undefined;
}

function parseFlags(args: string[], env: NodeJS.ProcessEnv): WorkerFlags | 'help' {
  const { values, positionals } = readArgs({
    args,
    allowPositionals: true,
    options: {
      redis: { type: 'string' },
      tasks: { type: 'string', multiple: true },
      workers: { type: 'string' },
      queue: { type: 'string' },
      prefix: { type: 'string' },
      concurrency: { type: 'string' },
      'concurrent-tasks-per-worker': { type: 'string' },
      'lock-duration': { type: 'string' },
      'stalled-interval': { type: 'string' },
      'max-stalled': { type: 'string' },
      grace: { type: 'string' },
      allow: { type: 'string', multiple: true },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string' },
      'metrics-token': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const given = values.redis ?? env.FANOUT_REDIS_URL;
  if (given === undefined || given === '')
    throw new UsageError('--redis URL is required (or FANOUT_REDIS_URL)');
  const url = flagValue(REDIS.specs.redis, given) as string;
  const files = values.tasks ?? [];
  if (files.length === 0) throw new UsageError('at least one --tasks FILE is required');
  for (const file of files) {
    let isFile = false;
    try {
      isFile = statSync(resolve(file)).isFile();
    } catch {
      // reported below
    }
    if (!isFile) throw new UsageError(`--tasks ${file}: no such file`);
  }
  let directory: TaskDirectory;
  try {
    directory = new TaskDirectory(files.map((file) => resolve(file)));
  } catch (error) {
    throw new UsageError(`--tasks: ${(error as Error).message}`);
  }
  const flag = WORKER_FLAGS.specs;
  const threads = resolveWorkers(flagValue(POOL.specs.workers, values.workers) ?? 'auto', '--workers');
  const metricsPort = flagValue(flag.metricsPort, values['metrics-port']);
  if (metricsPort === undefined && (values['metrics-host'] ?? values['metrics-token']) !== undefined) {
    throw new UsageError('--metrics-host and --metrics-token need --metrics-port');
  }
  const metrics =
    metricsPort === undefined
      ? undefined
      : serverConfig(
          {
            port: metricsPort,
            host: flagValue(flag.metricsHost, values['metrics-host']),
            token: flagValue(flag.metricsToken, values['metrics-token']),
          },
          env,
        );
  return {
    url,
    queue: flagValue(REDIS.specs.queue, values.queue) ?? REDIS.specs.queue.default,
    prefix: flagValue(REDIS.specs.prefix, values.prefix) ?? REDIS.specs.prefix.default,
    directory,
    files,
    allowedWrappers: new Set((values.allow ?? []).map((id) => flagValue(flag.allow, id) as WrapperId)),
    threads,
    concurrency: flagValue(flag.concurrency, values.concurrency) ?? 2 * threads,
    concurrentTasks:
      flagValue(LOCAL_WORKERS.specs.concurrentTasksPerWorker, values['concurrent-tasks-per-worker']) ??
      LOCAL_WORKERS.specs.concurrentTasksPerWorker.default,
    lockDuration: flagValue(flag.lockDuration, values['lock-duration']) ?? flag.lockDuration.default,
    stalledInterval:
      flagValue(flag.stalledInterval, values['stalled-interval']) ?? flag.stalledInterval.default,
    maxStalled: flagValue(flag.maxStalled, values['max-stalled']) ?? flag.maxStalled.default,
    grace: flagValue(flag.grace, values.grace) ?? flag.grace.default,
    metrics,
  };
}

/** Whether this process can import `.ts` files (a loader such as tsx given with --import). */
function hasTypeScriptLoader(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS?.split(/\s+/) ?? [])];
  return flags.some((flag) =>
    /^--(?:import|loader|experimental-loader|require|experimental-strip-types)/.test(flag),
  );
}

/** `fanout worker ...`: runs until SIGINT or SIGTERM; resolves to the exit code. */
export async function workerCommand(args: string[]): Promise<number> {
  // A bad flag throws a UsageError: main.ts prints it with the usage (exit code 2).
  const flags = parseFlags(args, process.env);
  if (flags === 'help') {
    process.stdout.write(`${WORKER_USAGE}\n`);
    return 0;
  }
  const options = flags;
  const log = (line: string) => process.stderr.write(`fanout worker ${process.pid}: ${line}\n`);
  if (options.files.some((file) => /\.[cm]?tsx?$/.test(file)) && !hasTypeScriptLoader()) {
    log('warning: a --tasks module is TypeScript, but no loader is active (run with node --import tsx)');
  }
  // A module that does not load fails every job sent to it with ERR_TASK_MODULE_LOAD, its cause
  // attached, so the caller learns why; the worker goes on serving the others. Say so now, once,
  // naming the line, for whoever reads the worker's log.
  for (const file of options.files) {
    try {
      await importTaskModule(file, resolve(file));
    } catch (error) {
      log(`warning: ${(error as Error).message}; its jobs will fail with ERR_TASK_MODULE_LOAD`);
    }
  }

  let worker: RedisWorker | undefined;
  let signals = 0;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  let graceTimer: NodeJS.Timeout | undefined;
  const stop = (handBack: boolean) => {
    worker?.stop(handBack).then(finished, (error: unknown) => {
      log(`error while stopping: ${(error as Error).message}`);
      finished();
    });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (!worker || signals >= 3) {
      log(`${signal}: exiting now`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    if (signals === 1) {
      log(
        `${signal}: stopping; finishing ${worker.running} running jobs (at most ${options.grace} ms, ` +
          'signal again to hand them back now)',
      );
      graceTimer = setTimeout(() => {
        log(`grace period over: handing back ${worker?.running ?? 0} jobs`);
        stop(true);
      }, options.grace);
      graceTimer.unref();
      stop(false);
    } else {
      log(`${signal}: handing back ${worker.running} running jobs`);
      stop(true);
    }
  };
  const collector = new WorkerCollector({ modules: options.directory.ids });
  let metrics: DashboardServer | undefined;
  if (options.metrics) {
    const source = dashboardSource({
      kind: 'worker',
      backend: 'redis',
      size: options.threads,
      workers: collector,
    });
    try {
      metrics = await DashboardServer.listen(source, { ...options.metrics, metricsOnly: true });
    } catch (error) {
      log(`cannot serve metrics: ${(error as Error).message}`);
      return 1;
    }
    log(`metrics at ${metrics.url}`);
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    log(`connecting to ${redactUrl(options.url)}`);
    worker = await startRedisWorker({
      url: options.url,
      queue: options.queue,
      prefix: options.prefix,
      directory: options.directory,
      allowedWrappers: options.allowedWrappers,
      threads: options.threads,
      concurrency: options.concurrency,
      concurrentTasks: options.concurrentTasks,
      lockDuration: options.lockDuration,
      stalledInterval: options.stalledInterval,
      maxStalled: options.maxStalled,
      log,
      collector,
    });
    await done;
    clearTimeout(graceTimer);
    log('stopped');
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await metrics?.close();
  }
}
