/**
 * What one cache entry holds: the result, encoded to round-trip exactly what a task may return
 * (and what crosses a worker boundary): the V8 serializer, the same format the processes
 * backend uses on its wire. Maps, Sets, Dates, BigInts, typed arrays, nested and cyclic
 * structures, -0 and NaN all come back as they went in.
 *
 * `output.bin` frames the serialized bytes with a checksum, so a truncated or damaged file
 * is always detected, never decoded into a wrong value:
 *
 * ```
 * offset  size  field
 *      0     4  magic "FNMC"
 *      4     1  format version (1)
 *      5     1  flags: bit 0 = the task was async (a hit returns a Promise)
 *      6     2  reserved (0)
 *      8     8  payload length, little-endian
 *     16    32  SHA-256 of the payload
 *     48     …  payload: v8.serialize(result)
 * ```
 *
 * `meta.json` describes the entry for people and for `validate` (see `EntryMeta`).
 */

import { nodeCrypto, nodeUtil, nodeV8 } from '../builtins.js';
import { findUncloneable } from '../codec/crossing.js';
import { HASH_ALGORITHM, IGNORED } from './hash.js';

const MAGIC = 0x434d4e46; // "FNMC" read as a little-endian u32
const VERSION = 1;
const HEADER_BYTES = 48;
const FLAG_ASYNC = 1;

/**
 * The metadata of one cache entry, as stored in its `meta.json`; `validate` receives it.
 *
 * @example
 * ```ts
 * // reject entries older than a day
 * const fresh = (meta: EntryMeta) => Date.now() - Date.parse(meta.created) < 86_400_000;
 * ```
 */
export interface EntryMeta {
  /** Layout version of the entry. */
  readonly version: 1;
  /** The task module's URL. */
  readonly module: string;
  /** The task's name in its module. */
  readonly name: string;
  /** The entry's key (its folder name). */
  readonly key: string;
  /** The hash of the task module's source when the entry was computed. */
  readonly code: string;
  /** When the result was computed (ISO 8601). */
  readonly created: string;
  /** How long the computation took, in ms. */
  readonly duration: number;
  /** A readable, possibly shortened summary of the arguments (`<ignored>` marks ignored ones). */
  readonly args: string;
  /** Size of `output.bin` in bytes. */
  readonly size: number;
  /** Whether the task returned a Promise (a hit then returns one too). */
  readonly async: boolean;
}

/** Encode a result for `output.bin`, or say why it cannot be cached. */
export function encodeOutput(value: unknown, async: boolean): { bytes: Buffer } | { problem: string } {
  // The V8 serializer would turn a class instance into a plain object: a hit would then return
  // something else than the task did. Only plain data (what crosses to a worker) is cached.
  const problem = findUncloneable(value);
  if (problem) return { problem: `the result is ${problem}` };
  let payload: Buffer;
  try {
    payload = nodeV8().serialize(value);
  } catch (error) {
    return { problem: `the result cannot be serialized (${(error as Error).message})` };
  }
  const bytes = Buffer.allocUnsafe(HEADER_BYTES + payload.byteLength);
  bytes.writeUInt32LE(MAGIC, 0);
  bytes.writeUInt8(VERSION, 4);
  bytes.writeUInt8(async ? FLAG_ASYNC : 0, 5);
  bytes.writeUInt16LE(0, 6);
  bytes.writeBigUInt64LE(BigInt(payload.byteLength), 8);
  nodeCrypto().createHash(HASH_ALGORITHM).update(payload).digest().copy(bytes, 16);
  payload.copy(bytes, HEADER_BYTES);
  return { bytes };
}

/** Decode `output.bin`; throws an Error saying what is wrong with a damaged file. */
export function decodeOutput(bytes: Buffer): { value: unknown; async: boolean } {
  if (bytes.byteLength < HEADER_BYTES) throw new Error(`output.bin is truncated (${bytes.byteLength} bytes)`);
  if (bytes.readUInt32LE(0) !== MAGIC) throw new Error('output.bin does not start with the FNMC magic');
  if (bytes.readUInt8(4) !== VERSION) throw new Error(`output.bin has format version ${bytes.readUInt8(4)}`);
  const length = bytes.readBigUInt64LE(8);
  if (length !== BigInt(bytes.byteLength - HEADER_BYTES)) {
    throw new Error(`output.bin is ${bytes.byteLength - HEADER_BYTES} bytes long, expected ${length}`);
  }
  const payload = bytes.subarray(HEADER_BYTES);
  const digest = nodeCrypto().createHash(HASH_ALGORITHM).update(payload).digest();
  if (!digest.equals(bytes.subarray(16, HEADER_BYTES))) throw new Error('output.bin fails its checksum');
  return { value: nodeV8().deserialize(payload), async: (bytes.readUInt8(5) & FLAG_ASYNC) !== 0 };
}

const SUMMARY_CHARS = 500;

/** A one-line, bounded description of the arguments for `meta.json`. */
export function summarizeArguments(args: readonly unknown[]): string {
  const shown = args.map((a) => (a === IGNORED ? new Ignored() : a));
  const text = nodeUtil().inspect(shown, {
    depth: 3,
    maxArrayLength: 8,
    maxStringLength: 80,
    breakLength: Number.POSITIVE_INFINITY,
    compact: true,
  });
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS - 1)}…` : text;
}

class Ignored {
  // util.inspect.custom, without importing node:util for it.
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '<ignored>';
  }
}

/** Parse `meta.json`; throws when it is not an entry's metadata. */
export function parseMeta(text: string): EntryMeta {
  const meta = JSON.parse(text) as Partial<EntryMeta>;
  if (meta?.version !== 1 || typeof meta.key !== 'string' || typeof meta.created !== 'string') {
    throw new Error('meta.json is not a cache entry description');
  }
  return meta as EntryMeta;
}
