/**
 * Data without copies.
 *
 * - `shared.float64(n)` and friends: typed arrays on a SharedArrayBuffer. Structured clone
 *   passes a SharedArrayBuffer by reference, so thread workers (and inline tasks) see the same
 *   memory as the caller: no copy, and a worker's writes are visible to everyone.
 * - `transfer(value)`: the ArrayBuffers under `value` move to the worker (or back to the caller
 *   from a task) instead of being copied; the sender's view is detached afterwards.
 * - Broadcast handles (`pool.broadcast(value)`) are in broadcast.ts.
 */

import { describe, InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { show } from '../options/checks.js';

type TypedArrayConstructor =
  | Float64ArrayConstructor
  | Float32ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | BigInt64ArrayConstructor;

function allocate<C extends TypedArrayConstructor>(Kind: C, length: number): InstanceType<C> {
  const expected = 'Expected the length of a shared array to be a non-negative integer';
  if (typeof length !== 'number') throw new InvalidArgTypeError(`${expected}, got ${show(length)}`);
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new InvalidArgValueError(`${expected}, got ${show(length)}`);
  }
  const bytes = length * Kind.BYTES_PER_ELEMENT;
  let buffer: SharedArrayBuffer;
  try {
    buffer = new SharedArrayBuffer(bytes);
  } catch (error) {
    // Past the engine's limit, or more than the machine can give: V8's own RangeError, uncoded.
    throw new InvalidArgValueError(
      `A shared ${Kind.name} of ${length} elements (${bytes} bytes) cannot be allocated: ${describe(error)}`,
      { cause: error },
    );
  }
  return new (Kind as unknown as new (buffer: SharedArrayBuffer) => InstanceType<C>)(buffer);
}

/**
 * Typed arrays on shared memory, for the threads and inline backends. Workers may read them
 * freely and write disjoint slices; use `Atomics` for counters several workers update.
 *
 * @example
 * ```ts
 * const data = shared.float64(rows * columns);        // filled by the caller
 * const sums = shared.float64(columns);                // written by the workers, one slice each
 * await pool.starmap(tasks.columnSums, slices.map(([a, b]) => [data, sums, a, b]));
 * ```
 */
export const shared = {
  float64: (length: number) => allocate(Float64Array, length),
  float32: (length: number) => allocate(Float32Array, length),
  int32: (length: number) => allocate(Int32Array, length),
  uint32: (length: number) => allocate(Uint32Array, length),
  int16: (length: number) => allocate(Int16Array, length),
  uint16: (length: number) => allocate(Uint16Array, length),
  int8: (length: number) => allocate(Int8Array, length),
  uint8: (length: number) => allocate(Uint8Array, length),
  bigint64: (length: number) => allocate(BigInt64Array, length),
  /** A shared copy of an existing typed array (same type and contents). */
  from<T extends ArrayBufferView & { length: number }>(source: T): T {
    if (!ArrayBuffer.isView(source) || source instanceof DataView) {
      throw new InvalidArgTypeError(`Expected shared.from() to be given a typed array, got ${show(source)}`);
    }
    const Kind = source.constructor as TypedArrayConstructor;
    const copy = allocate(Kind, source.length);
    (copy as unknown as { set(s: T): void }).set(source);
    return copy as unknown as T;
  },
  /** Whether a typed array lives on shared memory. */
  isShared(view: ArrayBufferView): boolean {
    if (!ArrayBuffer.isView(view)) {
      throw new InvalidArgTypeError(
        `Expected shared.isShared() to be given a typed array, got ${show(view)}`,
      );
    }
    return view.buffer instanceof SharedArrayBuffer;
  },
};

/** Marks live on globalThis, so a task module and the runtime agree even if fanout is loaded twice. */
const marked: WeakSet<object> = (() => {
  const key = Symbol.for('fanout.transferMarks');
  const holder = globalThis as unknown as Record<symbol, WeakSet<object> | undefined>;
  holder[key] ??= new WeakSet();
  return holder[key];
})();

/**
 * Mark a value so its ArrayBuffers move across the boundary instead of being copied: in an
 * argument (caller → worker) or in a task's result (worker → caller). The sender must not use
 * the buffers afterwards: they are detached (length 0).
 *
 * @example
 * ```ts
 * const frame = new Float32Array(1 << 20);
 * const filtered = await pool.run(tasks.blur, transfer(frame));  // frame.length === 0 now
 * // in a task module: return transfer(output);
 * ```
 */
export function transfer<T extends object>(value: T): T {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidArgTypeError(
      'Expected transfer() to be given an ArrayBuffer, a typed array or an object holding them',
    );
  }
  marked.add(value);
  return value;
}

/** The transferable buffers of a marked value (a buffer, a view, or an array/object holding them). */
export function transferablesOf(value: unknown, into: ArrayBuffer[]): void {
  if (typeof value !== 'object' || value === null || !marked.has(value)) return;
  collectBuffers(value, into, new Set(), 0);
}

function collectBuffers(value: unknown, into: ArrayBuffer[], seen: Set<unknown>, depth: number): void {
  if (typeof value !== 'object' || value === null || seen.has(value) || depth > 4) return;
  seen.add(value);
  if (value instanceof ArrayBuffer) {
    if (!into.includes(value)) into.push(value);
    return;
  }
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer && !into.includes(value.buffer)) into.push(value.buffer);
    return;
  }
  for (const child of Array.isArray(value) ? value : Object.values(value))
    collectBuffers(child, into, seen, depth + 1);
}
