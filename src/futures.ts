/**
 * concurrent.futures' Future in TypeScript's idiom: a Promise you can also ask about and cancel.
 */

import { AbortError } from './errors.js';

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
