/**
 * How a Queue's values are copied into its shared ring. `v8.serialize` costs ~5 µs even for a
 * number (it builds a serializer object each call), so the common values take a shorter road:
 * a number is its 8 bytes, a string its UTF-8; anything else is v8-serialised. The first byte
 * says which. Numbers and strings go through one scratch buffer per thread: a new ArrayBuffer
 * per value made garbage collection most of a queue's cost.
 */

import { nodeV8 } from '../builtins.js';

const V8 = 0;
const NUMBER = 1;
const STRING = 2;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

let scratch = new Uint8Array(1 << 12);
let scratchView = new DataView(scratch.buffer);

/** The scratch buffer, at least `size` bytes long (its contents are not kept). */
export function scratchOf(size: number): { bytes: Uint8Array; view: DataView } {
  if (scratch.length < size) {
    scratch = new Uint8Array(Math.max(size, 2 * scratch.length));
    scratchView = new DataView(scratch.buffer);
  }
  return { bytes: scratch, view: scratchView };
}

/**
 * The bytes of `value`: a view of the scratch buffer, valid until the next call (throws what
 * v8.serialize throws for a value that cannot be copied).
 */
export function encodeValue(value: unknown): Uint8Array {
  if (typeof value === 'number') {
    const { bytes, view } = scratchOf(9);
    bytes[0] = NUMBER;
    view.setFloat64(1, value, true);
    return bytes.subarray(0, 9);
  }
  if (typeof value === 'string') {
    const { bytes } = scratchOf(1 + 3 * value.length);
    bytes[0] = STRING;
    const { written } = encoder.encodeInto(value, bytes.subarray(1));
    return bytes.subarray(0, 1 + written);
  }
  const body = nodeV8().serialize(value);
  const bytes = new Uint8Array(1 + body.length);
  bytes[0] = V8;
  bytes.set(body, 1);
  return bytes;
}

/** The value of `bytes` (written by encodeValue); they may be the scratch buffer's. */
export function decodeValue(bytes: Uint8Array): unknown {
  switch (bytes[0]) {
    case NUMBER:
      return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(1, true);
    case STRING:
      return decoder.decode(bytes.subarray(1));
    default:
      return nodeV8().deserialize(bytes.subarray(1));
  }
}
