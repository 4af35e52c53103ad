/**
 * Redis connections for both sides. BullMQ and ioredis are loaded here, on first use, with a
 * dynamic import: a program that only uses local backends never loads them.
 *
 * They are optional peer dependencies (package.json `peerDependencies` with
 * `peerDependenciesMeta.optional`), so an install that never uses the redis backend does not
 * carry them (19 MB and a native build). This is the only place that loads them at run time:
 * every other module imports their types only (`import type`, erased from the build), and
 * must stay that way, or a threads-only install would fail at import.
 */

import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type * as BullMQ from 'bullmq';
import type { Redis } from 'ioredis';
import { BackendUnavailableError } from '../errors.js';

/**
 * What to install for the redis backend: the same ranges as package.json's `peerDependencies`
 * (test/package.test.ts checks that they agree), for the message of a missing driver.
 */
export const DRIVER_VERSIONS = { bullmq: '^6.7.0', ioredis: '^6.0.0' } as const;

export type BullModule = typeof BullMQ;

export interface Drivers {
  readonly bull: BullModule;
  readonly connect: (url: string, options: ClientOptions) => Redis;
}

export interface ClientOptions {
  /** Shown in `CLIENT LIST`, so an operator can tell callers and workers apart. */
  readonly name: string;
  readonly tls?: TlsOptions | undefined;
  /** Called with every connection error (the client keeps reconnecting on its own). */
  readonly onError: (error: Error) => void;
}

let loading: Promise<Drivers> | undefined;

/**
 * Load BullMQ and ioredis once. When either is not installed, rejects with
 * `ERR_BACKEND_UNAVAILABLE` naming the command that installs what is missing.
 */
export function loadDrivers(): Promise<Drivers> {
  loading ??= (async () => {
    // Literal specifiers, so that bundlers still see these imports.
    const [bull, ioredis] = await Promise.allSettled([import('bullmq'), import('ioredis')]);
    if (bull.status === 'rejected' || ioredis.status === 'rejected') {
      loading = undefined; // installed meanwhile: the next call tries again
      throw driverError({ bullmq: bull, ioredis });
    }
    const RedisClient = ioredis.value.Redis;
    return {
      bull: bull.value,
      connect(url, options) {
        const client = new RedisClient(url, {
          // BullMQ's requirement for blocking commands, and ours: a command waits through an
          // outage (the engine's own deadline decides when waiting is over), never fails half-way.
          maxRetriesPerRequest: null,
          enableOfflineQueue: true,
          // Reconnect quickly at first, then at most every second: an outage of a few seconds
          // costs about a second after Redis is back.
          retryStrategy: (attempt: number) => Math.min(1000, 50 * 2 ** Math.min(attempt, 5)),
          connectionName: options.name,
          ...(options.tls ? { tls: options.tls } : {}),
        });
        client.on('error', options.onError);
        return client;
      },
    };
  })();
  return loading;
}

type Driver = keyof typeof DRIVER_VERSIONS;

/** The error for drivers that failed to import: a missing package says what to install. */
function driverError(results: Record<Driver, PromiseSettledResult<unknown>>): unknown {
  const failed = (Object.keys(results) as Driver[]).flatMap((name) => {
    const result = results[name];
    return result.status === 'rejected' ? [{ name, reason: result.reason as unknown }] : [];
  });
  // Node says "Cannot find package 'bullmq' imported from ..." when the package itself is absent;
  // anything else (a broken install, a file missing inside a package) is passed on as it is.
  const absent = ({ name, reason }: { name: Driver; reason: unknown }) =>
    (reason as { code?: unknown })?.code === 'ERR_MODULE_NOT_FOUND' &&
    String((reason as { message?: unknown }).message).includes(`'${name}'`);
  const other = failed.find((failure) => !absent(failure));
  if (other) return other.reason;
  const missing = failed.map(({ name }) => name);
  const install = missing.map((name) => `${name}@${DRIVER_VERSIONS[name]}`).join(' ');
  return new BackendUnavailableError(
    'The redis backend needs the packages bullmq and ioredis (optional peer dependencies of fanout), ' +
      `and ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not installed: run \`npm install ${install}\``,
    { cause: failed[0]?.reason },
  );
}

/** Wait for `promise`, but no longer than `ms`; resolves either way (for shutdown paths). */
export async function atMost(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true).catch(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Quit a client politely if Redis answers within `ms`, else drop the connection. */
export async function closeClient(client: Redis, ms: number): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready' || !(await atMost(client.quit(), ms))) client.disconnect();
}

/**
 * Whether a caller's Redis connections keep the process alive: only while it has work in
 * Redis. It covers a client's own socket and those of the clients duplicated from it (BullMQ
 * duplicates the caller's client for its blocking event reads), after reconnections too.
 */
export class ConnectionHold {
  private held = true;
  private readonly clients = new Set<Redis>();

  /** Follow `client`, and every client duplicated from it from now on. */
  track(client: Redis): void {
    this.clients.add(client);
    // A reconnection brings a new socket.
    client.on('connect', () => this.apply(client));
    client.once('end', () => this.clients.delete(client));
    const duplicate = client.duplicate.bind(client);
    client.duplicate = ((override?: Parameters<Redis['duplicate']>[0]) => {
      const copy = duplicate(override);
      this.track(copy);
      return copy;
    }) as Redis['duplicate'];
    this.apply(client);
  }

  set(held: boolean): void {
    if (held === this.held) return;
    this.held = held;
    for (const client of this.clients) this.apply(client);
  }

  private apply(client: Redis): void {
    const socket = client.stream as { ref?(): void; unref?(): void } | undefined;
    if (this.held) socket?.ref?.();
    else socket?.unref?.();
  }
}
