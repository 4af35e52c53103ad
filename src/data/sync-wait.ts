/**
 * Waiting on shared memory without blocking a thread: `Atomics.waitAsync`, which the main thread
 * may use too (`Atomics.wait` is refused there), bounded by a wait's `timeout` and `signal`.
 *
 * Every primitive waits the same way: read a cell, decide, and if it must wait, wait for that
 * cell to change from the value it read (a change between the read and the wait is seen at
 * once: the wait returns "not-equal"), then decide again.
 */

import { AbortError, InvalidArgTypeError, WaitTimeoutError } from '../errors.js';
import { abortSignal, duration, MAX_TIMER_MS, show } from '../options/checks.js';
import type { WaitOptions } from '../types.js';

/** `Atomics.waitAsync` (Node ≥ 16; the ES2023 library this project compiles against lacks its type). */
type WaitAsync = (
  cells: Int32Array,
  index: number,
  expected: number,
  timeout?: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

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
 * One ref'd handle holds the event loop while any wait without a timeout is in progress: a
 * pending waitAsync does not, nor does its wake-up on the way, so without it a program waiting
 * on a worker (or an inline task on another) would end mid-wait. Waiting holds the program, as a
 * blocked thread would. ref()/unref() cost next to nothing; a timer per wait cost ~1 µs.
 */
let holder: NodeJS.Timeout | undefined;
let holding = 0;

function hold(): void {
  if (holding++ === 0) {
    holder ??= setInterval(() => {}, MAX_TIMER_MS);
    holder.ref();
  }
}

function unhold(): void {
  if (--holding === 0) holder?.unref();
}

/**
 * Wait until `cells[index]` may differ from `expected`, or the deadline passes (the caller then
 * finds out by calling `deadline.left()` again). Spurious returns are fine: callers loop. A
 * timeout is this module's own timer (a ref'd one), not waitAsync's, for the same reason.
 */
export async function waitChange(
  cells: Int32Array,
  index: number,
  expected: number,
  deadline: Deadline,
): Promise<void> {
  const ms = deadline.left();
  const result = waitAsync(cells, index, expected);
  if (!result.async) return;
  const { signal } = deadline;
  if (ms === Infinity && !signal) {
    hold();
    try {
      await result.value;
    } finally {
      unhold();
    }
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  if (ms === Infinity) hold();
  const how = await new Promise<'ok' | 'timed-out' | 'gave-up'>((resolve) => {
    if (ms !== Infinity) timer = setTimeout(() => resolve('gave-up'), Math.min(ms, MAX_TIMER_MS));
    if (signal) {
      onAbort = () => resolve('gave-up');
      signal.addEventListener('abort', onAbort, { once: true });
    }
    void result.value.then(resolve);
  });
  if (ms === Infinity) unhold();
  clearTimeout(timer);
  if (signal) signal.removeEventListener('abort', onAbort as () => void);
  if (how === 'gave-up') {
    // This waiter stays in the cell's list until woken. A wake-up meant for one waiter (a
    // lock's release) that reaches it is passed on, so no live waiter misses it.
    void result.value.then(() => Atomics.notify(cells, index, 1));
  }
}
