/**
 * The redis backend's options, as a Pool receives them in `backend: { redis: ... }`, checked
 * once here so the engine can trust them.
 */

import { BlockList, isIP } from 'node:net';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { checkKnownKeys, duration, positiveInteger, show } from '../options/checks.js';
import { LOCAL_WORKER_KEYS } from '../options/schema.js';

/**
 * Run a pool's tasks on `fanout worker` processes, on any machine, through a Redis queue
 * (BullMQ). Give it as the pool's `backend`.
 *
 * @example
 * ```ts
 * await using pool = new Pool({
 *   backend: { redis: 'redis://fanout:secret@redis.internal:6379', queue: 'weather' },
 *   workers: 16, // the sum of the workers' --workers
 * });
 * const temps = await pool.map(tasks.run10, range(1_000_000));
 * ```
 */
export interface RedisBackendOptions {
  /**
   * The Redis server: `redis://[user:password@]host:port[/db]`, or `rediss://...` for TLS. The
   * user and password are Redis ACL credentials (`redis://:password@host` for a password alone).
   * @example { redis: 'rediss://fanout:secret@redis.internal:6380/0' }
   */
  redis: string;
  /**
   * The queue callers and workers meet on (`fanout worker --queue`).
   * @default 'fanout'
   * @example { redis: 'redis://localhost:6379', queue: 'weather' }
   */
  queue?: string;
  /**
   * Prefix of every Redis key of the queue (`fanout worker --prefix`); an ACL can confine the
   * backend's user to `~prefix:*`.
   * @default 'fanout'
   * @example { redis: 'redis://localhost:6379', prefix: 'team-a' }
   */
  prefix?: string;
  /**
   * TLS options for a `rediss://` URL: a private CA, a client certificate (Node's `tls.connect`
   * options). `NODE_EXTRA_CA_CERTS` works too.
   * @example { redis: 'rediss://redis.internal:6380', tls: { ca: readFileSync('ca.pem') } }
   */
  tls?: TlsOptions;
  /**
   * How long (ms) Redis may stay unreachable while work is pending before the calls waiting on it
   * fail with `ERR_BACKEND_UNAVAILABLE`. Shorter outages only delay the work.
   * @default 30000
   * @example { redis: 'redis://localhost:6379', unavailableTimeout: 5000 }
   */
  unavailableTimeout?: number;
  /**
   * How often (ms) jobs still pending are checked by id, so a result whose event was missed is
   * still delivered. Also how often Redis is probed while work is pending.
   * @default 1000
   * @example { redis: 'redis://localhost:6379', checkInterval: 500 }
   */
  checkInterval?: number;
}

export interface ResolvedRedisOptions {
  readonly url: string;
  readonly queue: string;
  readonly prefix: string;
  readonly tls: TlsOptions | undefined;
  readonly unavailableTimeout: number;
  readonly checkInterval: number;
  /** Batches the cluster runs at once (the pool's `workers`). */
  readonly size: number;
}

export const DEFAULT_QUEUE = 'fanout';
export const DEFAULT_PREFIX = 'fanout';
/** Batches in flight when the pool does not say (`workers`); see PoolOptions.workers. */
export const DEFAULT_REMOTE_WORKERS = 8;

const KEYS = ['redis', 'queue', 'prefix', 'tls', 'unavailableTimeout', 'checkInterval'];

const LOCAL_ONLY = LOCAL_WORKER_KEYS;

/** Whether a pool's `backend` option is the redis form (an object). */
export function isRedisBackend(backend: unknown): backend is RedisBackendOptions {
  return typeof backend === 'object' && backend !== null;
}

/** A Redis URL with its password hidden, for messages and logs (ioredis also reads one from `?password=`). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.href;
  } catch {
    return '(not a URL)';
  }
}

/** Addresses that never leave the machine: 127.0.0.0/8 and ::1 (IPv4-mapped too). */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether a URL's host is this machine's loopback: `localhost` or a loopback address (no DNS lookup). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === 'localhost.') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The warning for a Redis reached in plaintext without a password on another machine, or
 * undefined. Whoever can reach such a Redis can write jobs, so run the workers' tasks on
 * arguments of their choosing, and read or forge every argument and result. Loopback is
 * exempt: only this machine reaches it. One decision for the worker and the pool.
 */
