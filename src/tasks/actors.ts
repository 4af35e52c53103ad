/**
 * Actor classes: registered under their module's URL like tasks (tasks.ts), so a worker finds
 * a class by importing the module itself. `pool.actor()` (api/actors.ts) makes an instance live
 * on one worker; the worker keeps it in its runtime's table (worker/task-resolver.ts).
 *
 * A handle exposes the class's methods only: the methods of its prototype chain (inherited ones
 * included, not Object's), listed here once, in the caller, so the handle is a plain object and
 * never a Proxy. Fields, getters and setters are not reached from the caller: read state through
 * a method. The registry lives on `globalThis` under a `Symbol.for` key, like the task registry.
 */

import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import type { ActorCallOptions, AnyFunction } from '../types.js';
import { normaliseModuleUrl, processRegistry } from './tasks.js';

/** A class an actor can be made of. */
// biome-ignore lint/suspicious/noExplicitAny: a constructor may take anything that crosses a boundary.
export type ActorClass = abstract new (...args: any[]) => object;

const actorBrand = Symbol.for('fanout.actor');

/**
 * A typed reference to an actor class, from `defineActors`: give it to `pool.actor()`.
 */
export interface ActorRef<C extends ActorClass = ActorClass> {
  /** The URL of the module that defined it (its `import.meta.url`). */
  readonly module: string;
  /** Its name in that module's `defineActors` call. */
  readonly className: string;
  /** The methods an actor of this class answers: its prototype chain's, inherited ones included. */
  readonly methods: readonly string[];
  /** Types only (never set): the class. */
  readonly __class?: C;
}

/** The actor references `defineActors` returns, one per class. */
export type ActorRefs<T extends Record<string, ActorClass>> = { readonly [K in keyof T]: ActorRef<T[K]> };

/** The names of an instance type's methods (fields, getters and setters are not reached). */
type MethodKeys<I> = { [K in keyof I]-?: I[K] extends AnyFunction ? K : never }[keyof I] & string;

/** A method's arguments as a caller may give them: each a value or a future (Promise) of one. */
export type ActorArgs<A extends readonly unknown[]> = { [K in keyof A]: A[K] | PromiseLike<A[K]> };

/** An actor's methods as the caller sees them: same arguments (or futures of them), results as Promises. */
export type ActorMethods<I> = {
  readonly [K in MethodKeys<I>]: I[K] extends (...args: infer A) => infer R
    ? (...args: ActorArgs<A>) => Promise<Awaited<R>>
    : never;
};

/** What a handle has besides the methods. */
export interface ActorControl<I> {
  /**
   * The same methods, each call with these options (`timeout`, `signal`).
   *
   * @example
   * ```ts
   * const total = await counter.withOptions({ timeout: 1000 }).add(5);
   * ```
   */
  withOptions(options: ActorCallOptions): ActorMethods<I>;
  /**
   * Destroy the instance once the calls made before have run (its `Symbol.asyncDispose` or
   * `Symbol.dispose` method, if any, runs in the worker), and let its worker go. Later calls
   * reject with `ERR_ACTOR_DIED`. `await using` calls it at the end of the scope.
   *
   * @example
   * ```ts
   * const c = await pool.actor(actors.Counter, 0);
   * try { await c.add(1); } finally { await c.release(); }
   * ```
   */
  release(): Promise<void>;
  /** The number of the worker the actor lives on now (it changes when the actor is rebuilt). */
  readonly worker: number;
  /** How many times the actor was rebuilt after its worker died (see `maxRestarts`). */
  readonly restarts: number;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A handle on an actor: its class's methods, returning Promises, and its control. */
export type Actor<C extends ActorClass> = ActorMethods<InstanceType<C>> & ActorControl<InstanceType<C>>;

/** Names a handle uses for itself (and `then`, which would make a handle look like a Promise). */
const RESERVED = new Set(['then', 'release', 'withOptions', 'worker', 'restarts']);

const actorRegistry = () => processRegistry<ActorClass>('fanout.actors');

/**
 * Register a module's actor classes and get typed references to them, for `pool.actor()`.
 *
 * @param moduleUrl - always `import.meta.url` of the module that calls it.
 * @param classes - the classes, by name. An actor's methods are its class's prototype methods
 *   (not fields holding arrow functions); none may be named `then`, `release`, `withOptions`,
 *   `worker` or `restarts` (the handle's own).
 * @example
 * ```ts
 * // counter.ts
 * import { defineActors } from 'fanout';
 * export default defineActors(import.meta.url, {
 *   Counter: class Counter {
 *     n: number;
 *     constructor(start: number) { this.n = start; }
 *     add(k: number) { return (this.n += k); }
 *   },
 * });
 *
 * // main.ts
 * import actors from './counter.js';
 * await using c = await pool.actor(actors.Counter, 10);
 * await c.add(5); // 15
 * ```
 */
export function defineActors<T extends Record<string, ActorClass>>(
  moduleUrl: string | URL,
  classes: T,
): ActorRefs<T> {
  const url = normaliseModuleUrl(moduleUrl, 'defineActors');
  if (typeof classes !== 'object' || classes === null) {
    throw new InvalidArgTypeError(
      `Expected the classes given to defineActors to be an object of classes, got ${classes}`,
    );
  }
  const byName = actorRegistry().get(url) ?? new Map<string, ActorClass>();
  actorRegistry().set(url, byName);
  const refs: Record<string, ActorRef> = {};
  for (const [name, Class] of Object.entries(classes)) {
    if (typeof Class !== 'function' || typeof Class.prototype !== 'object') {
      throw new InvalidArgTypeError(
        `Expected actor "${name}" given to defineActors to be a class, got ${typeof Class}`,
      );
    }
    const methods = methodNames(Class);
    const reserved = methods.find((m) => RESERVED.has(m));
    if (reserved) {
      throw new InvalidArgValueError(
        `Actor "${name}" has a method named \`${reserved}\`, which its handle needs for itself (${[...RESERVED].join(', ')}): rename it`,
      );
    }
    byName.set(name, Class);
    refs[name] = Object.freeze({ module: url, className: name, methods, [actorBrand]: true });
  }
  return refs as unknown as ActorRefs<T>;
}

/** The methods of a class's prototype chain (inherited ones included, Object's and accessors not). */
function methodNames(Class: ActorClass): string[] {
  const names = new Set<string>();
  for (
    let proto = Class.prototype;
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor') continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (descriptor && typeof descriptor.value === 'function') names.add(name);
    }
  }
  return [...names];
}

/** Whether a value is an actor reference made by `defineActors`. */
export function isActorRef(value: unknown): value is ActorRef {
  return (
    typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[actorBrand] === true
  );
}

/** The registered class for a module URL and name, if the module has registered it. */
export function lookupActor(module: string, name: string): ActorClass | undefined {
  return actorRegistry().get(module)?.get(name);
}

/** The actor names a module registered (for error messages). */
export function registeredActors(module: string): string[] {
  return [...(actorRegistry().get(module)?.keys() ?? [])];
}
