/**
 * How errors cross every boundary: `toWire` turns anything thrown into a record of plain data,
 * `fromWire` rebuilds it on the other side. Every transport uses this one pair: worker threads
 * and processes (in their messages), the redis backend (in a job's result and in its failure),
 * and the worker runtime (batch failures, crashes). A rebuilt error keeps its class (JavaScript's
 * built-in ones, and fanout's own: a `TaskModuleLoadError` comes back as one, with its `module`),
 * its `name`, `message`, the remote `stack`, `code` and other own properties, and the whole
 * `cause` chain (AggregateError's `errors` too). Nothing is ever read back out of a message.
 */

import { isProxy } from 'node:util/types';
import {
  FanoutError,
  guardedInstanceOf as isInstance,
  type Read,
  guardedRead as read,
  rebuildFanoutError,
  safeDescription,
} from '../errors.js';

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
export interface WireError {
  readonly ctor: BuiltinName;
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
  readonly props?: Record<string, unknown> | undefined;
  readonly cause?: WireError | undefined;
  readonly errors?: WireError[] | undefined;
  readonly thrown?: { value: unknown } | undefined;
  /** One of fanout's errors (its class is rebuilt from `props.code`). */
  readonly fanout?: true | undefined;
}

const MAX_DEPTH = 8;

/*
 * A task may throw anything, including values that throw when read (see errors.ts). The record
 * is therefore built from guarded reads only, and never lets such a value's own exception
 * escape: an escape would crash the worker (misreported as ERR_WORKER_CRASHED, and retried), or
 * on the inline backend the caller itself. What cannot be read is described as such.
 */

/** The record of a part of an error that could not be read (no stack: it was never thrown). */
function unreadable(message: string): WireError {
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

/** Turn anything thrown into a record that crosses any boundary. Never throws. */
export function toWire(value: unknown, depth = 0): WireError {
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
          : toWire(cause.value, depth + 1)
        : unreadable(failedRead('its cause', cause)),
    errors: isInstance(error, AggregateError) && depth < MAX_DEPTH ? aggregated(error, depth) : undefined,
    fanout: isInstance(error, FanoutError) ? true : undefined,
  };
}

/** An AggregateError's `errors`, each serialized (what cannot be read is left out). */
function aggregated(error: object, depth: number): WireError[] | undefined {
  const errors = read(error, 'errors');
  if (!errors.ok) return undefined;
  try {
    if (!Array.isArray(errors.value)) return undefined;
    const list = errors.value as unknown[];
    const out: WireError[] = [];
    for (let i = 0; i < list.length; i++) {
      const item = read(list, i);
      out.push(item.ok ? toWire(item.value, depth + 1) : unreadable(failedRead(`errors[${i}]`, item)));
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

/**
 * Rebuild what `toWire` recorded: the thrown value itself when it was not an Error; else an
 * error of the same class (fanout's own, or a built-in one), name, message, remote stack, own
 * properties and cause chain.
 */
export function fromWire(record: WireError): unknown {
  if (record.thrown) return record.thrown.value;
  const error = (record.fanout && rebuildFanoutError(record.props?.code, record.message)) || builtin(record);
  if (record.name !== error.name) {
    Object.defineProperty(error, 'name', { value: record.name, writable: true, configurable: true });
  }
  if (record.stack !== undefined) {
    Object.defineProperty(error, 'stack', { value: record.stack, writable: true, configurable: true });
  }
  if (record.props) Object.assign(error, record.props);
  if (record.cause) {
    Object.defineProperty(error, 'cause', {
      value: fromWire(record.cause),
      writable: true,
      configurable: true,
    });
  }
  return error;
}

/** `fromWire` where an Error is needed: a thrown value that was not one is described in one. */
export function errorFromWire(record: WireError): Error {
  const rebuilt = fromWire(record);
  return rebuilt instanceof Error ? rebuilt : new Error(record.message);
}

function builtin(record: WireError): Error {
  const Ctor = builtins[record.ctor] ?? Error;
  return Ctor === AggregateError
    ? new AggregateError((record.errors ?? []).map(fromWire), record.message)
    : new (Ctor as ErrorConstructor)(record.message);
}

/**
 * Why one item of a batch has no value, as a backend hands it to the scheduler: it threw
 * (`error` is what it threw, rebuilt), or its result cannot cross back (`problem`, worded by
 * codec/crossing.ts to follow "the result of item N").
 */
export type ItemFailure =
  | { readonly offset: number; readonly kind: 'threw'; readonly error: unknown }
  | { readonly offset: number; readonly kind: 'not-cloneable'; readonly problem: string };

/** The same, in transit: what was thrown is a `WireError`. */
export type WireItemFailure =
  | { readonly offset: number; readonly kind: 'threw'; readonly error: WireError }
  | { readonly offset: number; readonly kind: 'not-cloneable'; readonly problem: string };

export function failuresFromWire(failures: readonly WireItemFailure[]): ItemFailure[] {
  return failures.map((f) => (f.kind === 'threw' ? { ...f, error: fromWire(f.error) } : f));
}

export function failuresToWire(failures: readonly ItemFailure[]): WireItemFailure[] {
  return failures.map((f) => (f.kind === 'threw' ? { ...f, error: toWire(f.error) } : f));
}
