/**
 * concurrent.futures' Future in TypeScript's idiom: a Promise you can also ask about and cancel.
 */

import { AbortError, InvalidArgTypeError, InvalidArgValueError, WaitTimeoutError } from '../errors.js';
import { duration, show } from '../options/checks.js';
import { keysMatch, optionSet, resolveOptions } from '../options/option-set.js';

type FutureState = 'pending' | 'running' | 'fulfilled' | 'rejected' | 'cancelled';

/** How the pool drives a future it created. */
export interface FutureControl<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
  /** The task was handed to a worker and runs now. */
  markRunning(): void;
}

/**
 * The result of `pool.run(...)`: a Promise of the task's value with `cancel()`, `done`,
 * `running` and `cancelled`, like Python's `concurrent.futures.Future`.
 *
 * @example
 * ```ts
 * const future = pool.run(tasks.simulate, 75, 5, 10);
 * future.running;          // true once a worker has it
 * if (!future.cancel()) console.log('already running');
 * const value = await future;   // rejects with AbortError (ABORT_ERR) when cancelled
 * ```
 */
export class TaskFuture<T> extends Promise<T> {
  // `then`/`catch` return plain promises, not futures.
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  #state: FutureState = 'pending';
  #onCancel: () => void = () => {};
  #reject: (error: unknown) => void = () => {};

