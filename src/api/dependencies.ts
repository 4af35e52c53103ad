/**
 * Dependencies in a task's arguments: a `TaskFuture` or a nested `delayed(...)` call, at the top
 * level or inside arrays and plain objects. A task runs once all of them have values and
 * receives the values in their places.
 *
 * The places are found once, when the call is written (`delayed(task)(...args)`, `pool.run`),
 * and recorded in the order one walk of the arguments meets them; putting the values back walks
 * the arguments again in the same order, so a graph node needs no map from dependency to value,
 * only the list of its inputs (scheduler/graph.ts).
 */

import { InvalidArgTypeError } from '../errors.js';
import { show } from '../options/checks.js';
import type { AnyFunction, Settled, TaskRef } from '../types.js';
import { TaskFuture } from './futures.js';

const delayedBrand = Symbol.for('fanout.delayed');

/** One deferred call: what `delayed(task)(...args)` returns. `R` is the task's result type. */
export interface Delayed<R = unknown> {
  readonly task: TaskRef | AnyFunction;
  readonly args: readonly unknown[];
  /** @internal type marker */
  readonly __result?: R;
}

/**
 * A value, or something that will have it: a future of it, a delayed call returning it, or
 * (for arrays and objects) the same shape with such values inside. What a task's parameter of
 * type `T` accepts from `pool.run`, `runWith` and `delayed`.
 */
export type Resolvable<T> =
  | T
  | TaskFuture<T>
  | Delayed<T>
  | (T extends AnyFunction
      ? never
      : T extends readonly unknown[]
        ? { [K in keyof T]: Resolvable<T[K]> }
        : T extends object
          ? { [K in keyof T]: Resolvable<T[K]> }
          : never);

/** A task's parameters, each `Resolvable`. */
export type ResolvableArgs<A extends readonly unknown[]> = { [K in keyof A]: Resolvable<A[K]> };

/**
 * A value with every delayed call and future inside replaced by its value's type
 * (`pool.compute`); with `Collect`, by its settled record (`errors: 'collect'`).
 */
export type Computed<T, Collect extends boolean = false> =
  T extends Delayed<infer R>
    ? Collect extends true
      ? Settled<R>
      : R
    : T extends PromiseLike<infer R>
      ? Collect extends true
        ? Settled<R>
        : R
      : T extends AnyFunction
        ? T
        : T extends readonly unknown[]
          ? { -readonly [K in keyof T]: Computed<T[K], Collect> }
          : T extends object
            ? { -readonly [K in keyof T]: Computed<T[K], Collect> }
            : T;

/** A dependency: a nested delayed call or a future. */
export type Dependency = DelayedCall | TaskFuture<unknown>;

/** Where a call's dependencies are: in walk order (one entry per place), and whether any is nested. */
export interface Dependencies {
  readonly inputs: readonly Dependency[];
  /** Some dependency sits inside an array or an object, not only at the top level. */
  readonly nested: boolean;
}

/**
 * A delayed call: the task, its arguments, and where the dependencies in them are. Graphs of
 * millions of calls keep every call alive until they are read, so a call holds as little as it
 * can: dependencies at the top level only (the usual shape: `add(a, b)`) are found again in
 * `args` when needed rather than kept in a list of their own; nested ones are kept.
 */
export class DelayedCall<R = unknown> implements Delayed<R> {
  declare readonly __result?: R;
  /**
   * @internal While a graph is read (api/graph.ts, synchronously): the number of the reading
   * that gave this call `node`. A stamp on the call instead of a Map from call to node: a
   * graph of 2 M calls read ~2× faster, and the Map was most of the garbage.
   */
  reading = 0;
  /** @internal See `reading`. */
  node = 0;
  constructor(
    readonly task: TaskRef | AnyFunction,
    readonly args: readonly unknown[],
    /** @internal 0: no dependency; 1: at the top level only; 2: some nested (see `nested`). */
    readonly shape: 0 | 1 | 2,
    /** @internal The dependencies of shape 2. */
    readonly nested: Dependencies | undefined,
  ) {}

  /** @internal The dependencies in `args`, in walk order (found again for shape 1), or undefined. */
  get dependencies(): Dependencies | undefined {
    if (this.shape === 2) return this.nested;
    if (this.shape === 0) return undefined;
    const inputs: Dependency[] = [];
    for (const arg of this.args) if (isDependency(arg)) inputs.push(arg);
    return { inputs, nested: false };
  }
}
// The brand lets a delayed call made by another copy of this module be told apart from data.
Object.defineProperty(DelayedCall.prototype, delayedBrand, { value: true });

export function isDelayed(value: unknown): value is DelayedCall {
  return value instanceof DelayedCall;
}

export function isDependency(value: unknown): value is Dependency {
  return value instanceof DelayedCall || value instanceof TaskFuture;
}

