/**
 * Packing a batch's items or results for the trip across a boundary.
 *
 * Structured clone (and the V8 serializer) write a JavaScript array element by element, with
 * a tag per element: ~70 ns per small integer and ~200 ns per double, measured here. That is
 * more than a whole weather simulation (~400 ns). A batch of plain numbers, the most common
 * case of a numeric map, is therefore sent as one Float64Array whose buffer is transferred
 * (threads) or copied as raw bytes (processes): ~1–2 ns per number. A batch of `undefined`
 * (a task that returns nothing) is sent as its length alone. Anything else goes as it is.
 */

import type { TransferListItem } from 'node:worker_threads';

/** A batch's values in transit. */
export type Packed = readonly unknown[] | Float64Array | { readonly undefinedTimes: number };

/** Values as they arrive: an array or a Float64Array, indexable and iterable. */
export type Unpacked = ArrayLike<unknown> & Iterable<unknown>;

/**
 * Pack `values`; `transfer` receives the buffers that may be moved instead of copied.
 * Packing never changes a value: -0, NaN and every double survive a Float64Array unchanged.
 */
export function pack(values: readonly unknown[], transfer: TransferListItem[]): Packed {
  const n = values.length;
  if (n < 8) return values;
  const firstType = typeof values[0];
  if (firstType === 'undefined') {
    for (let i = 1; i < n; i++) if (values[i] !== undefined) return values;
    return { undefinedTimes: n };
  }
  if (firstType !== 'number') return values;
  const packed = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const value = values[i];
    if (typeof value !== 'number') return values;
    packed[i] = value;
  }
  transfer.push(packed.buffer as ArrayBuffer);
  return packed;
}

/** The values as an indexable, iterable list; no copy for any packed form. */
export function unpack(packed: Packed): Unpacked {
  if (Array.isArray(packed) || packed instanceof Float64Array) return packed as Unpacked;
  return new Array((packed as { undefinedTimes: number }).undefinedTimes);
}
