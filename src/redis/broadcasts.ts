/**
 * Broadcast values on the redis backend, the caller's side. A value is written to Redis once
 * (V8-serialized, the jobs' format), under a key of the queue, before the first job that refers
 * to it is added; jobs carry only its token. Each `fanout worker` process reads it once and hands
 * it to its threads as a local broadcast (remote/broadcasts.ts), so a value crosses the network
 * once per worker machine, not once per task.
 *
 * The key is deleted when the handle is released or the pool closes, and a control message tells
 * the workers to drop their copy. It also expires (`BROADCAST_TTL_SECONDS`, refreshed while jobs
 * are pending), so a caller that dies leaves nothing behind for long.
 */

import type { ChainableCommander, Redis } from 'ioredis';
import { nodeCrypto, nodeV8 } from '../builtins.js';
import { Broadcasts, broadcastIdsIn } from '../data/broadcast.js';
import { InvalidArgValueError } from '../errors.js';
import type { BatchRequest } from '../scheduler/backend.js';
import type { BroadcastHandle } from '../types.js';
import { broadcastKey } from './control.js';

/** How long a stored value outlives the last sign of its caller (the jobs' orphan age). */
export const BROADCAST_TTL_SECONDS = 3600;

/**
 * One pool's broadcast values. It exists before the engine (a pool makes handles at once, while
 * the engine and its drivers load on the first batch); the engine then writes values and
 * deletes released ones.
 */
export class CallerBroadcasts {
  private readonly registry: Broadcasts;
  /** Handle number → when its value was last written or its expiry refreshed (ms). */
  private readonly stored = new Map<number, number>();
  /** Tokens are this pool's: two pools on one queue never share a key. */
  private readonly run = nodeCrypto().randomBytes(6).toString('base64url');
  /** Told the tokens whose keys must go (deleted, and announced to the workers). */
  released: (tokens: string[]) => void = () => {};

  constructor(
    private readonly prefix: string,
    private readonly queue: string,
  ) {
    this.registry = new Broadcasts((id) => {
      if (this.stored.delete(id)) this.released([this.token(id)]);
    });
  }

  keyOf(token: string): string {
    return broadcastKey(this.prefix, this.queue, token);
  }

  create<T>(value: T): BroadcastHandle<T> {
    return this.registry.create(value);
  }

  /** The handles a batch's items refer to; throws when one was released. */
  idsIn(request: BatchRequest): number[] {
    if (!this.registry.used) return [];
    const ids = broadcastIdsIn(request.items, request.spread);
    const gone = ids.find((id) => !this.registry.has(id));
    if (gone !== undefined) {
      throw new InvalidArgValueError(
        `Task "${request.taskName}" was given broadcast value ${gone}, which was released`,
      );
    }
    return ids;
  }

  /** What a job carries of its handles: number and token. */
  pairs(ids: readonly number[]): [number, string][] {
    return ids.map((id) => [id, this.token(id)]);
  }

  /** Write the values of `ids` that Redis does not hold yet (one round trip; none when all are there). */
  async store(client: Redis, ids: Iterable<number>): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.stored.has(id) && this.registry.has(id));
    if (missing.length === 0) return;
    const pipeline = client.pipeline();
    for (const id of missing) {
      pipeline.set(
        this.keyOf(this.token(id)),
        nodeV8().serialize(this.registry.valueOf(id)),
        'EX',
        BROADCAST_TTL_SECONDS,
      );
    }
    const replies = await pipeline.exec();
    const now = Date.now();
    missing.forEach((id, i) => {
      const error = replies?.[i]?.[0];
      if (error) throw error;
      // Released while it was being written: the key must go after all.
      if (this.registry.has(id)) this.stored.set(id, now);
      else this.released([this.token(id)]);
    });
  }

  /**
   * Add to `pipeline` an expiry refresh for each value written more than half its lifetime ago;
   * returns what to do with each reply (a value found gone is written again by the next job).
   */
  refresh(pipeline: ChainableCommander): ((reply: unknown) => void)[] {
    const now = Date.now();
    const due = [...this.stored].filter(([, at]) => now - at > (BROADCAST_TTL_SECONDS * 1000) / 2);
    return due.map(([id]) => {
      pipeline.expire(this.keyOf(this.token(id)), BROADCAST_TTL_SECONDS);
      return (reply: unknown) => {
        if (reply === 1) this.stored.set(id, now);
        else this.stored.delete(id);
      };
    });
  }

  /** Redis may have lost everything (a job vanished): write each value again before its next job. */
  forgetStored(): void {
    this.stored.clear();
  }

  /** The tokens of every value in Redis, forgotten here (the pool is closing). */
  takeAll(): string[] {
    const tokens = [...this.stored.keys()].map((id) => this.token(id));
    this.stored.clear();
    return tokens;
  }

  private token(id: number): string {
    return `${this.run}-${id}`;
  }
}
