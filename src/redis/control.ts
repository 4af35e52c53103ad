/**
 * What callers and workers of one queue say to each other outside jobs: where a broadcast
 * value is stored, and the control channel (Redis pub/sub) on which a caller tells every worker
 * to drop a released broadcast value or to stop a job it has started.
 *
 * Broadcast values live in Redis once per pool and value, under a key of the queue
 * (`<prefix>:<queue>:broadcast:<token>`); a job names the tokens its items refer to. A worker
 * builds the key itself from a token it has checked, so a job can make a worker read nothing
 * but broadcast values of its own queue.
 */

/** A broadcast token: the caller's run id and the handle's number (`<run>-<n>`). */
const TOKEN_PATTERN = /^[\w-]{1,64}$/;

/** Whether a string from a job can be a broadcast token. */
export function isBroadcastToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_PATTERN.test(value);
}

/** The Redis key that holds the broadcast value of `token`. */
export function broadcastKey(prefix: string, queue: string, token: string): string {
  return `${prefix}:${queue}:broadcast:${token}`;
}

/** The pub/sub channel of a queue's control messages. */
export function controlChannel(prefix: string, queue: string): string {
  return `${prefix}:${queue}:control`;
}

/**
 * A control message. `release`: a broadcast value is gone for good (its handle was released
 * or its pool closed): workers drop their copy. `cancel`: nobody waits for these jobs any more
 * (an abort, a timeout, `terminate()`): a worker running one stops it, as a local pool stops a
 * batch (its tasks' signal aborts; a task still running `grace` ms later has its thread replaced).
 */
export type ControlMessage =
  | { readonly t: 'release'; readonly tokens: readonly string[] }
  | { readonly t: 'cancel'; readonly jobs: readonly string[] };

/** Most tokens or job ids one message carries (a worker reads no more). */
export const MAX_CONTROL_IDS = 4096;

/** A control message read from the channel, or undefined when it is not one (ignored). */
export function readControl(text: string): ControlMessage | undefined {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof message !== 'object' || message === null) return undefined;
  const { t, tokens, jobs } = message as Record<string, unknown>;
  const ids = t === 'release' ? tokens : t === 'cancel' ? jobs : undefined;
  if (!Array.isArray(ids) || ids.length > MAX_CONTROL_IDS) return undefined;
  if (!ids.every((id) => typeof id === 'string' && id.length <= 200)) return undefined;
  return t === 'release' ? { t, tokens: ids as string[] } : { t: 'cancel', jobs: ids as string[] };
}
