/**
 * The reading side of the heartbeats (see heartbeat.ts): which `fanout worker` processes serve
 * a queue, what their threads do, and how many jobs wait. Used by `fanout dashboard --redis`
 * and by a redis pool's dashboard; it only reads.
 *
 * Its connection never keeps the process alive, and a read never waits long: while Redis is
 * away, a read returns the last parts it had with the problem, rather than queueing commands.
 */

import { once } from 'node:events';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { describe } from '../../errors.js';
import { ConnectionHold, closeClient, loadDrivers } from '../../redis/connection.js';
import { decodePart, HEARTBEAT_TTL_MS, heartbeatKeys, INDEX_MAX_AGE_MS } from './heartbeat.js';
import type { QueueView, WorkerPart } from './types.js';

/** How long a read may wait for Redis. */
const READ_TIMEOUT_MS = 2000;

export interface FeedOptions {
  readonly url: string;
  readonly queue: string;
  readonly prefix: string;
  readonly tls?: TlsOptions | undefined;
}

export interface FeedReading {
  readonly parts: readonly WorkerPart[];
  readonly queue: QueueView | null;
  /** Why Redis could not be read, when it could not. */
  readonly problem: string | null;
}

export class RedisFeed {
  private connecting: Promise<{ client: Redis; queue: Queue }> | undefined;
  private readonly hold = new ConnectionHold();
  private last: FeedReading = { parts: [], queue: null, problem: null };
  private lastError: Error | undefined;
  private everReady = false;
  private closed = false;

  constructor(private readonly options: FeedOptions) {
    this.hold.set(false);
  }

  /** `prefix:queue`, as the page names it. */
  get name(): string {
    return `${this.options.prefix}:${this.options.queue}`;
  }

  async read(): Promise<FeedReading> {
    if (this.closed) return this.last;
    let connection: { client: Redis; queue: Queue };
    try {
      connection = await this.connect();
    } catch (error) {
      return (this.last = { ...this.last, problem: describe(error) });
    }
    const { client, queue } = connection;
    if (!this.everReady && client.status !== 'ready') {
      // The first read waits for the connection (briefly); later ones do not wait out an outage.
      await within(READ_TIMEOUT_MS, once(client, 'ready')).catch(() => {});
    }
    if (client.status !== 'ready') {
      const why = this.lastError ? describe(this.lastError) : `the connection is ${client.status}`;
      return (this.last = { ...this.last, problem: why });
    }
    try {
      const reading = await within(READ_TIMEOUT_MS, this.readOnce(client, queue));
      this.last = reading;
      return reading;
    } catch (error) {
      return (this.last = { ...this.last, problem: describe(error) });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const connecting = this.connecting;
    if (!connecting) return;
    try {
      const { client, queue } = await connecting;
      await within(1000, queue.close()).catch(() => {});
      await closeClient(client, 1000);
    } catch {
      // It never connected.
    }
  }

  private connect(): Promise<{ client: Redis; queue: Queue }> {
    this.connecting ??= (async () => {
      const { bull, connect } = await loadDrivers();
      const client = connect(this.options.url, {
        name: 'fanout-dashboard',
        tls: this.options.tls,
        onError: (error) => {
          this.lastError = error;
        },
      });
      client.on('ready', () => {
        this.lastError = undefined;
        this.everReady = true;
      });
      this.hold.track(client);
      const queue = new bull.Queue(this.options.queue, { connection: client, prefix: this.options.prefix });
      queue.on('error', (error: Error) => {
        this.lastError = error;
      });
      return { client, queue };
    })();
    this.connecting.catch(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async readOnce(client: Redis, queue: Queue): Promise<FeedReading> {
    const keys = heartbeatKeys(this.options.prefix, this.options.queue);
    const since = Date.now() - Math.max(INDEX_MAX_AGE_MS, HEARTBEAT_TTL_MS);
    const [names, counts] = await Promise.all([
      client.zrangebyscore(keys.index, since, '+inf'),
      queue.getJobCounts('waiting', 'prioritized', 'active', 'completed', 'failed'),
    ]);
    const blobs = names.length > 0 ? await client.mget(names.map((name) => keys.worker(name))) : [];
    const parts = blobs.flatMap((blob) => {
      const part = decodePart(blob);
      return part ? [part] : [];
    });
    return {
      parts,
      queue: {
        name: this.name,
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
        active: counts.active ?? 0,
        completed: counts.completed ?? 0,
        failed: counts.failed ?? 0,
      },
      problem: null,
    };
  }
}

function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
