/**
 * A process worker's way to its primitives (data/sync.ts): each operation is a `sync` message
 * to the caller's broker (the worker set), answered by a `sync-reply`. Threads never use this:
 * they reach the primitives' shared memory directly.
 */

import { fromWire } from '../codec/errors.js';
import type { BrokerPort } from '../data/sync-serve.js';
import type { Deadline } from '../data/sync-wait.js';
import { AbortError } from '../errors.js';
import { BRAND, type FromWorker, type SyncReplyMessage } from './protocol.js';

export interface SyncPort extends BrokerPort {
  /** The broker answered. */
  settle(reply: SyncReplyMessage): void;
}

export function syncPort(send: (message: FromWorker) => void): SyncPort {
  let nextReq = 1;
  const waiting = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>();
  /**
   * Waits this side gave up (aborted) whose answer has not come: the broker may have done the
   * operation just before the cancel reached it, and what it took must not be lost.
   */
  const abandoned = new Map<number, { key: string; op: string }>();
  /** An operation done for a wait that was given up: a lock or permit taken is released, a value taken is put back (last). */
  const undo = (key: string, op: string, value: unknown) => {
    if (op === 'acquire') send({ fanout: BRAND, t: 'sync', req: 0, key, op: 'release' });
    else if (op === 'get') send({ fanout: BRAND, t: 'sync', req: 0, key, op: 'put', arg: value });
  };
  return {
    call(key, op, arg, deadline: Deadline) {
      const req = nextReq++;
      const timeout = deadline.remaining();
      const { signal } = deadline;
      if (signal?.aborted)
        return Promise.reject(new AbortError(`${op} was aborted`, { cause: signal.reason }));
      return new Promise((resolve, reject) => {
        const onAbort = () => {
          waiting.delete(req);
          abandoned.set(req, { key, op });
          send({ fanout: BRAND, t: 'sync', req: 0, key, op: 'cancel', arg: req });
          reject(new AbortError(`${op} was aborted`, { cause: signal?.reason }));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        waiting.set(req, {
          resolve: (value) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(value);
          },
          reject: (error) => {
            signal?.removeEventListener('abort', onAbort);
            reject(error);
          },
        });
        send({ fanout: BRAND, t: 'sync', req, key, op, arg, ...(timeout === Infinity ? {} : { timeout }) });
      });
    },
    post(key, op, arg) {
      send({ fanout: BRAND, t: 'sync', req: 0, key, op, arg });
    },
    settle(reply) {
      const entry = waiting.get(reply.req);
      if (!entry) {
        const gaveUp = abandoned.get(reply.req);
        abandoned.delete(reply.req);
        if (gaveUp && !reply.error) undo(gaveUp.key, gaveUp.op, reply.value);
        return;
      }
      waiting.delete(reply.req);
      if (reply.error) entry.reject(fromWire(reply.error));
      else entry.resolve(reply.value);
    },
  };
}
