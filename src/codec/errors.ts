/**
 * Errors cross a worker boundary as plain data and are rebuilt on the other side: the same
 * class for JavaScript's built-in errors, the `name`, `message`, the remote `stack`, `code`
 * and other own properties, and the whole `cause` chain (AggregateError's `errors` too).
 */

import { types } from 'node:util';

const { isProxy } = types;

/** JavaScript's built-in error classes, by name: what a rebuilt error keeps as its class. */
export const BUILTIN_ERRORS = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
} as const;
const builtins = BUILTIN_ERRORS;
type BuiltinName = keyof typeof BUILTIN_ERRORS;

/** A thrown value in transit. `thrown` is set when the value was not an Error at all. */
export interface SerializedError {
  readonly ctor: BuiltinName;
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
  readonly props?: Record<string, unknown> | undefined;
  readonly cause?: SerializedError | undefined;
  readonly errors?: SerializedError[] | undefined;
  readonly thrown?: { value: unknown } | undefined;
}

const MAX_DEPTH = 8;

/*
 * A task may throw anything, including values that throw when read: a Proxy whose traps throw,
 * a revoked Proxy, an error whose `message`, `name` or `stack` getter throws. The record is
 * therefore built from guarded reads only, and never lets such a value's own exception escape:
 * an escape would crash the worker (misreported as ERR_WORKER_CRASHED, and retried), or on the
 * inline backend the caller itself. What cannot be read is described as such.
 */

