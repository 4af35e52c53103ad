/**
 * Redis connections for both sides. BullMQ and ioredis are loaded here, on first use, with a
 * dynamic import: a program that only uses local backends never loads them.
 */

import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type * as BullMQ from 'bullmq';
import type { Redis } from 'ioredis';

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

/** Load BullMQ and ioredis once. */
export function loadDrivers(): Promise<Drivers> {
  loading ??= (async () => {
    const [bull, ioredis] = await Promise.all([import('bullmq'), import('ioredis')]);
    const RedisClient = ioredis.Redis;
    return {
      bull,
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
