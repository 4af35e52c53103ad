/**
 * `fanout/tasks`: what a task module needs, and nothing that runs pools.
 *
 * A task module is imported by every worker. One that imports `fanout` makes each worker load
 * the whole library (pools, backends, the scheduler, caching, chunk sources: some 40 modules)
 * only to call `defineTasks` (or `defineActors`); this entry holds what the worker has loaded already, so importing
 * it costs a worker next to nothing (test/startup.test.ts checks what it loads). The names are
 * the same objects as `fanout`'s: a program may import either, or both.
 *
 * @example
 * ```ts
 * // tasks.ts
 * import { defineTasks, taskContext } from 'fanout/tasks';
 * export default defineTasks(import.meta.url, {
 *   roll: () => taskContext().random().next(),
 * });
 * ```
 */

export type {
  ArrayOf,
  MatrixArray,
  MatrixChunk,
  MatrixDtype,
  RecordChunk,
  TextChunk,
} from './chunks/types.js';
export { callSeed, randomStream } from './data/random.js';
export { shared, transfer } from './data/shared.js';
export { FanoutError } from './errors.js';
export { defineActors } from './tasks/actors.js';
export { taskContext } from './tasks/context.js';
export { defineTasks } from './tasks/tasks.js';
export type { AnyFunction, RandomStream, Task, TaskContext, TaskRef, TaskRefs } from './types.js';