  /** @internal Futures are made by the pool; see `pool.run`. */
  static create<T>(onCancel: () => void): { future: TaskFuture<T>; control: FutureControl<T> } {
    let resolve!: (value: T) => void;
    let reject!: (error: unknown) => void;
    const future = new TaskFuture<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    future.#onCancel = onCancel;
    future.#reject = reject;
    const control: FutureControl<T> = {
      resolve: (value) => {
        if (future.#settle('fulfilled')) resolve(value);
      },
      reject: (error) => {
        if (future.#settle('rejected')) reject(error);
      },
      markRunning: () => {
        if (future.#state === 'pending') future.#state = 'running';
      },
    };
    return { future, control };
  }

  #settle(state: 'fulfilled' | 'rejected' | 'cancelled'): boolean {
    if (this.#state !== 'pending' && this.#state !== 'running') return false;
    this.#state = state;
    return true;
  }

  /** True once the future has a value, an error, or was cancelled. */
  get done(): boolean {
    return this.#state === 'fulfilled' || this.#state === 'rejected' || this.#state === 'cancelled';
  }

  /** True while a worker runs the task. */
  get running(): boolean {
    return this.#state === 'running';
  }

  /** True when `cancel()` succeeded. */
  get cancelled(): boolean {
    return this.#state === 'cancelled';
  }

  /**
   * Cancel the task if it has not started: returns true and the future rejects with
   * `AbortError` (`ABORT_ERR`). Returns false when it is running or done.
   */
  cancel(): boolean {
    if (this.#state !== 'pending') return false;
    this.#state = 'cancelled';
    this.#onCancel();
    this.#reject(new AbortError('The task was cancelled before it started'));
    // A cancelled future that nobody awaits must not crash the process as an unhandled rejection.
    super.then(undefined, () => {});
    return true;
  }
}

/** The task each future of a pool runs, for messages naming a failed dependency. */
const taskNames = new WeakMap<TaskFuture<unknown>, string>();

/** @internal Record which task `future` runs. */
export function nameFuture(future: TaskFuture<unknown>, task: string): void {
  taskNames.set(future, task);
}

/** @internal The task `future` runs, when a pool made it. */
export function futureTaskName(future: TaskFuture<unknown>): string | undefined {
  return taskNames.get(future);
}

/** Options of `asCompleted`. */
export interface AsCompletedOptions {
  /** Give up after this many ms (from the call) with `ERR_WAIT_TIMEOUT`; the futures keep running. */
  timeout?: number;
}

/** A wait's `timeout`: ms ≥ 0, or Infinity (no limit, read as none). */
const waitTimeout = {
  check: (v: unknown, name: string): number | undefined => {
    const ms = duration(name, v, { zero: true, infinity: true });
    return ms === Infinity ? undefined : ms;
  },
  unit: 'ms',
  doc: 'give up waiting after this long',
};

const AS_COMPLETED = optionSet('the asCompleted options', { timeout: waitTimeout });
keysMatch<typeof AS_COMPLETED.specs, AsCompletedOptions>(true);

/**
 * The futures to watch, each once: a future given twice is one future (as in CPython, which
 * takes them as a set), so it is yielded once and counted once.
 */
function distinctFutures<F extends PromiseLike<unknown>>(futures: unknown, what: string): F[] {
  if (
    futures === null ||
    futures === undefined ||
    typeof (futures as Partial<Iterable<unknown>>)[Symbol.iterator] !== 'function' ||
    typeof futures === 'string'
  ) {
    throw new InvalidArgTypeError(
      `Expected the futures given to ${what} to be an iterable of futures (an array of pool.run() results, say), got ${show(futures)}`,
    );
  }
  const distinct = [...new Set(futures as Iterable<unknown>)];
  distinct.forEach((future, i) => {
    if (
      (typeof future !== 'object' && typeof future !== 'function') ||
      future === null ||
      typeof (future as { then?: unknown }).then !== 'function'
    ) {
      throw new InvalidArgTypeError(
        `Expected every future given to ${what} to be a future or a promise, got ${show(future)} at position ${i}`,
      );
    }
  });
  return distinct as F[];
}

/** Whether a settled future was cancelled (a TaskFuture whose `cancel()` succeeded). */
function wasCancelled(future: unknown): boolean {
  return future instanceof TaskFuture && future.cancelled;
}

type Settled = { ok: true; value: unknown } | { ok: false; reason: unknown };

/** Futures being watched: which settled (in order) and how; `next()` resolves at the next settling. */
class Watch<F extends PromiseLike<unknown>> {
  readonly all: F[];
  readonly outcomes = new Map<F, Settled>();
  readonly order: F[] = [];
  /** Futures that settled by raising (rejected, and not cancelled: CPython's FIRST_EXCEPTION). */
  raised = 0;
  private wake: (() => void) | undefined;

  constructor(futures: F[]) {
    this.all = futures;
    for (const future of this.all) {
      const mark = (ok: boolean, value: unknown) => {
        if (this.outcomes.has(future)) return;
        this.outcomes.set(future, ok ? { ok, value } : { ok, reason: value });
        this.order.push(future);
        if (!ok && !wasCancelled(future)) this.raised++;
        const wake = this.wake;
        this.wake = undefined;
        wake?.();
      };
      future.then(
        (value) => mark(true, value),
        (reason: unknown) => mark(false, reason),
      );
    }
  }

  /** Wait for the next settling; true when `deadline` (performance.now() ms) came first. */
  async next(deadline: number | undefined): Promise<boolean> {
    const settledNext = new Promise<false>((resolve) => {
      this.wake = () => resolve(false);
    });
    if (deadline === undefined) return settledNext;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<true>((resolve) => {
      timer = setTimeout(() => resolve(true), Math.max(0, deadline - performance.now()));
    });
    try {
      return await Promise.race([settledNext, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A future that has settled, as `asCompleted` yields it: the future, and its value or error. */
export type Completed<F extends PromiseLike<unknown>> =
  | { readonly future: F; readonly status: 'fulfilled'; readonly value: Awaited<F> }
  | { readonly future: F; readonly status: 'rejected'; readonly reason: unknown };

/**
 * concurrent.futures' `as_completed`: yields each future as it settles, with its value or its
 * error (like `Promise.allSettled` records), so one failure does not end the loop.
 *
 * @throws {WaitTimeoutError} `ERR_WAIT_TIMEOUT` when `timeout` ms pass before all have settled.
 * @example
 * ```ts
 * const futures = urls.map((u) => pool.run(tasks.fetchTitle, u));
 * for await (const done of asCompleted(futures, { timeout: 30_000 })) {
 *   if (done.status === 'fulfilled') console.log(done.value);
 *   else console.error(done.reason);
 * }
 * ```
 */
export function asCompleted<F extends PromiseLike<unknown>>(
  futures: Iterable<F>,
  options: AsCompletedOptions = {},
): AsyncGenerator<Completed<F>, void, undefined> {
  // Checked now, not at the first iteration, so a bad argument fails where it was written.
  const { timeout } = resolveOptions(AS_COMPLETED, options);
  const watch = new Watch(distinctFutures<F>(futures, 'asCompleted'));
  const deadline = timeout === undefined ? undefined : performance.now() + timeout;
  return completions(watch, deadline, timeout);
}

async function* completions<F extends PromiseLike<unknown>>(
  watch: Watch<F>,
  deadline: number | undefined,
  timeout: number | undefined,
): AsyncGenerator<Completed<F>, void, undefined> {
  let yielded = 0;
  while (yielded < watch.all.length) {
    if (watch.order.length > yielded) {
      const future = watch.order[yielded++] as F;
      const outcome = watch.outcomes.get(future) as Settled;
      yield outcome.ok
        ? { future, status: 'fulfilled', value: outcome.value as Awaited<F> }
        : { future, status: 'rejected', reason: outcome.reason };
      continue;
    }
    if (await watch.next(deadline)) {
      throw new WaitTimeoutError(
        `${watch.all.length - yielded} of ${watch.all.length} futures did not settle within ${timeout} ms`,
      );
    }
  }
}

/** When `waitFor` returns. */
export type ReturnWhen = 'FIRST_COMPLETED' | 'FIRST_EXCEPTION' | 'ALL_COMPLETED';

/** Options of `waitFor`. */
export interface WaitForOptions {
  /** @default 'ALL_COMPLETED' */
  returnWhen?: ReturnWhen;
  /** Return after this many ms even if the condition is not met (no error, as in Python). */
  timeout?: number;
}

const RETURN_WHEN: readonly ReturnWhen[] = ['FIRST_COMPLETED', 'FIRST_EXCEPTION', 'ALL_COMPLETED'];

const WAIT_FOR = optionSet('the waitFor options', {
  returnWhen: {
    check: (v: unknown, name: string): ReturnWhen => {
      if (RETURN_WHEN.includes(v as ReturnWhen)) return v as ReturnWhen;
      throw new InvalidArgValueError(
        `Expected \`${name}\` to be 'FIRST_COMPLETED', 'FIRST_EXCEPTION' or 'ALL_COMPLETED', got ${show(v)}`,
      );
    },
    default: 'ALL_COMPLETED' as ReturnWhen,
    doc: 'when to return',
  },
  timeout: waitTimeout,
});
keysMatch<typeof WAIT_FOR.specs, WaitForOptions>(true);

/**
 * concurrent.futures' `wait`: resolves with the futures that settled (`done`) and those that
 * did not (`notDone`) when `returnWhen` is met or `timeout` ms pass.
 *
 * @example
 * ```ts
 * const { done, notDone } = await waitFor(futures, { returnWhen: 'FIRST_EXCEPTION', timeout: 5000 });
 * for (const f of notDone) f.cancel();
 * ```
 */
export async function waitFor<F extends PromiseLike<unknown>>(
  futures: Iterable<F>,
  options: WaitForOptions = {},
): Promise<{ done: Set<F>; notDone: Set<F> }> {
  const { returnWhen, timeout } = resolveOptions(WAIT_FOR, options);
  const watch = new Watch(distinctFutures<F>(futures, 'waitFor'));
  const deadline = timeout === undefined ? undefined : performance.now() + timeout;
  const met = () => {
    if (watch.order.length === watch.all.length) return true;
    if (returnWhen === 'FIRST_COMPLETED') return watch.order.length > 0;
    // CPython: a future that finished by raising; a cancelled one does not count.
    if (returnWhen === 'FIRST_EXCEPTION') return watch.raised > 0;
    return false;
  };
  // Futures that are already settled report within two microtask turns; count them first.
  await Promise.resolve();
  await Promise.resolve();
  while (!met()) {
    if (await watch.next(deadline)) break;
  }
  const done = new Set<F>(watch.order);
  return { done, notDone: new Set<F>(watch.all.filter((f) => !done.has(f))) };
}
