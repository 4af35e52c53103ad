/**
 * Heartbeats through Redis: how every `fanout worker` process shows up on every dashboard of
 * its queue (`fanout dashboard --redis`, a redis pool's `dashboard`).
 *
 * Each worker process writes, every HEARTBEAT_EVERY_MS, its `WorkerPart` (its threads, their
 * last batches and errors, its figures per second) as JSON under a key of its own, with a TTL
 * of HEARTBEAT_TTL_MS; and its name, scored by the time, in a sorted set of the queue's workers.
 * The key's TTL is the truth: a worker that dies stops renewing it, and it vanishes from every
 * dashboard within HEARTBEAT_TTL_MS. The sorted set only lists which keys to read (a dashboard
 * never scans the keyspace, which holds every job); each heartbeat also drops from it the names
 * not renewed for a minute. A worker that stops cleanly deletes both at once.
 *
 *   <prefix>:<queue>:dashboard:workers          sorted set: worker name → last heartbeat (epoch ms)
 *   <prefix>:<queue>:dashboard:worker:<name>    string: the worker's WorkerPart as JSON, PX HEARTBEAT_TTL_MS
 *
 * A write is skipped while the connection is down (nothing piles up in the client's queue).
 */

import type { Redis } from 'ioredis';
import type { WorkerPart } from './types.js';
import type { WorkerCollector } from './workers.js';

export const HEARTBEAT_EVERY_MS = 1000;
export const HEARTBEAT_TTL_MS = 5000;
/** Names whose heartbeat is older than this are dropped from the index. */
export const INDEX_MAX_AGE_MS = 60_000;
/** The index key itself expires when no worker writes for this long. */
const INDEX_TTL_MS = 3_600_000;
/** A heartbeat larger than this carries fewer bars (a machine with many threads). */
const MAX_HEARTBEAT_BYTES = 256 * 1024;

export interface HeartbeatKeys {
  readonly index: string;
  worker(name: string): string;
}

export function heartbeatKeys(prefix: string, queue: string): HeartbeatKeys {
  const base = `${prefix}:${queue}:dashboard`;
  return { index: `${base}:workers`, worker: (name) => `${base}:worker:${name}` };
}

export interface Heartbeat {
  /** Write one now (the worker's state changed: it is stopping). */
  beat(): Promise<void>;
  /** Stop writing, and delete this worker's key and name. */
  stop(): Promise<void>;
}

export function startHeartbeat(
  client: Redis,
  keys: HeartbeatKeys,
  name: string,
  collector: WorkerCollector,
): Heartbeat {
  let stopped = false;
  const beat = async () => {
    if (stopped || client.status !== 'ready') return;
    const now = Date.now();
    try {
      await client
        .multi()
        .set(keys.worker(name), encodePart(collector.part()), 'PX', HEARTBEAT_TTL_MS)
        .zadd(keys.index, now, name)
        .zremrangebyscore(keys.index, '-inf', now - INDEX_MAX_AGE_MS)
        .pexpire(keys.index, INDEX_TTL_MS)
        .exec();
    } catch {
      // Redis went away mid-write: the next heartbeat tries again (the worker logs Redis errors).
    }
  };
  const timer = setInterval(() => void beat(), HEARTBEAT_EVERY_MS);
  timer.unref();
  void beat();
  return {
    beat,
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (client.status !== 'ready') return;
      try {
        await client.multi().del(keys.worker(name)).zrem(keys.index, name).exec();
      } catch {
        // Gone with Redis: the key expires on its own.
      }
    },
  };
}

/** A part as JSON, with fewer bars per worker until it fits MAX_HEARTBEAT_BYTES. */
export function encodePart(part: WorkerPart): string {
  let json = JSON.stringify(part);
  let keep = Math.max(...part.workers.map((w) => w.batches.length), 0);
  while (json.length > MAX_HEARTBEAT_BYTES && keep > 1) {
    keep = Math.floor(keep / 2);
    json = JSON.stringify({
      ...part,
      workers: part.workers.map((w) => ({ ...w, batches: w.batches.slice(-keep) })),
    });
  }
  return json;
}

/** A heartbeat read back, or undefined when it is not one this version understands. */
export function decodePart(json: string | null): WorkerPart | undefined {
  if (json === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const part = value as Partial<WorkerPart> | null;
  if (
    typeof part !== 'object' ||
    part === null ||
    part.version !== 1 ||
    !Array.isArray(part.workers) ||
    !Array.isArray(part.taskNames) ||
    !Array.isArray(part.errors) ||
    typeof part.series !== 'object' ||
    typeof part.totals !== 'object' ||
    typeof part.histogram !== 'object'
  ) {
    return undefined;
  }
  return part as WorkerPart;
}
