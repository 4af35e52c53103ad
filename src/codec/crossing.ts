/**
 * "Can this value cross?": plain data can. Structured clone would silently turn a class
 * instance into a plain object (losing its prototype, methods and private fields) and throws a
 * bare DataCloneError on a function; fanout checks first and names the offending part instead.
 *
 * One check, `crossingProblem`, parameterised by what the backend supports: the caller's side
 * runs it on what goes to workers (arguments, a call's `context`, broadcast values; the
 * scheduler is handed it and never looks at a backend), the worker runtime on the results that
 * come back. `crossingError` words every refusal the same way.
 */

import { isProxy } from 'node:util/types';
import { NotCloneableError } from '../errors.js';

/** What a backend's boundary lets through (its `BackendSupports` has both). */
export interface CrossingRules {
  /** Values are copied to the other side: only plain data crosses. */
  readonly crossesBoundary: boolean;
  /** A SharedArrayBuffer reaches the other side (threads); false between processes. */
  readonly sharedMemory: boolean;
  /**
   * Synchronisation primitives (Lock, Queue, ...) cross as handles the other side revives
   * (threads, processes); absent or false: they are refused, naming the backend's limit.
   */
  readonly syncPrimitives?: boolean | undefined;
}

/**
 * The own property that marks a synchronisation primitive, on both sides of a boundary: its
 * value is `{ kind, key }`, all structured clone keeps of it (its state is not enumerable).
 */
export const HANDLE_MARKER = '__fanoutHandle';

/** The mark of a synchronisation primitive (or of its clone), else undefined. */
export function handleMarkOf(value: object): { kind: string; key: string } | undefined {
  if (!Object.hasOwn(value, HANDLE_MARKER)) return undefined;
  const mark = (value as Record<string, unknown>)[HANDLE_MARKER];
  if (typeof mark !== 'object' || mark === null) return undefined;
  const { kind, key } = mark as Record<string, unknown>;
  return typeof kind === 'string' && typeof key === 'string' ? { kind, key } : undefined;
}

/**
 * Why `value` cannot cross under `rules`, worded to follow its subject ("... is a function (f)
 * at .onDone"), or undefined when it can.
 */
export function crossingProblem(value: unknown, rules: CrossingRules): string | undefined {
  if (!rules.crossesBoundary) return undefined;
  const problem = findUncloneable(value, rules.syncPrimitives === true);
  if (problem) return `is ${problem}`;
  if (!rules.sharedMemory && containsSharedMemory(value)) {
    return (
      'holds a SharedArrayBuffer, which cannot reach the workers of this backend (processes share no ' +
      'memory): pass an ordinary typed array (copied), or pool.broadcast() it (copied once per worker)'
    );
  }
  return undefined;
}

/** The error of a value that cannot cross: `subject` says which value ("The broadcast value"). */
export function crossingError(subject: string, problem: string): NotCloneableError {
  return new NotCloneableError(`${subject} ${problem}`);
}

const cloneableProtos = new Set<unknown>([
  Object.prototype,
  null,
  Array.prototype,
  Date.prototype,
  RegExp.prototype,
  Map.prototype,
  Set.prototype,
  ArrayBuffer.prototype,
  SharedArrayBuffer.prototype,
  DataView.prototype,
  Error.prototype,
  TypeError.prototype,
  RangeError.prototype,
  SyntaxError.prototype,
  ReferenceError.prototype,
  EvalError.prototype,
  URIError.prototype,
  Number.prototype,
  String.prototype,
  Boolean.prototype,
  BigInt.prototype,
]);

const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);

function isCloneableProto(proto: unknown): boolean {
  return cloneableProtos.has(proto) || Object.getPrototypeOf(proto) === TypedArrayProto;
}

function kindOf(value: object): string {
  if (typeof value === 'function') return `a function (${(value as { name?: string }).name || 'anonymous'})`;
  const ctor = (value as { constructor?: { name?: string } }).constructor;
  return `an instance of class ${ctor?.name || '(anonymous)'}`;
}

