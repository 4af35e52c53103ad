/**
 * How `fanout run` writes a value as one line, without losing it.
 *
 * A value that JSON represents exactly (strings, booleans, null, finite numbers other than -0,
 * and arrays and plain objects of those) is written as plain JSON. Everything else is written in a
 * tagged form: an object whose `"$fanout"` member names what it is.
 *
 * | value                          | written as                                                   |
 * |--------------------------------|--------------------------------------------------------------|
 * | `undefined`                    | `{"$fanout":"undefined"}`                                    |
 * | a hole in an array             | `{"$fanout":"hole"}` (only as an array element)              |
 * | NaN, Infinity, -Infinity, -0   | `{"$fanout":"number","value":"NaN"}` (the number as text)    |
 * | a BigInt                       | `{"$fanout":"bigint","value":"-123"}` (decimal)              |
 * | a Date                         | `{"$fanout":"Date","value":"<ISO 8601>"}` (null if invalid)  |
 * | a RegExp                       | `{"$fanout":"RegExp","source":"a+","flags":"gi"}`            |
 * | a Map                          | `{"$fanout":"Map","entries":[[key, value], ...]}`            |
 * | a Set                          | `{"$fanout":"Set","values":[...]}`                           |
 * | a typed array                  | `{"$fanout":"Float64Array","values":[...]}` (its class)      |
 * | ArrayBuffer, SharedArrayBuffer, DataView | `{"$fanout":"ArrayBuffer","base64":"..."}` (its class) |
 * | an Error                       | `{"$fanout":"Error","name":..,"message":..,"stack":..,"cause":..,"props":{..}}` |
 * | a boxed primitive              | `{"$fanout":"Number","value":...}` (Number, String, Boolean, BigInt) |
 * | a plain object with a `"$fanout"` key of its own | `{"$fanout":"Object","entries":[[key, value], ...]}` |
 *
 * Members (keys, values, elements, entries) are written by the same rules, so a reader decodes
 * unambiguously: an object with a `"$fanout"` member is a tag, any other object or array is plain
 * data whose members are decoded alike. A user's object that happens to have a `"$fanout"` key is
 * never mistaken for a tag, because it is written in the `Object` form.
 *
 * What no line can hold (a function, a symbol, a class instance, a value that contains itself)
 * throws `Unwritable`, naming what and where; a value reached twice is simply written twice.
 */

/** The member that marks a tagged value (and, at the top level, an error record). */
export const TAG = '$fanout';

/** A value that cannot be written as a line; the message says what and where. */
export class Unwritable extends Error {}

/** The line for `value` (without the newline). Throws `Unwritable`. */
export function encodeLine(value: unknown): string {
  // The overwhelmingly common results first: no walk, no intermediate tree.
  if (typeof value === 'number' && exactNumber(value)) return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return JSON.stringify(new Encoder().encode(value));
}

/** Whether JSON writes `n` exactly (and `String(n)` is its JSON). */
export function exactNumber(n: number): boolean {
  return Number.isFinite(n) && !Object.is(n, -0);
}

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);

const ERROR_PROTOTYPES = new Set<unknown>([
  Error.prototype,
  TypeError.prototype,
  RangeError.prototype,
  SyntaxError.prototype,
  ReferenceError.prototype,
  EvalError.prototype,
  URIError.prototype,
]);

