/**
 * A canonical hash of a task's arguments: equal arguments give equal digests however they were
 * built. Object key order, Map and Set insertion order and which copy of a shared object is
 * referenced do not matter; types do (`1`, `1n`, `'1'` and `[1]` differ). Typed arrays hash
 * by their type, length and bytes, straight from their memory.
 *
 * Every value that can cross a worker boundary can be hashed, so an argument accepted by
 * `pool.map` is accepted here too. Anything else (functions, symbols, class instances)
 * throws a `CacheError` that names where the value is.
 *
 * The encoding is a stream of tagged tokens, each prefix-free (tag, then a length or a fixed
 * width, then bytes), written into a small buffer that is fed to the digest in large pieces:
 * hashing an array of a million numbers makes a few dozen `update` calls, not a million.
 */

import type { Hash } from 'node:crypto';
import { nodeCrypto } from '../builtins.js';
import { BUILTIN_ERRORS } from '../codec/errors.js';
import { CacheError } from '../errors.js';

/** The digest algorithm of keys and checksums: fast where CPUs have SHA extensions. */
export const HASH_ALGORITHM = 'sha256';

const BUFFER_SIZE = 64 * 1024;
/** Views at least this large are fed to the digest directly instead of through the buffer. */
const DIRECT_BYTES = 4096;

/** One byte before each token says what follows. */
const Tag = {
  Undefined: 0x01,
  Null: 0x02,
  True: 0x03,
  False: 0x04,
  Number: 0x05,
  BigInt: 0x06,
  String: 0x07,
  Array: 0x08,
  Object: 0x09,
  Date: 0x0a,
  RegExp: 0x0b,
  Map: 0x0c,
  Set: 0x0d,
  TypedArray: 0x0e,
  DataView: 0x0f,
  ArrayBuffer: 0x10,
  SharedArrayBuffer: 0x11,
  Boxed: 0x12,
  Error: 0x13,
  Cycle: 0x14,
  Ignored: 0x15,
} as const;
type Tag = (typeof Tag)[keyof typeof Tag];

const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
const typedArrayTag = Object.getOwnPropertyDescriptor(TypedArrayProto, Symbol.toStringTag)?.get as (
  this: unknown,
) => string | undefined;

/** Marks an ignored argument: hashed as a fixed token, shown as `<ignored>` in summaries. */
export const IGNORED: unique symbol = Symbol('fanout.memory.ignored');

/** Buffered writer of tokens into a digest. */
class Writer {
  private readonly buffer = Buffer.allocUnsafe(BUFFER_SIZE);
  private readonly view = new DataView(this.buffer.buffer, this.buffer.byteOffset, BUFFER_SIZE);
  private used = 0;

  constructor(private readonly hash: Hash) {}

  private room(bytes: number): void {
    if (this.used + bytes > BUFFER_SIZE) this.flush();
  }

