/**
 * `fanout dashboard --redis URL`: a live page of every `fanout worker` serving a queue, on
 * every machine, read from the heartbeats they write to Redis. It runs until SIGINT or SIGTERM.
 */

import { parseArgs } from 'node:util';
import { keyPartProblem, redactUrl, redisUrlProblem } from '../backends/redis/options.js';
import { DashboardError, describe } from '../errors.js';
import { type DashboardConfig, dashboardConfig, TOKEN_ENV } from '../observe/dashboard/config.js';
import { RedisFeed } from '../observe/dashboard/redis-feed.js';
import { DashboardServer } from '../observe/dashboard/server.js';
import { dashboardSource } from '../observe/dashboard/source.js';
import { EXIT, UsageError } from './flags.js';

export const DASHBOARD_USAGE = `Usage: fanout dashboard --redis URL [--queue NAME] [--prefix NAME] [--port P] [--host H] [--token T]

Serves a live page of the workers of a redis queue: every 'fanout worker' process on every
machine (each writes a heartbeat to Redis every second), its threads, their batches as a task
stream, their errors, and the queue's jobs. Prints its URL on stderr; runs until Ctrl-C.

  --redis URL     the Redis of the queue (default: the FANOUT_REDIS_URL environment variable)
  --queue NAME    the queue, as the pool's backend.queue (default: fanout)
  --prefix NAME   its Redis keys' prefix, as backend.prefix (default: fanout)
  --port P        the port (default: 8787, or any free port when it is taken; 0: any free port)
  --host H        the address to listen on (default: 127.0.0.1, this machine only). ANY OTHER
                  ADDRESS NEEDS A TOKEN: every request must carry it, as ?token=... in the URL
                  or an 'Authorization: Bearer ...' header (401 without, 403 when wrong); the
                  URL printed carries it
  --token T       that token, at least 16 characters (default: the FANOUT_DASHBOARD_TOKEN
                  environment variable, which keeps it out of the process list; generated when
                  --host is not loopback and none is given)
  -h, --help      show this help

Endpoints: / (the page), /api/state (the same state as JSON), /api/events (Server-Sent
Events), /metrics (Prometheus text format).

Exit code: 0 after Ctrl-C or SIGTERM, 1 when it cannot listen (ERR_DASHBOARD), 2 for bad flags.`;

interface Flags {
  readonly url: string;
  readonly queue: string;
  readonly prefix: string;
  readonly config: DashboardConfig;
}

function parseFlags(args: string[], env: NodeJS.ProcessEnv): Flags | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      redis: { type: 'string' },
      queue: { type: 'string' },
      prefix: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const url = values.redis ?? env.FANOUT_REDIS_URL;
  if (url === undefined || url === '') throw new UsageError('--redis URL is required (or FANOUT_REDIS_URL)');
  const urlProblem = redisUrlProblem(url);
  if (urlProblem) throw new UsageError(`--redis must be ${urlProblem}`);
  for (const flag of ['queue', 'prefix'] as const) {
    const problem = values[flag] === undefined ? undefined : keyPartProblem(values[flag]);
    if (problem) throw new UsageError(`--${flag} must be ${problem}`);
  }
  return {
    url,
    queue: values.queue ?? 'fanout',
    prefix: values.prefix ?? 'fanout',
    config: serverFlags(values, env),
  };
}

/**
 * `--port`, `--host` and `--token` (or its environment variable), checked by the dashboard's
 * own rules; shared with `fanout worker --metrics-*` (`names` maps them to that command's flags).
 */
export function serverFlags(
  values: { port?: string | undefined; host?: string | undefined; token?: string | undefined },
  env: NodeJS.ProcessEnv,
  names: { port: string; host: string; token: string } = { port: 'port', host: 'host', token: 'token' },
): DashboardConfig {
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535) {
      throw new UsageError(
        `--${names.port} must be a port number (0–65535), got ${JSON.stringify(values.port)}`,
      );
    }
  }
  const token = values.token ?? (env[TOKEN_ENV] || undefined);
  try {
    return dashboardConfig({ port, host: values.host, token });
  } catch (error) {
    // The library names the option (`host`); here it is a flag.
    const message = (error as Error).message.replace(
      /`(port|host|token)`/,
      (_, name: 'port' | 'host' | 'token') =>
        name === 'token' && values.token === undefined ? TOKEN_ENV : `--${names[name]}`,
    );
    throw new UsageError(message);
  }
}

/** `fanout dashboard ...`: serves until SIGINT or SIGTERM; resolves to the exit code. */
export async function dashboardCommand(args: string[]): Promise<number> {
  const flags = parseFlags(args, process.env);
  if (flags === 'help') {
    process.stdout.write(`${DASHBOARD_USAGE}\n`);
    return EXIT.ok;
  }
  const feed = new RedisFeed({ url: flags.url, queue: flags.queue, prefix: flags.prefix });
  const source = dashboardSource({ kind: 'redis', backend: 'redis', size: null, feed });
  let server: DashboardServer;
  try {
    server = await DashboardServer.listen(source, { ...flags.config, keepAlive: true });
  } catch (error) {
    await feed.close();
    if (!(error instanceof DashboardError)) throw error;
    process.stderr.write(`fanout dashboard: ${error.message}\n`);
    return EXIT.failed;
  }
  process.stderr.write(
    `fanout dashboard: queue ${flags.prefix}:${flags.queue} on ${redactUrl(flags.url)}, at ${server.url}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  try {
    await server.close();
    await feed.close();
  } catch (error) {
    process.stderr.write(`fanout dashboard: while stopping: ${describe(error)}\n`);
  }
  process.stderr.write('fanout dashboard: stopped\n');
  return EXIT.ok;
}
