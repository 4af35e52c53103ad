/**
 * Broadcast values in a `fanout worker` process. A job names the values its items refer to by
 * token; the first job that needs one reads it from Redis (once per process, however many jobs
 * ask at the same time), and the process keeps it as a broadcast of its own worker set, which
 * sends it once to each thread. The items' handles (the caller's numbers) are swapped for the
 * local ones before the batch runs.
 *
 * A copy goes when its caller releases it (a control message), or when no job used it for
 * `IDLE_MS` (its caller may have died without a word): read again if a job needs it after all.
 */

import { deserialize } from 'node:v8';
import type { Redis } from 'ioredis';
import { BROADCAST_MARKER, broadcastIdOf } from '../data/broadcast.js';
import { describe, InvalidArgValueError, MalformedJobError } from '../errors.js';
import type { WorkerSet } from '../local/worker-set.js';
import type { BatchRequest } from '../scheduler/backend.js';
import type { BroadcastHandle } from '../types.js';

/** A copy no job used for this long is dropped. */
const IDLE_MS = 10 * 60_000;

interface Copy {
  readonly handle: Promise<BroadcastHandle<unknown>>;
  lastUsed: number;
  /** Jobs running with it now (never dropped for idleness while some are). */
  users: number;
}

export class WorkerBroadcasts {
  private readonly copies = new Map<string, Copy>();
  private readonly sweeper: NodeJS.Timeout;
  /** How many values this process read from Redis (for tests: once per value and process). */
  fetches = 0;

  constructor(
    private readonly client: Redis,
    private readonly keyOf: (token: string) => string,
    private readonly local: WorkerSet,
  ) {
    this.sweeper = setInterval(() => this.sweep(), IDLE_MS / 4);
    this.sweeper.unref();
  }

  /**
   * `request` with its items' handles pointing at this process's copies (read first if needed).
   * Call `finished` with the same pairs once the batch is over.
   */
  async resolve(request: BatchRequest, pairs: readonly (readonly [number, string])[]): Promise<BatchRequest> {
    const local = new Map<number, BroadcastHandle<unknown>>();
    const copies = pairs.map(([, token]) => this.use(token));
    try {
      await Promise.all(
        pairs.map(async ([id], i) => {
          local.set(id, await (copies[i] as Copy).handle);
        }),
      );
    } catch (error) {
      this.finished(pairs);
      throw error;
    }
    const swap = (arg: unknown): unknown => {
      const id = broadcastIdOf(arg);
      if (id === undefined) return arg;
      const handle = local.get(id);
      if (!handle)
        throw new MalformedJobError(`an item refers to broadcast value ${id}, which the job does not name`);
      return { [BROADCAST_MARKER]: handle.broadcastId };
    };
    const items = (request.items as readonly unknown[]).map((item) =>
      request.spread && Array.isArray(item) ? item.map(swap) : swap(item),
    );
    return { ...request, items };
  }

  /** A batch that used these values is over. */
  finished(pairs: readonly (readonly [number, string])[]): void {
    for (const [, token] of pairs) {
      const copy = this.copies.get(token);
      if (copy) copy.users = Math.max(0, copy.users - 1);
    }
  }

  /** The caller released these values: drop the copies. */
  release(tokens: readonly string[]): void {
    for (const token of tokens) this.drop(token);
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private use(token: string): Copy {
    let copy = this.copies.get(token);
    if (!copy) {
      const handle = this.fetch(token);
      copy = { handle, lastUsed: Date.now(), users: 0 };
      this.copies.set(token, copy);
      // A failed read is not kept: the next job tries again.
      const created = copy;
      handle.catch(() => {
        if (this.copies.get(token) === created) this.copies.delete(token);
      });
    }
    copy.lastUsed = Date.now();
    copy.users++;
    return copy;
  }

  private async fetch(token: string): Promise<BroadcastHandle<unknown>> {
    this.fetches++;
    const bytes = await this.client.getBuffer(this.keyOf(token));
    if (bytes === null) {
      throw new InvalidArgValueError(
        `Broadcast value ${token} is not in Redis: it was released, or its pool closed or went away`,
      );
    }
    let value: unknown;
    try {
      value = deserialize(bytes);
    } catch (error) {
      throw new MalformedJobError(`broadcast value ${token} cannot be read: ${describe(error)}`);
    }
    return this.local.broadcast(value);
  }

  private drop(token: string): void {
    const copy = this.copies.get(token);
    if (!copy) return;
    this.copies.delete(token);
    copy.handle.then(
      (handle) => handle.release(),
      () => {},
    );
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, copy] of this.copies) {
      if (copy.users === 0 && now - copy.lastUsed > IDLE_MS) this.drop(token);
    }
  }
}