export function exposureWarning(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'redis:') return undefined;
  if (parsed.password !== '' || (parsed.searchParams.get('password') ?? '') !== '') return undefined;
  if (isLoopbackHost(parsed.hostname)) return undefined;
  return (
    `Redis at ${redactUrl(url)} is reached in plaintext (redis://) with no password. Anyone who can ` +
    'reach that address can queue jobs that make the workers run any task of their modules on ' +
    'arguments of their choosing, and read or replace every argument and result. Protect it: TLS ' +
    'and a password or ACL user (rediss://user:password@host:port), or keep Redis on loopback.'
  );
}

/** Check a Redis URL; returns a message naming what is wrong, or undefined. */
export function redisUrlProblem(url: unknown): string | undefined {
  if (typeof url !== 'string') return `a redis:// or rediss:// URL, got ${show(url)}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `a redis:// or rediss:// URL, got ${JSON.stringify(redactUrl(url))}`;
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    return `a redis:// or rediss:// URL, got one with protocol ${JSON.stringify(parsed.protocol)}`;
  }
  if (!parsed.hostname) return 'a redis:// or rediss:// URL with a host name';
  return undefined;
}

/** Queue names and prefixes become parts of Redis keys, separated by colons. */
export function keyPartProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !/^[\w.@+-]{1,100}$/.test(value)) {
    return `1 to 100 letters, digits or . _ - + @ (no colon), got ${show(value)}`;
  }
  return undefined;
}

/** Validate a pool's redis backend options (and the pool options around them). */
export function resolveRedisOptions(
  backend: RedisBackendOptions,
  pool: { readonly workers?: unknown } & Record<string, unknown>,
): ResolvedRedisOptions {
  checkKnownKeys('the redis backend options', backend, KEYS);
  const urlProblem = redisUrlProblem(backend.redis);
  if (urlProblem) {
    const Err = typeof backend.redis === 'string' ? InvalidArgValueError : InvalidArgTypeError;
    throw new Err(`Expected \`backend.redis\` to be ${urlProblem}`);
  }
  for (const key of ['queue', 'prefix'] as const) {
    const problem = backend[key] === undefined ? undefined : keyPartProblem(backend[key]);
    if (problem) throw new InvalidArgValueError(`Expected \`backend.${key}\` to be ${problem}`);
  }
  if (backend.tls !== undefined) {
    if (typeof backend.tls !== 'object' || backend.tls === null) {
      throw new InvalidArgTypeError(`Expected \`backend.tls\` to be an object, got ${show(backend.tls)}`);
    }
    if (!backend.redis.startsWith('rediss:')) {
      throw new InvalidArgValueError(
        '`backend.tls` applies to rediss:// URLs only (TLS); the URL is redis://',
      );
    }
  }
  for (const key of LOCAL_ONLY) {
    if (pool[key] !== undefined) {
      throw new InvalidArgValueError(
        `\`${key}\` does not apply to the redis backend: its workers are \`fanout worker\` processes, ` +
          'configured by their own flags',
      );
    }
  }
  let size = DEFAULT_REMOTE_WORKERS;
  if (pool.workers !== undefined) {
    if (typeof pool.workers !== 'number' || !Number.isInteger(pool.workers) || pool.workers < 1) {
      throw new InvalidArgValueError(
        'On the redis backend, `workers` is how many batches the cluster runs at once (the sum of the ' +
          `workers' --workers): a positive integer, got ${show(pool.workers)}`,
      );
    }
    size = positiveInteger('workers', pool.workers);
  }
  return {
    url: backend.redis,
    queue: backend.queue ?? DEFAULT_QUEUE,
    prefix: backend.prefix ?? DEFAULT_PREFIX,
    tls: backend.tls,
    unavailableTimeout:
      backend.unavailableTimeout === undefined
        ? 30_000
        : duration('backend.unavailableTimeout', backend.unavailableTimeout),
    checkInterval:
      backend.checkInterval === undefined ? 1000 : duration('backend.checkInterval', backend.checkInterval),
    size,
  };
}