/**
 * Returns a description of the first part of `value` that cannot cross a boundary, with its
 * path (e.g. `a function (onDone) at .options.onDone`), or undefined when all of it can.
 */
export function findUncloneable(value: unknown, handles = false): string | undefined {
  // Fast path for the overwhelmingly common case of a primitive item.
  const type = typeof value;
  if (type !== 'object' && type !== 'function' && type !== 'symbol') return undefined;
  if (value === null) return undefined;
  try {
    return walk(value, '', new Set(), handles);
  } catch {
    // A getter threw while the value was read: it could not be cloned either.
    return 'a value whose properties throw when read (a getter or a revoked proxy)';
  }
}

function walk(value: unknown, path: string, seen: Set<object>, handles: boolean): string | undefined {
  const type = typeof value;
  if (type === 'symbol') return `a symbol at ${path || 'the top level'}`;
  if (type === 'function') {
    if (isProxy(value)) return `a Proxy at ${path || 'the top level'}`;
    return `${kindOf(value as object)} at ${path || 'the top level'}`;
  }
  if (type !== 'object' || value === null) return undefined;
  const object = value as object;
  // Structured clone refuses proxies, and reading one runs its traps.
  if (isProxy(object)) return `a Proxy at ${path || 'the top level'}`;
  if (seen.has(object)) return undefined;
  seen.add(object);
  const mark = handleMarkOf(object);
  if (mark) {
    if (handles) return undefined;
    return `a ${mark.kind} at ${path || 'the top level'}: synchronisation primitives work on the inline, threads and processes backends only (on redis they would need state kept in Redis itself, not built yet)`;
  }
  const proto = Object.getPrototypeOf(object);
  if (!isCloneableProto(proto)) {
    return `${kindOf(object)} at ${path || 'the top level'} (only plain data crosses: its prototype, methods and private fields would be lost)`;
  }
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer || object instanceof SharedArrayBuffer) {
    return undefined;
  }
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      const item: unknown = object[i];
      if (typeof item === 'object' || typeof item === 'function' || typeof item === 'symbol') {
        const found = walk(item, `${path}[${i}]`, seen, handles);
        if (found) return found;
      }
    }
    return undefined;
  }
  if (object instanceof Map) {
    for (const [k, v] of object) {
      const found =
        walk(k, `${path}<map key>`, seen, handles) ?? walk(v, `${path}.get(${String(k)})`, seen, handles);
      if (found) return found;
    }
    return undefined;
  }
  if (object instanceof Set) {
    for (const v of object) {
      const found = walk(v, `${path}<set member>`, seen, handles);
      if (found) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(object)) {
    const found = walk((object as Record<string, unknown>)[key], `${path}.${key}`, seen, handles);
    if (found) return found;
  }
  return undefined;
}

/** Whether a value holds a SharedArrayBuffer anywhere (it cannot reach another process). */
export function containsSharedMemory(value: unknown, seen = new Set<unknown>(), depth = 0): boolean {
  if (typeof value !== 'object' || value === null || seen.has(value) || depth > 32) return false;
  // A proxy (or a getter that throws) is not this check's business: findUncloneable names it.
  if (isProxy(value)) return false;
  if (depth === 0) {
    try {
      return containsSharedMemory(value, seen, 1);
    } catch {
      return false;
    }
  }
  seen.add(value);
  if (value instanceof SharedArrayBuffer) return true;
  if (ArrayBuffer.isView(value)) return value.buffer instanceof SharedArrayBuffer;
  if (value instanceof Map) {
    for (const [k, v] of value)
      if (containsSharedMemory(k, seen, depth + 1) || containsSharedMemory(v, seen, depth + 1)) return true;
    return false;
  }
  const children = value instanceof Set ? [...value] : Array.isArray(value) ? value : Object.values(value);
  return children.some((child) => containsSharedMemory(child, seen, depth + 1));
}
