/**
 * What a call runs, as the scheduler, the backends and the worker runtime all name it: a
 * registered task (maybe decorated), an inline function, or several tasks (parallel() over
 * mixed delayed calls). The wire protocol (worker/protocol.ts) carries it; it is not part of it.
 */

import { InvalidArgTypeError } from '../errors.js';
import { show } from '../options/checks.js';
import type { AnyFunction, TaskWrapper } from '../types.js';
import { type InlineSpec, inlineTask } from './inline-functions.js';
import { isTaskRef } from './tasks.js';

/** What a batch runs: a registered task (maybe decorated), or an inline function compiled from source. */
export type TaskSpec =
  | { readonly kind: 'task'; readonly module: string; readonly name: string; readonly wrapper?: TaskWrapper }
  | InlineSpec
  /** Several tasks in one call (parallel() over mixed delayed calls): `RunMessage.taskIndex` picks one per item. */
  | { readonly kind: 'mixed'; readonly specs: readonly TaskSpec[]; readonly name: string }
  | ActorSpec;

/**
 * One operation on an actor instance kept in a worker (tasks/actors.ts): construct it, call a
 * method, or drop it. Sent only to the worker the actor lives on (a pinned batch).
 */
export interface ActorSpec {
  readonly kind: 'actor';
  /** The module that registered the class (defineActors), and the name it registered it under. */
  readonly module: string;
  readonly className: string;
  /** The instance, numbered by its pool. */
  readonly actor: number;
  readonly op: 'new' | 'call' | 'drop';
  /** With `op: 'call'`. */
  readonly method?: string;
}

/** A call a running task made on its own pool (`taskContext().pool`): a map of a task over `items`. */
export interface NestedCall {
  readonly spec: TaskSpec;
  readonly taskName: string;
  /** Each item is the arguments of a call (`run`, `starmap`). */
  readonly spread: boolean;
  readonly items: readonly unknown[];
  readonly seed: number;
}

/** The task spec of a task reference, or of an inline function (checked for outer variables). */
export function taskSpecOf(task: unknown, callName: string): { spec: TaskSpec; name: string } {
  if (isTaskRef(task)) {
    const spec: TaskSpec = { kind: 'task', module: task.module, name: task.taskName, wrapper: task.wrapper };
    return { spec, name: task.taskName };
  }
  if (typeof task === 'function') return inlineTask(task as AnyFunction, callName);
  throw new InvalidArgTypeError(
    `Expected \`task\` to be a task reference from defineTasks() or a function, got ${show(task)}`,
  );
}

/** The task modules a batch's task needs loaded (its own, a wrapper's, every task of a mixed call). */
export function modulesOf(spec: TaskSpec): string[] {
  switch (spec.kind) {
    case 'task':
      return spec.wrapper ? [spec.module, spec.wrapper.module] : [spec.module];
    case 'actor':
      return [spec.module];
    case 'mixed':
      return spec.specs.flatMap(modulesOf);
    case 'inline':
      return [];
  }
}
