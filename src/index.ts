/**
 * fanout: parallel and distributed computing for TypeScript.
 *
 * This file is the whole public surface; everything else is internal.
 */

export type { RedisBackendOptions } from './backends/redis/options.js';
export {
  AbortError,
  BackendUnavailableError,
  FanoutError,
  type FanoutErrorCode,
  InlineFunctionError,
  InvalidArgTypeError,
  InvalidArgValueError,
  NotCloneableError,
  PoolClosedError,
  TaskError,
  TaskModuleLoadError,
  TaskNotFoundError,
  TaskTimeoutError,
  WorkerCrashedError,
} from './errors.js';
export { TaskFuture } from './futures.js';
export {
  type CallDefaults,
  type CallOptionsInput,
  type CollectOptions,
  type MapOptions,
  Pool,
  type PoolOptions,
} from './pool.js';
export { type RandomStream, randomStream } from './random.js';
export type { ProgressCounts, Settled } from './scheduler/call.js';
export { type AnyFunction, defineTasks, type TaskRef, type TaskRefs } from './tasks.js';
export { type TaskContext, taskContext } from './worker/context.js';
