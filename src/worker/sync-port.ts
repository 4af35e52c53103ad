/**
 * A process worker's way to its primitives (data/sync.ts): each operation is a `sync` message
 * to the caller's broker (the worker set), answered by a `sync-reply`. Threads never use this:
 * they reach the primitives' shared memory directly.
 */

import { fromWire } from '../codec/errors.js';
import type { BrokerPort } from '../data/sync.js';
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
      if (!entry) return;
      waiting.delete(reply.req);
      if (reply.error) entry.reject(fromWire(reply.error));
      else entry.resolve(reply.value);
    },
  };
}