type Read = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/** Read `object[key]` without letting a getter or a proxy trap throw through. */
function read(object: object, key: PropertyKey): Read {
  try {
    return { ok: true, value: (object as Record<PropertyKey, unknown>)[key] };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Whether `value instanceof Ctor`, false when asking throws (a proxy's getPrototypeOf trap). */
function isInstance(value: unknown, Ctor: abstract new (...args: never[]) => unknown): boolean {
  try {
    return value instanceof Ctor;
  } catch {
    return false;
  }
}

/**
 * A one-line description of any value, for messages; never throws. Values that are not plain
 * data may run code of their own (getters, `toJSON`, `toString`): anything they throw is caught.
 */
export function safeDescription(value: unknown, depth = 0): string {
  try {
    if (typeof value === 'string') return value;
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return String(value);
    if (isProxy(value)) return 'a Proxy';
    if (isInstance(value, Error) && depth < 2) {
      const name = read(value as object, 'name');
      const message = read(value as object, 'message');
      const nameText = name.ok && typeof name.value === 'string' ? name.value : 'Error';
      if (!message.ok) return `${nameText} (its message could not be read)`;
      return message.value ? `${nameText}: ${safeDescription(message.value, depth + 1)}` : nameText;
    }
    return JSON.stringify(value) ?? String(value);
  } catch {
    try {
      return String(value);
    } catch {
      return `${typeof value === 'function' ? 'a function' : 'an object'} that cannot be described`;
    }
  }
}

/** The record of a part of an error that could not be read (no stack: it was never thrown). */
function unreadable(message: string): SerializedError {
  return { ctor: 'Error', name: 'Error', message };
}

/** How a read failed, for the record: what the getter or trap threw, described safely. */
function failedRead(what: string, read: Read & { ok: false }): string {
  return `(${what} could not be read: ${safeDescription(read.error)})`;
}

function builtinOf(error: object): BuiltinName {
  try {
    for (let proto = Object.getPrototypeOf(error); proto; proto = Object.getPrototypeOf(proto)) {
      for (const name of Object.keys(builtins) as BuiltinName[]) {
        if (proto === builtins[name].prototype) return name;
      }
    }
  } catch {
    // A proxy's getPrototypeOf trap threw: a plain Error is the best we can say.
  }
  return 'Error';
}

/** Keep only own properties that are plain data, so the record always crosses. */
function plainProps(error: object): Record<string, unknown> | undefined {
  let props: Record<string, unknown> | undefined;
  let keys: string[];
  try {
    keys = Object.keys(error);
  } catch {
    keys = [];
  }
  for (const key of keys) {
    if (key === 'message' || key === 'stack' || key === 'cause' || key === 'errors') continue;
    const value = read(error, key);
    if (value.ok && isPlainData(value.value, 0)) (props ??= {})[key] = value.value;
  }
  // `code` is often non-enumerable on library errors; keep it anyway.
  const code = read(error, 'code');
  if (code.ok && code.value !== undefined && !(props && 'code' in props) && isPlainData(code.value, 0)) {
    (props ??= {}).code = code.value;
  }
  return props;
}

/**
 * Whether a value is plain data that any boundary can carry as it is. It runs none of the
 * value's own code: a proxy is never plain, and an object counts only if its own properties are
 * data properties (a getter could throw, or answer differently when the value is cloned).
 */
export function isPlainData(value: unknown, depth: number): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return true;
    case 'object': {
      if (depth > 4 || isProxy(value)) return false;
      const proto = Object.getPrototypeOf(value);
      if (proto === Date.prototype) return true;
      if (proto !== Object.prototype && proto !== null && !Array.isArray(value)) return false;
      if (Array.isArray(value) && proto !== Array.prototype) return false;
      for (const descriptor of Object.values(Object.getOwnPropertyDescriptors(value))) {
        if (!('value' in descriptor) || !isPlainData(descriptor.value, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** Turn anything a task threw into a record that crosses any boundary. Never throws. */
export function serializeError(value: unknown, depth = 0): SerializedError {
  if (!isInstance(value, Error)) {
    return {
      ctor: 'Error',
      name: 'Error',
      message: describeThrown(value),
      thrown: isPlainData(value, 0) ? { value } : undefined,
    };
  }
  const error = value as object;
  const name = read(error, 'name');
  const message = read(error, 'message');
  const stack = read(error, 'stack');
  const cause = depth < MAX_DEPTH ? read(error, 'cause') : undefined;
  return {
    ctor: builtinOf(error),
    name: name.ok ? (typeof name.value === 'string' ? name.value : safeDescription(name.value)) : 'Error',
    message: message.ok
      ? typeof message.value === 'string'
        ? message.value
        : safeDescription(message.value)
      : failedRead('its message', message),
    stack: stack.ok && typeof stack.value === 'string' ? stack.value : undefined,
    props: plainProps(error),
    cause: !cause
      ? undefined
      : cause.ok
        ? cause.value === undefined
          ? undefined
          : serializeError(cause.value, depth + 1)
        : unreadable(failedRead('its cause', cause)),
    errors: isInstance(error, AggregateError) && depth < MAX_DEPTH ? aggregated(error, depth) : undefined,
  };
}

/** An AggregateError's `errors`, each serialized (what cannot be read is left out). */
function aggregated(error: object, depth: number): SerializedError[] | undefined {
  const errors = read(error, 'errors');
  if (!errors.ok) return undefined;
  try {
    if (!Array.isArray(errors.value)) return undefined;
    const list = errors.value as unknown[];
    const out: SerializedError[] = [];
    for (let i = 0; i < list.length; i++) {
      const item = read(list, i);
      out.push(
        item.ok ? serializeError(item.value, depth + 1) : unreadable(failedRead(`errors[${i}]`, item)),
      );
    }
    return out;
  } catch {
    return undefined;
  }
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  return `Non-error value thrown: ${safeDescription(value)}`;
}

/** Rebuild a serialized error: same built-in class, name, message, remote stack, own properties, cause chain. */
export function deserializeError(record: SerializedError): unknown {
  if (record.thrown) return record.thrown.value;
  const Ctor = builtins[record.ctor] ?? Error;
  const error: Error =
    Ctor === AggregateError
      ? new AggregateError((record.errors ?? []).map(deserializeError), record.message)
      : new (Ctor as ErrorConstructor)(record.message);
  if (record.name !== error.name) {
    Object.defineProperty(error, 'name', { value: record.name, writable: true, configurable: true });
  }
  if (record.stack !== undefined) {
    Object.defineProperty(error, 'stack', { value: record.stack, writable: true, configurable: true });
  }
  if (record.props) Object.assign(error, record.props);
  if (record.cause) {
    Object.defineProperty(error, 'cause', {
      value: deserializeError(record.cause),
      writable: true,
      configurable: true,
    });
  }
  return error;
}
