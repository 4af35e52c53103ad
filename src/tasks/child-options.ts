/**
 * The options of a child call (`taskContext().pool`): checked in one place for the worker's
 * handle (worker/nested.ts) and a local call's (tasks/context.ts), and what an aborted child
 * rejects with.
 */

import { AbortError, InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { show } from '../options/checks.js';
import type { ChildCallOptions } from '../types.js';

/** The child call's signal, or undefined without one; throws a coded error for bad options. */
export function childSignal(options: ChildCallOptions | undefined, name: string): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgTypeError(`${name}: options must be an object, got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key === 'signal') continue;
    // A child may run as a direct call in its parent's worker: nothing could kill it there.
    const hint =
      key === 'timeout'
        ? " (a child running in its parent's worker cannot be killed: pass signal: AbortSignal.timeout(ms), which it can honour)"
        : '';
    throw new InvalidArgValueError(`${name}: a child call takes only \`signal\`, not \`${key}\`${hint}`);
  }
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgTypeError(`${name}: \`signal\` must be an AbortSignal, got ${show(signal)}`);
  }
  return signal;
}

/** Why `runWith`'s arguments are refused (they are not an array), if they are. */
export function runWithArgsError(args: unknown): InvalidArgTypeError | undefined {
  return Array.isArray(args)
    ? undefined
    : new InvalidArgTypeError(
        `taskContext().pool.runWith: \`args\` must be an array of the task's arguments, got ${show(args)}`,
      );
}

/** What a child call cancelled through its signal rejects with. */
export function childAborted(signal: AbortSignal): AbortError {
  return new AbortError('The operation was aborted', { cause: signal.reason as unknown });
}

/**
 * Start a child call with its options checked first: bad options reject with their coded error,
 * a signal already aborted with ABORT_ERR, and `start` never runs; else `start(signal)` (the
 * signal not aborted yet, or undefined without one).
 */
export function withChildSignal<T>(
  options: ChildCallOptions | undefined,
  name: string,
  start: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  let signal: AbortSignal | undefined;
  try {
    signal = childSignal(options, name);
  } catch (error) {
    return Promise.reject(error);
  }
  if (signal?.aborted) return Promise.reject(childAborted(signal));
  return start(signal);
}

/**
 * `settled`, or a rejection with ABORT_ERR as soon as `signal` aborts (after `cancel`, which
 * undoes what it can of the child: see NestedCalls). Without a signal, `settled` itself.
 */
export function untilAborted<T>(
  settled: Promise<T>,
  signal: AbortSignal | undefined,
  cancel: () => void,
  /** Called just before the promise settles early (the worker restores its parent's context). */
  beforeSettle?: () => void,
): Promise<T> {
  if (!signal) return settled;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      cancel();
      beforeSettle?.();
      reject(childAborted(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    settled.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
