/**
 * The actor instances a worker holds (one table per runtime: per thread or process, and per
 * inline worker), and the functions a batch of an actor operation runs: construct an instance,
 * call one of its methods, drop it. The worker runtime runs batches one at a time and awaits an
 * async one before the next, so an actor's calls, queued on its worker in call order, run one at
 * a time in that order without anything more here.
 */

import type { ActorClass } from '../tasks/actors.js';
import type { ActorSpec } from '../tasks/task-spec.js';
import type { AnyFunction } from '../types.js';

export class ActorTable {
  private readonly instances = new Map<number, object>();

  /**
   * The function a batch of `spec` runs, given the class it names. Built once per spec: the
   * task resolver keeps it with the spec (a worker keeps the spec it was sent under its key).
   */
  operation(spec: ActorSpec, Class: ActorClass): AnyFunction {
    const { actor, className } = spec;
    switch (spec.op) {
      case 'new':
        return (...args: unknown[]) => {
          const Concrete = Class as unknown as new (...a: unknown[]) => object;
          this.instances.set(actor, new Concrete(...args));
        };
      case 'call': {
        const method = spec.method ?? '';
        return (...args: unknown[]) => {
          const instance = this.instances.get(actor) as Record<string, unknown> | undefined;
          // The caller stops sending calls once an actor is gone; this guards a message race.
          if (!instance) throw new Error(`Actor ${className} #${actor} does not exist on this worker`);
          const fn = instance[method];
          if (typeof fn !== 'function') throw new TypeError(`${className}.${method} is not a method`);
          return (fn as AnyFunction).apply(instance, args);
        };
      }
      case 'drop':
        // The instance's own disposer, when it has one (Symbol.asyncDispose or Symbol.dispose), runs first.
        return async () => {
          const instance = this.instances.get(actor) as Record<symbol, unknown> | undefined;
          this.instances.delete(actor);
          const dispose = instance?.[Symbol.asyncDispose] ?? instance?.[Symbol.dispose];
          if (typeof dispose === 'function') await (dispose as AnyFunction).call(instance);
        };
    }
  }
}
