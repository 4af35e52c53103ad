/**
 * How a worker finds the function a batch runs: it imports task modules (each once), looks
 * tasks up in the registry they fill, compiles inline functions, and builds decorated tasks
 * (a wrapper factory applied to the task), caching each. What cannot be resolved becomes the
 * fanout error the whole batch fails with.
 */

import {
  describe,
  InlineFunctionError,
  TaskError,
  TaskModuleLoadError,
  TaskNotFoundError,
} from '../errors.js';
import { lookupActor, registeredActors } from '../tasks/actors.js';
import type { ActorSpec, TaskSpec } from '../tasks/task-spec.js';
import { isRegistered, lookupTask, registeredNames } from '../tasks/tasks.js';
import type { AnyFunction } from '../types.js';
import { ActorTable } from './actor-table.js';
import { importFailure } from './sync-load.js';

/** Why a task could not be resolved; `failureError` makes the batch's error of it. */
export type ResolveFailure =
  | { readonly kind: 'module-load'; readonly module: string; readonly error: unknown }
  | { readonly kind: 'task-not-found'; readonly message: string }
  | { readonly kind: 'inline'; readonly message: string }
  /** A task decorator (a wrapper factory) threw while decorating the task. */
  | { readonly kind: 'wrapper'; readonly name: string; readonly error: unknown };

/** A resolved task: its function, or for a mixed call the function of each of its tasks. */
export type Resolved = { fn: AnyFunction; fns?: AnyFunction[] } | { failure: ResolveFailure };

/** Imports task modules and finds functions, caching both. */
export class TaskResolver {
  private readonly modules = new Map<string, Promise<{ error: unknown } | undefined>>();
  private readonly inline = new Map<number, AnyFunction>();
  private readonly wrapped = new Map<string, AnyFunction>();
  /** The actor instances living on this worker. */
  private readonly actors = new ActorTable();
  /** Each actor operation's resolved function, by its spec (see resolveActor). */
  private readonly actorOps = new WeakMap<ActorSpec, Resolved>();

  constructor(private readonly onLoaded: (module: string) => void) {}

  resolve(spec: TaskSpec): Resolved | Promise<Resolved> {
    if (spec.kind === 'inline') return this.resolveInline(spec);
    if (spec.kind === 'mixed') return this.resolveMixed(spec.specs);
    if (spec.kind === 'actor') return this.resolveActor(spec);
    const base = this.resolveNamed(spec.module, spec.name);
    const { wrapper } = spec;
    if (!wrapper) return base;
    // A decorated task (say, cached): the wrapper is itself a registered task, a factory that
    // receives the task's function. Each decorated function is built once per worker.
    const key = `${spec.module}#${spec.name}|${wrapper.module}#${wrapper.name}|${JSON.stringify(wrapper.options)}`;
    const built = this.wrapped.get(key);
    if (built) return { fn: built };
    const wrap = (inner: Resolved, factory: Resolved): Resolved => {
      if ('failure' in inner) return inner;
      if ('failure' in factory) return factory;
      let fn: AnyFunction;
      try {
        fn = factory.fn(inner.fn, wrapper.options, { module: spec.module, name: spec.name }) as AnyFunction;
      } catch (error) {
        return {
          failure: { kind: 'wrapper', name: `${wrapper.name} of ${spec.name}`, error },
        };
      }
      this.wrapped.set(key, fn);
      return { fn };
    };
    const factory = this.resolveNamed(wrapper.module, wrapper.name);
    if (base instanceof Promise || factory instanceof Promise) {
      return Promise.all([base, factory]).then(([b, f]) => wrap(b, f));
    }
    return wrap(base, factory);
  }

