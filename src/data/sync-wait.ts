/**
 * Waiting on shared memory without blocking a thread: `Atomics.waitAsync`, which the main thread
 * may use too (`Atomics.wait` is refused there), bounded by a wait's `timeout` and `signal`.
 *
 * Every primitive waits the same way: read a cell, decide, and if it must wait, wait for that
 * cell to change from the value it read (a change between the read and the wait is seen at
 * once: the wait returns "not-equal"), then decide again.
 */

import { AbortError, InvalidArgTypeError, WaitTimeoutError } from '../errors.js';
import { abortSignal, duration, show } from '../options/checks.js';

/** `Atomics.waitAsync` (Node ≥ 16; the ES2023 library this project compiles against lacks its type). */
type WaitAsync = (
  cells: Int32Array,
  index: number,
  expected: number,
  timeout?: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** How long a wait on a primitive may last. */
export interface WaitOptions {
  /** Give up after this many ms with `ERR_WAIT_TIMEOUT` (0: only if it can be done at once). */
  readonly timeout?: number | undefined;
  /** Give up when this signal aborts, with `ABORT_ERR`. */
  readonly signal?: AbortSignal | undefined;
}

/** A wait in progress: its deadline (performance.now() clock) and signal. */
export class Deadline {
  private constructor(
    readonly at: number,
    readonly signal: AbortSignal | undefined,
    private readonly what: string,
  ) {}

  /** Checked options (`what` names the wait in errors: "lock.acquire()"). */
  static of(what: string, options: WaitOptions | undefined): Deadline {
    if (options === undefined) return new Deadline(Infinity, undefined, what);
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgTypeError(`Expected the options of ${what} to be an object, got ${show(options)}`);
    }
    const timeout =
      options.timeout === undefined
        ? Infinity
        : duration(`timeout`, options.timeout, { zero: true, infinity: true });
    const signal = options.signal === undefined ? undefined : abortSignal('signal', options.signal);
    return new Deadline(performance.now() + timeout, signal, what);
  }

  /** The ms left, or a coded error when the wait is over. */
  left(): number {
    if (this.signal?.aborted) throw new AbortError(`${this.what} was aborted`, { cause: this.signal.reason });
    const ms = this.at - performance.now();
    if (ms <= 0) throw new WaitTimeoutError(`${this.what} timed out`);
    return ms;
  }

  /** The timeout as sent to a broker (ms left, Infinity for none). */
  remaining(): number {
    return this.at === Infinity ? Infinity : Math.max(0, this.at - performance.now());
  }
}

/**
 * Wait until `cells[index]` may differ from `expected`, or the deadline passes (the caller then
 * finds out by calling `deadline.left()` again). Spurious returns are fine: callers loop.
 */
export async function waitChange(
  cells: Int32Array,
  index: number,
  expected: number,
  deadline: Deadline,
): Promise<void> {
  const ms = deadline.left();
  const result = waitAsync(cells, index, expected, ms === Infinity ? undefined : ms);
  if (!result.async) return;
  // A pending waitAsync does not keep the process alive; a timed wait must still end (and say so).
  const keepAlive = ms === Infinity ? undefined : setTimeout(() => {}, ms);
  const { signal } = deadline;
  if (!signal) {
    await result.value;
    clearTimeout(keepAlive);
    return;
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const how = await Promise.race([result.value, aborted]);
    if (how === 'aborted') {
      // This waiter stays in the cell's list until woken or timed out. A wake-up meant for one
      // waiter (a lock's release) that reaches it is passed on, so no live waiter misses it.
      void result.value.then((value) => {
        if (value === 'ok') Atomics.notify(cells, index, 1);
      });
    }
  } finally {
    clearTimeout(keepAlive);
    signal.removeEventListener('abort', onAbort as () => void);
  }
}
