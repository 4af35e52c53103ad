/**
 * Reading a call's input lazily: an array is sliced, a sync iterable is stepped synchronously
 * (no await per item, which would cost more than a sub-microsecond task), an async iterable is
 * awaited. Nothing is read before a batch needs it.
 */

import { packNumbers } from '../codec/values.js';
import { InvalidArgTypeError } from '../errors.js';

export interface InputReader<T> {
  /**
   * Up to `n` more items; fewer (possibly none) only at the end of the input. A reader asked to
   * pack numbers gives a run of plain numbers from an array as a Float64Array.
   */
  take(n: number): T[] | Float64Array | Promise<T[]>;
  /** True once the input is exhausted. */
  readonly done: boolean;
  /** How many items are left, when known (arrays, and any input once exhausted). */
  readonly remaining: number | undefined;
  /** The total number of items, when known. */
  readonly total: number | undefined;
  /** Stop reading early (calls the iterator's `return()`). */
  close(): void;
}

class ArrayReader<T> implements InputReader<T> {
  private position = 0;
  constructor(
    private readonly array: readonly T[],
    private readonly packs: boolean,
  ) {}
  get done() {
    return this.position >= this.array.length;
  }
  get remaining() {
    return this.array.length - this.position;
  }
  get total() {
    return this.array.length;
  }
  take(n: number): T[] | Float64Array {
    const end = Math.min(this.array.length, this.position + n);
    // One pass from the input into the form a batch of numbers travels in, where slicing,
    // checking each item and packing it took three (~20 ns an item on the main thread). Small
    // batches too: a worker that gets a call's items in one form runs a loop specialised for it
    // (arrays for the first, small batches and Float64Arrays after cost a deoptimisation and a
    // slower, polymorphic loop).
    const items =
      (this.packs && packNumbers(this.array, this.position, end)) || this.array.slice(this.position, end);
    this.position = end;
    return items;
  }
  close() {
    this.position = this.array.length;
  }
}

class SyncReader<T> implements InputReader<T> {
  done = false;
  private count = 0;
  constructor(private readonly iterator: Iterator<T>) {}
  get remaining() {
    return this.done ? 0 : undefined;
  }
  get total() {
    return this.done ? this.count : undefined;
  }
  take(n: number): T[] {
    const items: T[] = [];
    while (!this.done && items.length < n) {
      const step = this.iterator.next();
      if (step.done) this.done = true;
      else items.push(step.value);
    }
    this.count += items.length;
    return items;
  }
  close() {
    if (!this.done) {
      this.done = true;
      this.iterator.return?.();
    }
  }
}

class AsyncReader<T> implements InputReader<T> {
  done = false;
  private count = 0;
  constructor(private readonly iterator: AsyncIterator<T>) {}
  get remaining() {
    return this.done ? 0 : undefined;
  }
  get total() {
    return this.done ? this.count : undefined;
  }
  async take(n: number): Promise<T[]> {
    const items: T[] = [];
    while (!this.done && items.length < n) {
      const step = await this.iterator.next();
      if (step.done) this.done = true;
      else items.push(step.value);
    }
    this.count += items.length;
    return items;
  }
  close() {
    if (!this.done) {
      this.done = true;
      void this.iterator.return?.()?.catch?.(() => {});
    }
  }
}

/** Throw a TypeError naming `what` unless `input` is an array, an iterable or an async iterable. */
export function assertIterable(input: unknown, what = 'items'): void {
  if (input !== null && typeof input === 'object') {
    if (typeof (input as Iterable<unknown>)[Symbol.iterator] === 'function') return;
    if (typeof (input as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') return;
  }
  const got = input === null ? 'null' : typeof input === 'object' ? 'a non-iterable object' : typeof input;
  throw new InvalidArgTypeError(
    `Expected \`${what}\` to be an array, an iterable or an async iterable, got ${got}`,
  );
}

/**
 * A reader for an array, any iterable or any async iterable (see `assertIterable`).
 * `packNumbers`: give runs of plain numbers from an array as Float64Arrays (for workers across a
 * boundary, and items that are not spread into arguments).
 */
export function readerOf<T>(
  input: Iterable<T> | AsyncIterable<T>,
  what = 'items',
  { packNumbers = false }: { packNumbers?: boolean } = {},
): InputReader<T> {
  assertIterable(input, what);
  if (Array.isArray(input)) return new ArrayReader(input as readonly T[], packNumbers);
  const sync = (input as Iterable<T>)[Symbol.iterator];
  if (typeof sync === 'function') return new SyncReader(sync.call(input));
  return new AsyncReader((input as AsyncIterable<T>)[Symbol.asyncIterator]());
}
