/**
 * `fanout dashboard --redis URL`: a live page of every `fanout worker` serving a queue, on
 * every machine, read from the heartbeats they write to Redis. It runs until SIGINT or SIGTERM.
 */

import { parseArgs } from 'node:util';
import { DashboardError, describe, InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { RedisFeed } from '../observe/dashboard/redis-feed.js';
import { DashboardServer } from '../observe/dashboard/server.js';
import { dashboardSource } from '../observe/dashboard/source.js';
import { redactUrl } from '../options/checks.js';
import { DASHBOARD, type DashboardConfig, dashboardConfig, TOKEN_ENV } from '../options/dashboard.js';
import { flagValue, UsageError } from '../options/flags.js';
import { REDIS } from '../options/schema.js';
import { EXIT } from './flags.js';

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
  const given = values.redis ?? env.FANOUT_REDIS_URL;
  if (given === undefined || given === '')
    throw new UsageError('--redis URL is required (or FANOUT_REDIS_URL)');
  const flag = DASHBOARD.specs;
  return {
    url: flagValue(REDIS.specs.redis, given) as string,
    queue: flagValue(REDIS.specs.queue, values.queue) ?? REDIS.specs.queue.default,
    prefix: flagValue(REDIS.specs.prefix, values.prefix) ?? REDIS.specs.prefix.default,
    config: serverConfig(
      {
        port: flagValue(flag.port, values.port),
        host: flagValue(flag.host, values.host),
        token: flagValue(flag.token, values.token),
      },
      env,
    ),
  };
}

/**
 * A dashboard's address from its flags, already read by their specs (`--port`, `--host`,
 * `--token`, or a worker's `--metrics-*`): the token, when no flag gives it, from
 * FANOUT_DASHBOARD_TOKEN (checked as the token is, named as the variable).
 */
export function serverConfig(
  given: { port: number | undefined; host: string | undefined; token: string | undefined },
  env: NodeJS.ProcessEnv,
): DashboardConfig {
  let { token } = given;
  const fromEnv = env[TOKEN_ENV];
  if (token === undefined && fromEnv) {
    try {
      token = DASHBOARD.specs.token.check(fromEnv, TOKEN_ENV);
    } catch (error) {
      if (error instanceof InvalidArgValueError || error instanceof InvalidArgTypeError) {
        throw new UsageError(error.message, { cause: error });
      }
      throw error;
    }
  }
  return dashboardConfig({ port: given.port, host: given.host ?? DASHBOARD.specs.host.default, token });
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
