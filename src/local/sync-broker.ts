/**
 * The caller's side of the synchronisation primitives (data/sync.ts) for one worker set:
 * - it answers process workers' proxies (`sync` messages), running each operation on the
 *   caller's primitive as that worker (its tag), so a process worker is one more holder;
 * - when a worker dies it frees what that worker held: locks (the next waiter gets them),
 *   semaphore permits, and pending waits; and it breaks a barrier the
 *   worker's running task was given (its party will never arrive).
 */

import { toWire } from '../codec/errors.js';
import { PROCESS_TAG_BASE, serveSync, syncHolderGone, syncOpHolds, syncStateOf } from '../data/sync-serve.js';
import { Deadline } from '../data/sync-wait.js';
import { InvalidArgValueError } from '../errors.js';
import { BRAND, type SyncMessage, type SyncReplyMessage } from '../worker/protocol.js';

/** What the broker keeps of one worker. */
export interface SyncClient {
  /** Its holder tag: a thread's id + 1, or PROCESS_TAG_BASE + its number for a process. */
  readonly tag: number;
  /** The primitives it was sent, by key. */
  readonly sent: Map<string, object>;
  /** Its waits in progress, by request number. */
  readonly waits: Map<number, AbortController>;
  gone: boolean;
}

export function syncClient(threadTag: number | undefined, workerNumber: number): SyncClient {
  return {
    tag: threadTag ?? PROCESS_TAG_BASE + workerNumber,
    sent: new Map(),
    waits: new Map(),
    gone: false,
  };
}

/** Run a proxy's operation; `reply` gets the answer (never for a release, `req` 0). */
export function serveSyncMessage(
  client: SyncClient,
  message: SyncMessage,
  reply: (message: SyncReplyMessage) => void,
): void {
  const { req, key, op } = message;
  if (op === 'cancel') {
    client.waits.get(message.arg as number)?.abort();
    return;
  }
  const answer = (value: unknown, error?: unknown) => {
    if (req === 0 || client.gone) return;
    reply(
      error === undefined
        ? { fanout: BRAND, t: 'sync-reply', req, value }
        : { fanout: BRAND, t: 'sync-reply', req, error: toWire(error) },
    );
  };
  const primitive = client.sent.get(key);
  if (!primitive) {
    answer(
      undefined,
      new InvalidArgValueError(`No synchronisation primitive ${key} was sent to this worker`),
    );
    return;
  }
  const controller = new AbortController();
  if (req !== 0) client.waits.set(req, controller);
  let deadline: Deadline;
  try {
    deadline = Deadline.of(`${syncStateOf(primitive)?.kind}.${op}()`, {
      timeout: message.timeout ?? Infinity,
      signal: controller.signal,
    });
  } catch (error) {
    client.waits.delete(req);
    answer(undefined, error);
    return;
  }
  serveSync(primitive, op, message.arg, client.tag, deadline).then(
    (value) => {
      client.waits.delete(req);
      // Taken for a worker that died meanwhile: give it back at once.
      if (client.gone && syncOpHolds(primitive, op)) syncHolderGone(primitive, client.tag, false);
      answer(value);
    },
    (error: unknown) => {
      client.waits.delete(req);
      answer(undefined, error);
    },
  );
}

/**
 * A worker is gone: its waits end, its locks and semaphore permits are freed, and the barriers
 * its running task was given (`running`) are broken.
 */
export function syncClientGone(client: SyncClient, running: readonly object[]): void {
  client.gone = true;
  for (const controller of client.waits.values()) controller.abort();
  client.waits.clear();
  for (const primitive of client.sent.values())
    syncHolderGone(primitive, client.tag, running.includes(primitive));
}
