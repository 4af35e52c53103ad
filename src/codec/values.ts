/**
 * Packing a batch's items or results for the trip across a boundary.
 *
 * Structured clone (and the V8 serializer) write a JavaScript array element by element, with
 * a tag per element: ~70 ns per small integer and ~200 ns per double, measured here. That is
 * more than a whole weather simulation (~400 ns). A batch of plain numbers, the most common
 * case of a numeric map, is therefore sent as one Float64Array, whose bytes the clone copies in
 * one go: ~1–2 ns per number. A batch of `undefined` (a task that returns nothing) is sent as
 * its length alone. Anything else goes as it is.
 *
 * Packed buffers are copied, never moved (transferred). Detaching any ArrayBuffer makes V8
 * drop, for the rest of that thread's life, its assumption that no buffer is ever detached:
 * every typed-array access in optimised code then checks for it. The heat demo's stencil ran
 * ~20% slower on a worker that had once sent a packed result (measured on Node 20). A copy
 * costs ~1 ns per number more; only a caller's or task's explicit `transfer()` moves buffers.
 */

/** A batch's values in transit. */
export type Packed =
  | readonly unknown[]
  | Float64Array
  | { readonly undefinedTimes: number }
  | { readonly tuples: Float64Array; readonly arity: number };

/** Values as they arrive: an array or a Float64Array, indexable and iterable. */
export type Unpacked = ArrayLike<unknown> & Iterable<unknown>;

/** An array of fewer values than this goes as it is: it clones faster than a Float64Array is made. */
const PACK_AT_LEAST = 8;

/**
 * `values[from]` … `values[to − 1]` as a Float64Array, when there is at least one and every one
 * is a number; otherwise undefined (found at the first value of another kind: a list of objects
 * costs one `typeof`).
 */
export function packNumbers(values: ArrayLike<unknown>, from: number, to: number): Float64Array | undefined {
  if (to <= from || typeof values[from] !== 'number') return undefined;
  const packed = new Float64Array(to - from);
  for (let i = from; i < to; i++) {
    const value = values[i];
    if (typeof value !== 'number') return undefined;
    packed[i - from] = value;
  }
  return packed;
}

/**
 * Pack `values` (see the header: the clone copies the packed bytes, nothing is moved).
 * Packing never changes a value: -0, NaN and every double survive a Float64Array unchanged.
 * Values already packed (a call's input read straight into a Float64Array, maybe a view of a
 * larger buffer) go as a compact copy: a clone of a view would copy its whole buffer.
 */
export function pack(values: readonly unknown[] | Float64Array): Packed {
  if (values instanceof Float64Array) return values.slice();
  const n = values.length;
  if (n < PACK_AT_LEAST) return values;
  if (typeof values[0] === 'undefined') {
    for (let i = 1; i < n; i++) if (values[i] !== undefined) return values;
    return { undefinedTimes: n };
  }
  return packNumbers(values, 0, n) ?? values;
}

/** Tuples longer than this are not packed (they are rare, and clone well enough). */
const MAX_ARITY = 16;

/**
 * A spread batch's items — argument tuples — packed as one Float64Array when every tuple holds
 * the same number of plain numbers (a task graph's `add(a, b)` nodes, a numeric starmap):
 * cloning 2-number arrays cost ~1 µs a tuple on the main thread, most of a graph node's cost.
 * Undefined (found at the first tuple of another shape) for anything else. Local workers only:
 * the redis job format does not carry this form.
 */
export function packTuples(items: readonly unknown[]): { tuples: Float64Array; arity: number } | undefined {
  const n = items.length;
  const first = items[0];
  if (n < PACK_AT_LEAST || !Array.isArray(first)) return undefined;
  const arity = first.length;
  if (arity === 0 || arity > MAX_ARITY) return undefined;
  const tuples = new Float64Array(n * arity);
  for (let i = 0; i < n; i++) {
    const tuple = items[i];
    if (!Array.isArray(tuple) || tuple.length !== arity) return undefined;
    for (let k = 0; k < arity; k++) {
      const value = tuple[k];
      if (typeof value !== 'number') return undefined;
      tuples[i * arity + k] = value;
    }
  }
  return { tuples, arity };
}

/** The values as an indexable, iterable list; no copy for any packed form but tuples. */
export function unpack(packed: Packed): Unpacked {
  if (Array.isArray(packed) || packed instanceof Float64Array) return packed as Unpacked;
  if ('tuples' in packed) {
    const { tuples, arity } = packed;
    const n = tuples.length / arity;
    const out = new Array<number[]>(n);
    for (let i = 0; i < n; i++) {
      const tuple = new Array<number>(arity);
      for (let k = 0; k < arity; k++) tuple[k] = tuples[i * arity + k] as number;
      out[i] = tuple;
    }
    return out;
  }
  return new Array((packed as { undefinedTimes: number }).undefinedTimes);
}