  /** An actor operation: its class found as a task is (registered, else its module imported first). */
  private resolveActor(spec: ActorSpec): Resolved | Promise<Resolved> {
    // Every call of an actor's method resolves the same spec: the answer is kept with it.
    const known = this.actorOps.get(spec);
    if (known) return known;
    const found = (): Resolved | undefined => {
      const Class = lookupActor(spec.module, spec.className);
      if (!Class) return undefined;
      const resolved = { fn: this.actors.operation(spec, Class) };
      this.actorOps.set(spec, resolved);
      return resolved;
    };
    const now = found();
    if (now) {
      if (!this.modules.has(spec.module)) {
        this.modules.set(spec.module, Promise.resolve(undefined));
        this.onLoaded(spec.module);
      }
      return now;
    }
    return this.load(spec.module).then((error): Resolved => {
      if (error) return { failure: { kind: 'module-load', module: spec.module, error: error.error } };
      const known = registeredActors(spec.module);
      return (
        found() ?? {
          failure: {
            kind: 'task-not-found',
            message: `Module ${spec.module} has no actor class "${spec.className}" (it defines: ${known.join(', ') || 'none'})`,
          },
        }
      );
    });
  }

  private resolveMixed(specs: readonly TaskSpec[]): Resolved | Promise<Resolved> {
    const parts = specs.map((spec) => this.resolve(spec));
    const combine = (resolved: Resolved[]): Resolved => {
      const failed = resolved.find((r) => 'failure' in r);
      if (failed) return failed;
      const fns = resolved.map((r) => (r as { fn: AnyFunction }).fn);
      return { fn: fns[0] as AnyFunction, fns };
    };
    return parts.some((p) => p instanceof Promise)
      ? Promise.all(parts).then(combine)
      : combine(parts as Resolved[]);
  }

  private resolveNamed(module: string, name: string): Resolved | Promise<Resolved> {
    const fn = lookupTask(module, name);
    if (fn) {
      // Registered without an import of ours (another module imported it, or the inline
      // backend shares the caller's registry): the pool must still learn that it is loaded here.
      if (!this.modules.has(module)) {
        this.modules.set(module, Promise.resolve(undefined));
        this.onLoaded(module);
      }
      return { fn };
    }
    return this.load(module).then((error): Resolved => {
      if (error) return { failure: { kind: 'module-load', module, error: error.error } };
      const loaded = lookupTask(module, name);
      if (loaded) return { fn: loaded };
      return { failure: { kind: 'task-not-found', message: notFoundMessage(module, name) } };
    });
  }

  private load(module: string): Promise<{ error: unknown } | undefined> {
    let loading = this.modules.get(module);
    if (!loading) {
      loading = import(module).then(
        () => {
          this.onLoaded(module);
          return undefined;
        },
        (error: unknown) => ({ error: importFailure(module, error) }),
      );
      this.modules.set(module, loading);
    }
    return loading;
  }

  private resolveInline(spec: Extract<TaskSpec, { kind: 'inline' }>): Resolved {
    let fn = this.inline.get(spec.fnId);
    if (!fn && spec.source !== undefined) {
      try {
        fn = new Function(`"use strict"; return (${spec.source});`)() as AnyFunction;
      } catch (error) {
        return {
          failure: { kind: 'inline', message: `The inline function could not be compiled: ${error}` },
        };
      }
      this.inline.set(spec.fnId, fn);
    }
    if (!fn) return { failure: { kind: 'inline', message: `Inline function ${spec.fnId} was never sent` } };
    return { fn };
  }
}

function notFoundMessage(module: string, name: string): string {
  if (!isRegistered(module)) {
    return `Task module ${module} loaded, but it registered no tasks under that URL: call defineTasks(import.meta.url, { ${name}, ... }) in it`;
  }
  return `Task module ${module} has no task "${name}" (it defines: ${registeredNames(module).join(', ') || 'none'})`;
}

/** The error a batch fails with when its task cannot be resolved (`first`: its first item's index). */
export function failureError(failure: ResolveFailure, first: number): Error {
  switch (failure.kind) {
    case 'module-load':
      return new TaskModuleLoadError(failure.module, describe(failure.error), { cause: failure.error });
    case 'task-not-found':
      return new TaskNotFoundError(failure.message);
    case 'inline':
      return new InlineFunctionError(failure.message);
    case 'wrapper':
      return new TaskError({ task: failure.name, index: first }, failure.error);
  }
}
