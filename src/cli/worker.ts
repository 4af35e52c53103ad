/**
 * `fanout worker`: run the tasks of pools whose backend is `{ redis: URL }`, on this machine's
 * cores. Flags are checked here (a bad one prints a message and exits with code 2); the work is
 * done by the redis backend's worker module. Logs go to stderr.
 */

import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TaskDirectory } from '../backends/redis/identity.js';
import { keyPartProblem, redactUrl, redisUrlProblem } from '../backends/redis/options.js';
import { type RedisWorker, startRedisWorker } from '../backends/redis/worker.js';
import { isWrapperId, WRAPPER_IDS, type WrapperId } from '../backends/redis/wrappers.js';
import type { DashboardConfig } from '../observe/dashboard/config.js';
import { DashboardServer } from '../observe/dashboard/server.js';
import { dashboardSource } from '../observe/dashboard/source.js';
import { WorkerCollector } from '../observe/dashboard/workers.js';
import { MAX_TIMER_MS, resolveWorkers, TIMER_LIMIT } from '../options.js';
import { serverFlags } from './dashboard.js';

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
warns when its Redis is plaintext (redis://) with no password on another machine.`;

/** A bad flag: the message is printed with the usage, and the exit code is 2. */
class FlagError extends Error {}

interface WorkerFlags {
  readonly url: string;
  readonly queue: string;
  readonly prefix: string;
  readonly directory: TaskDirectory;
  readonly files: readonly string[];
  readonly allowedWrappers: ReadonlySet<WrapperId>;
  readonly threads: number;
  readonly concurrency: number;
  readonly lockDuration: number;
  readonly stalledInterval: number;
  readonly maxStalled: number;
  readonly grace: number;
  /** `--metrics-port` and its address and token, when given. */
  readonly metrics: DashboardConfig | undefined;
}

function positive(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new FlagError(`--${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A flag in ms: a positive integer no longer than a timer can wait (a longer one fires at once). */
function milliseconds(flag: string, value: string | undefined, fallback: number): number {
  const n = positive(flag, value, fallback);
  if (n > MAX_TIMER_MS) {
    throw new FlagError(`--${flag} is ${n} ms, past the limit of ${TIMER_LIMIT}`);
  }
  return n;
}

function parseFlags(args: string[], env: NodeJS.ProcessEnv): WorkerFlags | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      redis: { type: 'string' },
      tasks: { type: 'string', multiple: true },
      workers: { type: 'string' },
      queue: { type: 'string' },
      prefix: { type: 'string' },
      concurrency: { type: 'string' },
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
  if (positionals.length > 0) throw new FlagError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const url = values.redis ?? env.FANOUT_REDIS_URL;
  if (url === undefined || url === '') throw new FlagError('--redis URL is required (or FANOUT_REDIS_URL)');
  const urlProblem = redisUrlProblem(url);
  if (urlProblem) throw new FlagError(`--redis must be ${urlProblem}`);
  const files = values.tasks ?? [];
  if (files.length === 0) throw new FlagError('at least one --tasks FILE is required');
  for (const file of files) {
    let isFile = false;
    try {
      isFile = statSync(resolve(file)).isFile();
    } catch {
      // reported below
    }
    if (!isFile) throw new FlagError(`--tasks ${file}: no such file`);
  }
  let directory: TaskDirectory;
  try {
    directory = new TaskDirectory(files.map((file) => resolve(file)));
  } catch (error) {
    throw new FlagError(`--tasks: ${(error as Error).message}`);
  }
  for (const flag of ['queue', 'prefix'] as const) {
    const problem = values[flag] === undefined ? undefined : keyPartProblem(values[flag]);
    if (problem) throw new FlagError(`--${flag} must be ${problem}`);
  }
  const allowedWrappers = new Set<WrapperId>();
  for (const id of values.allow ?? []) {
    if (!isWrapperId(id))
      throw new FlagError(`--allow must be one of ${WRAPPER_IDS.join(', ')}, got ${JSON.stringify(id)}`);
    allowedWrappers.add(id);
  }
  let threads: number;
  try {
    const workers = values.workers;
    threads = resolveWorkers(
      workers === undefined || workers === 'auto' ? 'auto' : Number(workers),
      '--workers',
    );
  } catch (error) {
    throw new FlagError((error as Error).message);
  }
  if (
    values['metrics-port'] === undefined &&
    (values['metrics-host'] ?? values['metrics-token']) !== undefined
  ) {
    throw new FlagError('--metrics-host and --metrics-token need --metrics-port');
  }
  let metrics: DashboardConfig | undefined;
  if (values['metrics-port'] !== undefined) {
    try {
      metrics = serverFlags(
        { port: values['metrics-port'], host: values['metrics-host'], token: values['metrics-token'] },
        env,
        { port: 'metrics-port', host: 'metrics-host', token: 'metrics-token' },
      );
    } catch (error) {
      throw new FlagError((error as Error).message);
    }
  }
  return {
    url,
    queue: values.queue ?? 'fanout',
    prefix: values.prefix ?? 'fanout',
    directory,
    files,
    allowedWrappers,
    threads,
    concurrency: positive('concurrency', values.concurrency, 2 * threads),
    lockDuration: milliseconds('lock-duration', values['lock-duration'], 10_000),
    stalledInterval: milliseconds('stalled-interval', values['stalled-interval'], 5000),
    maxStalled: positive('max-stalled', values['max-stalled'], 3),
    grace: milliseconds('grace', values.grace, 10_000),
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
  let flags: WorkerFlags | 'help';
  try {
    flags = parseFlags(args, process.env);
  } catch (error) {
    if (error instanceof FlagError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`fanout worker: ${(error as Error).message}\n\n${WORKER_USAGE}\n`);
      return 2;
    }
    throw error;
  }
  if (flags === 'help') {
    process.stdout.write(`${WORKER_USAGE}\n`);
    return 0;
  }
  const options = flags;
  const log = (line: string) => process.stderr.write(`fanout worker ${process.pid}: ${line}\n`);
  if (options.files.some((file) => /\.[cm]?tsx?$/.test(file)) && !hasTypeScriptLoader()) {
    log('warning: a --tasks module is TypeScript, but no loader is active (run with node --import tsx)');
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