const BOXED = new Map<unknown, string>([
  [Number.prototype, 'Number'],
  [String.prototype, 'String'],
  [Boolean.prototype, 'Boolean'],
  [BigInt.prototype, 'BigInt'],
]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const HOLE: Json = { [TAG]: 'hole' };

/**
 * One value's walk. The path to the member being written is kept as a stack of steps and only
 * turned into text for a message, so a large array costs no string per element.
 */
class Encoder {
  private readonly path: string[] = [];
  /** The containers being written, outermost first: meeting one again is a cycle. */
  private readonly open = new Set<object>();

  encode(value: unknown): Json {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        return exactNumber(value)
          ? value
          : { [TAG]: 'number', value: Object.is(value, -0) ? '-0' : String(value) };
      case 'undefined':
        return { [TAG]: 'undefined' };
      case 'bigint':
        return { [TAG]: 'bigint', value: value.toString() };
      case 'symbol':
        throw this.unwritable('a symbol');
      case 'function':
        throw this.unwritable(`a function (${(value as { name?: string }).name || 'anonymous'})`);
    }
    if (value === null) return null;
    const object = value as object;
    if (this.open.has(object)) throw this.unwritable('a reference to a value that contains it (a cycle)');
    this.open.add(object);
    try {
      return this.encodeObject(object);
    } finally {
      this.open.delete(object);
    }
  }

  private encodeObject(object: object): Json {
    const proto = Object.getPrototypeOf(object);
    if (proto === Object.prototype || proto === null)
      return this.plainObject(object as Record<string, unknown>);
    if (Array.isArray(object) && proto === Array.prototype) {
      const out: Json[] = new Array(object.length);
      for (let i = 0; i < object.length; i++) {
        const element: unknown = object[i];
        out[i] = element === undefined && !(i in object) ? HOLE : this.member(`[${i}]`, element);
      }
      return out;
    }
    if (object instanceof Map && proto === Map.prototype) {
      const entries: Json[] = [];
      for (const [key, value] of object) {
        entries.push([this.member('<map key>', key), this.member(`.get(${safeString(key)})`, value)]);
      }
      return { [TAG]: 'Map', entries };
    }
    if (object instanceof Set && proto === Set.prototype) {
      const values: Json[] = [];
      for (const value of object) values.push(this.member('<set member>', value));
      return { [TAG]: 'Set', values };
    }
    if (object instanceof Date && proto === Date.prototype) {
      const time = object.getTime();
      return { [TAG]: 'Date', value: Number.isNaN(time) ? null : object.toISOString() };
    }
    if (object instanceof RegExp && proto === RegExp.prototype) {
      return { [TAG]: 'RegExp', source: object.source, flags: object.flags };
    }
    if (Object.getPrototypeOf(proto) === TypedArrayPrototype) {
      const array = object as unknown as ArrayLike<number | bigint>;
      const values: Json[] = new Array(array.length);
      for (let i = 0; i < array.length; i++) values[i] = this.member(`[${i}]`, array[i]);
      return { [TAG]: (object as { [Symbol.toStringTag]: string })[Symbol.toStringTag], values };
    }
    if (
      proto === ArrayBuffer.prototype ||
      proto === SharedArrayBuffer.prototype ||
      proto === DataView.prototype
    ) {
      const bytes = ArrayBuffer.isView(object)
        ? new Uint8Array(object.buffer, object.byteOffset, object.byteLength)
        : new Uint8Array(object as ArrayBuffer);
      return { [TAG]: proto.constructor.name, base64: Buffer.from(bytes).toString('base64') };
    }
    if (ERROR_PROTOTYPES.has(proto)) return this.error(object as Error);
    const boxed = BOXED.get(proto);
    if (boxed) return { [TAG]: boxed, value: this.encode((object as { valueOf(): unknown }).valueOf()) };
    const name = (proto as { constructor?: { name?: string } }).constructor?.name || '(anonymous)';
    throw this.unwritable(
      `an instance of class ${name} (only plain data is written: its class would be lost)`,
    );
  }

  private plainObject(object: Record<string, unknown>): Json {
    const keys = Object.keys(object);
    if (keys.includes(TAG)) {
      return { [TAG]: 'Object', entries: keys.map((key) => [key, this.member(`.${key}`, object[key])]) };
    }
    const out: Record<string, Json> = {};
    for (const key of keys) {
      const value = this.member(`.${key}`, object[key]);
      // `out.__proto__ = x` would set the prototype instead of writing the key.
      if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true });
      else out[key] = value;
    }
    return out;
  }

  private error(error: Error): Json {
    const out: Record<string, Json> = {
      [TAG]: 'Error',
      name: String(error.name),
      message: String(error.message),
    };
    if (typeof error.stack === 'string') out.stack = error.stack;
    if (Object.hasOwn(error, 'cause')) out.cause = this.member('.cause', error.cause);
    const keys = Object.keys(error);
    if (keys.length > 0) {
      const props: Record<string, unknown> = {};
      for (const key of keys) props[key] = (error as unknown as Record<string, unknown>)[key];
      out.props = this.member('', props);
    }
    return out;
  }

  private member(step: string, value: unknown): Json {
    // Primitives JSON holds exactly need no path: the common element of a large array.
    if (typeof value === 'string' || typeof value === 'boolean' || value === null) return value as Json;
    if (typeof value === 'number' && exactNumber(value)) return value;
    this.path.push(step);
    const encoded = this.encode(value);
    this.path.pop();
    return encoded;
  }

  private unwritable(what: string): Unwritable {
    return new Unwritable(`${what} at ${this.path.join('') || 'the top level'}`);
  }
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    return typeof value;
  }
}