/** A plain object (literal or `Object.create(null)`): walked for dependencies, like arrays. */
function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * The dependencies in `args`, or undefined when there are none (the common case costs one
 * `typeof` per argument). Arrays and plain objects are walked; anything else is a value.
 */
export function findDependencies(args: readonly unknown[]): Dependencies | undefined {
  // The common shapes first, with no allocation: values, or dependencies at the top level.
  let inputs: Dependency[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (typeof arg !== 'object' || arg === null) continue;
    if (isDependency(arg)) (inputs ??= []).push(arg);
    else if (Array.isArray(arg) || isPlainObject(arg)) return findNested(args);
  }
  return inputs ? { inputs, nested: false } : undefined;
}

/** `findDependencies` for arguments with arrays or plain objects to walk. */
function findNested(args: readonly unknown[]): Dependencies | undefined {
  const inputs: Dependency[] = [];
  let nested = false;
  const seen = new Set<object>();
  const walk = (value: unknown, depth: number): void => {
    if (typeof value !== 'object' || value === null) return;
    if (isDependency(value)) {
      inputs.push(value);
      if (depth > 0) nested = true;
      return;
    }
    const isArray = Array.isArray(value);
    if (!isArray && !isPlainObject(value)) return;
    // A shared or cyclic container is walked once (a cycle cannot cross anyway).
    if (seen.has(value)) return;
    seen.add(value);
    // Elements that are not objects cost one typeof, no call: `pool.run(task, bigArray)`
    // walks a million numbers in about a millisecond.
    if (isArray) {
      const array = value as unknown[];
      for (let i = 0; i < array.length; i++) {
        const element = array[i];
        if (typeof element === 'object' && element !== null) walk(element, depth + 1);
      }
    } else {
      for (const key of Object.keys(value)) {
        const element = (value as Record<string, unknown>)[key];
        if (typeof element === 'object' && element !== null) walk(element, depth + 1);
      }
    }
  };
  for (const arg of args) walk(arg, 0);
  return inputs.length > 0 ? { inputs, nested } : undefined;
}

/**
 * `args` with each dependency replaced by its value: `valueAt(k)` is the value of the k-th
 * place, in the order `findDependencies` found them. Containers holding a dependency are
 * copied; the others are kept as they are.
 */
export function substitute(
  args: readonly unknown[],
  dependencies: Dependencies,
  valueAt: (place: number) => unknown,
): unknown[] {
  let place = 0;
  if (!dependencies.nested) {
    const out = new Array<unknown>(args.length);
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      out[i] = isDependency(arg) ? valueAt(place++) : arg;
    }
    return out;
  }
  // A container met again is its first copy (findDependencies walked it once).
  const copies = new Map<object, unknown>();
  const copy = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    if (isDependency(value)) return valueAt(place++);
    const isArray = Array.isArray(value);
    if (!isArray && !isPlainObject(value)) return value;
    if (copies.has(value)) return copies.get(value);
    if (isArray) {
      const out: unknown[] = [];
      copies.set(value, out);
      for (const element of value as unknown[]) out.push(copy(element));
      return out;
    }
    const out: Record<string, unknown> = {};
    copies.set(value, out);
    for (const key of Object.keys(value)) out[key] = copy((value as Record<string, unknown>)[key]);
    return out;
  };
  return args.map(copy);
}

/**
 * Defer a call of `task`: joblib's `delayed`, and Dask's. Arguments may be values, futures or
 * other delayed calls (also inside arrays and plain objects): handed to `parallel()` or
 * `pool.compute`, the nested calls run first, each once however often it is used, and the task
 * receives their values.
 *
 * @example
 * ```ts
 * const calls = [1, 2, 3].map((x) => delayed(tasks.square)(x));
 * await parallel({ nJobs: 2 })(calls); // [1, 4, 9]
 * const sum = delayed(tasks.add)(delayed(tasks.square)(3), delayed(tasks.square)(4));
 * await parallel()([sum]); // [25]
 * ```
 */
export function delayed<F extends AnyFunction>(
  task: TaskRef<F> | F,
): (...args: ResolvableArgs<Parameters<F>>) => Delayed<Awaited<ReturnType<F>>> {
  if (typeof task !== 'function') {
    throw new InvalidArgTypeError(
      `Expected the argument of delayed() to be a task or a function, got ${show(task)}`,
    );
  }
  return (...args) => {
    // The shape without allocating: values only, or dependencies at the top level only.
    let shape: 0 | 1 = 0;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      if (typeof arg !== 'object' || arg === null) continue;
      if (isDependency(arg)) shape = 1;
      else if (Array.isArray(arg) || isPlainObject(arg)) {
        const nested = findNested(args);
        return new DelayedCall(task, args, nested ? 2 : 0, nested);
      }
    }
    return new DelayedCall(task, args, shape, undefined);
  };
}