  flush(): void {
    if (this.used > 0) this.hash.update(this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  tag(tag: Tag): void {
    this.room(1);
    this.buffer[this.used++] = tag;
  }

  u32(value: number): void {
    this.room(4);
    this.view.setUint32(this.used, value, true);
    this.used += 4;
  }

  f64(value: number): void {
    this.room(8);
    // Every NaN is the same argument; -0 stays distinct from 0 (1 / -0 differs from 1 / 0).
    this.view.setFloat64(this.used, Number.isNaN(value) ? Number.NaN : value, true);
    this.used += 8;
  }

  string(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.u32(length);
    if (length > BUFFER_SIZE / 2) {
      this.flush();
      this.hash.update(value, 'utf8');
      return;
    }
    this.room(length);
    this.used += this.buffer.write(value, this.used, 'utf8');
  }

  bytes(view: Uint8Array): void {
    this.u32(view.byteLength);
    if (view.byteLength >= DIRECT_BYTES) {
      this.flush();
      this.hash.update(view);
      return;
    }
    this.room(view.byteLength);
    this.buffer.set(view, this.used);
    this.used += view.byteLength;
  }

  digest(): Buffer {
    this.flush();
    return this.hash.digest();
  }
}

/** Walks a value, writing its canonical tokens; tracks the path for error messages. */
class Walker {
  /** Objects on the path from the root to the current value, with their depth (cycles). */
  private readonly ancestors = new Map<object, number>();
  private readonly path: string[] = [];

  constructor(private readonly out: Writer) {}

  value(value: unknown): void {
    const out = this.out;
    switch (typeof value) {
      case 'number':
        out.tag(Tag.Number);
        out.f64(value);
        return;
      case 'string':
        out.tag(Tag.String);
        out.string(value);
        return;
      case 'boolean':
        out.tag(value ? Tag.True : Tag.False);
        return;
      case 'undefined':
        out.tag(Tag.Undefined);
        return;
      case 'bigint':
        out.tag(Tag.BigInt);
        out.string(value.toString(16));
        return;
      case 'symbol':
        if (value === IGNORED) {
          out.tag(Tag.Ignored);
          return;
        }
        throw this.unhashable(`a symbol (${String(value)})`);
      case 'function':
        throw this.unhashable(`a function (${(value as { name?: string }).name || 'anonymous'})`);
      default:
        if (value === null) out.tag(Tag.Null);
        else this.object(value as object);
    }
  }

  private object(value: object): void {
    const depth = this.ancestors.get(value);
    if (depth !== undefined) {
      // A cycle: refer to the ancestor by its distance, which does not depend on identity.
      this.out.tag(Tag.Cycle);
      this.out.u32(this.ancestors.size - depth);
      return;
    }
    this.ancestors.set(value, this.ancestors.size);
    try {
      this.objectBody(value);
    } finally {
      this.ancestors.delete(value);
    }
  }

  private objectBody(value: object): void {
    const out = this.out;
    if (Array.isArray(value)) {
      out.tag(Tag.Array);
      out.u32(value.length);
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (typeof item === 'object' || typeof item === 'function' || typeof item === 'symbol') {
          this.path.push(`[${i}]`);
          this.value(item);
          this.path.pop();
        } else {
          this.value(item);
        }
      }
      return;
    }
    if (ArrayBuffer.isView(value)) {
      const kind = typedArrayTag.call(value);
      out.tag(kind === undefined ? Tag.DataView : Tag.TypedArray);
      // A Buffer hashes as the Uint8Array it becomes when it crosses a boundary.
      if (kind !== undefined) out.string(kind);
      out.bytes(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      return;
    }
    if (value instanceof ArrayBuffer) {
      out.tag(Tag.ArrayBuffer);
      out.bytes(new Uint8Array(value));
      return;
    }
    if (typeof SharedArrayBuffer === 'function' && value instanceof SharedArrayBuffer) {
      out.tag(Tag.SharedArrayBuffer);
      out.bytes(new Uint8Array(value));
      return;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      this.plainObject(value as Record<string, unknown>, Tag.Object);
      return;
    }
    if (proto === Date.prototype) {
      out.tag(Tag.Date);
      out.f64((value as Date).getTime());
      return;
    }
    if (proto === RegExp.prototype) {
      out.tag(Tag.RegExp);
      out.string((value as RegExp).source);
      out.string((value as RegExp).flags);
      return;
    }
    if (proto === Map.prototype) {
      this.unordered(Tag.Map, value as Map<unknown, unknown>, true);
      return;
    }
    if (proto === Set.prototype) {
      this.unordered(Tag.Set, value as Set<unknown>, false);
      return;
    }
    if (
      proto === Number.prototype ||
      proto === String.prototype ||
      proto === Boolean.prototype ||
      proto === BigInt.prototype
    ) {
      out.tag(Tag.Boxed);
      this.value((value as { valueOf(): unknown }).valueOf());
      return;
    }
    if (value instanceof Error && isBuiltinErrorProto(proto)) {
      this.error(value);
      return;
    }
    const name = (value as { constructor?: { name?: string } }).constructor?.name || '(anonymous)';
    throw this.unhashable(`an instance of class ${name}`);
  }

  /** Own enumerable string keys, sorted, so key order does not matter. */
  private plainObject(value: Record<string, unknown>, tag: Tag): void {
    const out = this.out;
    if (
      Object.getOwnPropertySymbols(value).some((s) => Object.prototype.propertyIsEnumerable.call(value, s))
    ) {
      throw this.unhashable('an object with symbol keys');
    }
    const keys = Object.keys(value).sort();
    out.tag(tag);
    out.u32(keys.length);
    for (const key of keys) {
      out.string(key);
      this.path.push(/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`);
      this.value(value[key]);
      this.path.pop();
    }
  }

  private error(value: Error): void {
    const out = this.out;
    out.tag(Tag.Error);
    out.string(value.name);
    out.string(value.message);
    const rest: Record<string, unknown> = {};
    for (const key of Object.keys(value)) rest[key] = (value as unknown as Record<string, unknown>)[key];
    if ('cause' in value) rest.cause = value.cause;
    // The stack says where the error was made, not what it is.
    delete rest.stack;
    this.plainObject(rest, Tag.Object);
  }

  /**
   * A Map or Set: each entry gets its own digest and the sorted digests are written, so
   * insertion order does not matter.
   */
  private unordered(tag: Tag, collection: Map<unknown, unknown> | Set<unknown>, pairs: boolean): void {
    const digests: Buffer[] = [];
    const label = pairs ? '<map entry>' : '<set member>';
    for (const entry of collection) {
      const sub = new Walker(new Writer(nodeCrypto().createHash(HASH_ALGORITHM)));
      // Share the path and the ancestors, so cycles through a Map and errors inside it still resolve.
      sub.inherit(this, label);
      if (pairs) {
        const [k, v] = entry as [unknown, unknown];
        sub.value(k);
        sub.value(v);
      } else {
        sub.value(entry);
      }
      digests.push(sub.out.digest());
    }
    digests.sort(Buffer.compare);
    this.out.tag(tag);
    this.out.u32(digests.length);
    for (const digest of digests) this.out.bytes(digest);
  }

  private inherit(parent: Walker, label: string): void {
    for (const [object, depth] of parent.ancestors) this.ancestors.set(object, depth);
    this.path.push(...parent.path, label);
  }

  private unhashable(what: string): CacheError {
    const [position = '?', ...inside] = this.path;
    const where = inside.length > 0 ? `it holds ${what} at ${inside.join('')}` : `it is ${what}`;
    return new CacheError(
      `Cannot hash argument ${position} of a cached task: ${where}. Only plain data (what can cross to a worker) can be hashed: pass plain data, or leave the argument out of the key with \`ignore\``,
    );
  }

  /** The path starts with the argument's position. */
  enter(segment: string): void {
    this.path.push(segment);
  }

  leave(): void {
    this.path.pop();
  }
}

const builtinErrorProtos = new Set<unknown>(Object.values(BUILTIN_ERRORS).map((Ctor) => Ctor.prototype));

function isBuiltinErrorProto(proto: unknown): boolean {
  return builtinErrorProtos.has(proto);
}

/**
 * Feed a canonical encoding of `args` into a new digest that already holds `prefix`, and
 * return the hex digest. Throws `CacheError` for a value that cannot be hashed.
 */
export function hashArguments(prefix: string, args: readonly unknown[]): string {
  const writer = new Writer(nodeCrypto().createHash(HASH_ALGORITHM).update(prefix));
  const walker = new Walker(writer);
  writer.u32(args.length);
  for (let i = 0; i < args.length; i++) {
    walker.enter(String(i));
    walker.value(args[i]);
    walker.leave();
  }
  return writer.digest().toString('hex');
}

/** The hex digest of a value's canonical encoding (used by tests and the benchmark). */
export function hashValue(value: unknown): string {
  return hashArguments('', [value]);
}
