/**
 * Task modules: plain functions registered under their module's URL.
 *
 * A worker finds a task by importing the module itself (so module-level imports, constants and
 * state work there) and looking the name up in the registry that `defineTasks` fills as the
 * module runs. The registry lives on `globalThis` under a `Symbol.for` key so that two copies
 * of fanout in one process (say `src/` under tsx and `dist/`) still share it.
 */

import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import type { AnyFunction, TaskRef, TaskRefs, TaskWrapper } from '../types.js';
import { runLocally } from './context.js';

const taskBrand = Symbol.for('fanout.task');

/** Registered things by module URL, then by name. */
export type Registry<T> = Map<string, Map<string, T>>;

/**
 * The process-wide registry under `Symbol.for(key)`: one per process, even when two copies of
 * fanout are loaded (a program's and a task module's), so both see the same registrations.
 */
export function processRegistry<T>(key: string): Registry<T> {
  const symbol = Symbol.for(key);
  const holder = globalThis as unknown as Record<symbol, Registry<T> | undefined>;
  let found = holder[symbol];
  if (!found) {
    found = new Map();
    holder[symbol] = found;
  }
  return found;
}

const taskRegistry = (): Registry<AnyFunction> => processRegistry('fanout.registry');

/** `import.meta.url` as given to `defineTasks` or `defineActors` (`fn`), as a URL string. */
export function normaliseModuleUrl(moduleUrl: unknown, fn = 'defineTasks'): string {
  if (moduleUrl instanceof URL) return moduleUrl.href;
  if (typeof moduleUrl !== 'string') {
    throw new InvalidArgTypeError(
      `Expected the first argument of ${fn} to be the module's URL (import.meta.url), got ${typeof moduleUrl}`,
    );
  }
  try {
    return new URL(moduleUrl).href;
  } catch {
    throw new InvalidArgValueError(
      `Expected the first argument of ${fn} to be the module's URL (import.meta.url), got ${JSON.stringify(moduleUrl)}`,
    );
  }
}

/**
 * Register a module's task functions and get typed references to them.
 *
 * @param moduleUrl - always `import.meta.url` of the module that calls it.
 * @param functions - the tasks, by name; sync or async.
 * @example
 * ```ts
 * // tasks.ts
 * import { defineTasks } from 'fanout';
 * export default defineTasks(import.meta.url, {
 *   square(x: number): number { return x * x; },
 *   async fetchTitle(url: string): Promise<string> { return (await fetch(url)).statusText; },
 * });
 *
 * // main.ts
 * import tasks from './tasks.js';
 * tasks.square(3);                          // 9, called locally
 * await pool.map(tasks.square, [1, 2, 3]);  // [1, 4, 9], called in workers
 * ```
 */
export function defineTasks<T extends Record<string, AnyFunction>>(
  moduleUrl: string | URL,
  functions: T,
): TaskRefs<T> {
  const url = normaliseModuleUrl(moduleUrl);
  if (typeof functions !== 'object' || functions === null) {
    throw new InvalidArgTypeError(
      `Expected the tasks given to defineTasks to be an object of functions, got ${functions}`,
    );
  }
  const byName = taskRegistry().get(url) ?? new Map<string, AnyFunction>();
  taskRegistry().set(url, byName);
  const refs: Record<string, TaskRef> = {};
  for (const [name, fn] of Object.entries(functions)) {
    if (typeof fn !== 'function') {
      throw new InvalidArgTypeError(
        `Expected task "${name}" given to defineTasks to be a function, got ${typeof fn}`,
      );
    }
    byName.set(name, fn);
    refs[name] = makeRef(url, name, fn);
  }
  return refs as TaskRefs<T>;
}

/**
 * Build a task reference. `fn` is what a local call runs; `wrapper` decorates the task in the
 * worker (a cached task is the same task with a cache wrapper).
 */
export function makeRef<F extends AnyFunction>(
  module: string,
  taskName: string,
  fn: F,
  wrapper?: TaskWrapper,
): TaskRef<F> {
  // A local call gets a task context of its own, so a task that reads taskContext() can be
  // called like the plain function it is (see runLocally).
  const ref = function (this: unknown, ...args: unknown[]) {
    return runLocally(() => fn.apply(this, args));
  };
  Object.defineProperties(ref, {
    name: { value: taskName },
    module: { value: module, enumerable: true },
    taskName: { value: taskName, enumerable: true },
    wrapper: { value: wrapper, enumerable: true },
    [taskBrand]: { value: true },
  });
  return ref as unknown as TaskRef<F>;
}

/** Whether a value is a task reference made by `defineTasks`. */
export function isTaskRef(value: unknown): value is TaskRef {
  return typeof value === 'function' && (value as unknown as Record<symbol, unknown>)[taskBrand] === true;
}

/** The registered function for a module URL and task name, if the module has registered it. */
export function lookupTask(module: string, name: string): AnyFunction | undefined {
  return taskRegistry().get(module)?.get(name);
}

/** The names a module registered (for error messages). */
export function registeredNames(module: string): string[] {
  return [...(taskRegistry().get(module)?.keys() ?? [])];
}

/** Whether a module has called defineTasks in this thread. */
export function isRegistered(module: string): boolean {
  return taskRegistry().has(module);
}

const ONE_AT_A_TIME = Symbol('fanout.oneAtATime');

/**
 * Mark a function a task wrapper builds so that a worker runs its items one at a time, never
 * in flight together as async items otherwise are: a chunk reader reads each chunk into the
 * worker's one read buffer, which overlapping reads would multiply (chunks/reader-tasks.ts).
 */
export function oneAtATime<F extends AnyFunction>(fn: F): F {
  Object.defineProperty(fn, ONE_AT_A_TIME, { value: true });
  return fn;
}

/** Whether `fn` was marked by `oneAtATime`. */
export function runsOneAtATime(fn: AnyFunction): boolean {
  return (fn as { [ONE_AT_A_TIME]?: boolean })[ONE_AT_A_TIME] === true;
}
