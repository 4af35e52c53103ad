/**
 * fanout: parallel and distributed computing for TypeScript.
 *
 * This file is the whole public surface; everything else is internal. `src/tasks.ts`
 * (`fanout/tasks`) re-exports the part of it a task module needs, for workers to load cheaply.
 */

export {
  type Computed,
  type Delayed,
  delayed,
  type Resolvable,
  type ResolvableArgs,
} from './api/dependencies.js';
export {
  type AsCompletedOptions,
  asCompleted,
  type Completed,
  type ReturnWhen,
  TaskFuture,
  type WaitForOptions,
  waitFor,
} from './api/futures.js';
export {
  type DelayedResult,
  type ParallelConfig,
  type ParallelOptions,
  type ParallelRunner,
  parallel,
  parallelConfig,
} from './api/joblib.js';
export { Pool } from './api/pool.js';
export {
  type ChunkReducer,
  type ColumnChunk,
  type ColumnMinMax,
  type ColumnMoments,
  type ColumnSums,
  columnMeans,
  columnStats,
  columnVariance,
} from './chunks/column-stats.js';
export {
  type CsvOptions,
  type CsvRecord,
  chunks,
  type FromIterableOptions,
  type MatrixOptions,
} from './chunks/sources.js';
export type {
  ArrayOf,
  ChunkSource,
  MatrixArray,
  MatrixChunk,
  MatrixDtype,
  RecordChunk,
  TextChunk,
} from './chunks/types.js';
export type {
  Adaptive,
  AdaptOptions,
  SlurmJob,
  SlurmWorkers,
  SlurmWorkersOptions,
  SlurmWorkersStatus,
} from './cluster/slurm.js';
export { slurmWorkers } from './cluster/slurm-workers.js';
export { callSeed, randomStream } from './data/random.js';
export { shared, transfer } from './data/shared.js';
export {
  Barrier,
  Counter,
  Held,
  Lock,
  Queue,
  type QueueOptions,
  Semaphore,
} from './data/sync.js';
export {
  AbortError,
  ActorDiedError,
  BackendUnavailableError,
  BarrierBrokenError,
  CacheError,
  ChunkParseError,
  DashboardError,
  DependencyFailedError,
  type ErrorCause,
  FanoutError,
  type FanoutErrorCode,
  InlineFunctionError,
  InvalidArgTypeError,
  InvalidArgValueError,
  LockNotHeldError,
  MalformedJobError,
  NoTaskContextError,
  NotCloneableError,
  PoolClosedError,
  QueueClosedError,
  SlurmError,
  TaskError,
  TaskModuleLoadError,
  TaskNotFoundError,
  TaskTimeoutError,
  WaitTimeoutError,
  WorkerCrashedError,
  WrapperNotAllowedError,
} from './errors.js';
export type { EntryMeta } from './memory/cache-entry.js';
export type { MemoryStats } from './memory/counters.js';
export type { MemoryInfo, ReduceSizeOptions, ReduceSizeResult, TaskCacheInfo } from './memory/maintenance.js';
export { type CacheOptions, Memory } from './memory/memory.js';
export type { CacheWarningCode } from './memory/warnings.js';
export {
  type Actor,
  type ActorArgs,
  type ActorClass,
  type ActorControl,
  type ActorMethods,
  type ActorRef,
  type ActorRefs,
  defineActors,
} from './tasks/actors.js';
export { taskContext } from './tasks/context.js';
export { defineTasks } from './tasks/tasks.js';
export type {
  ActorCallOptions,
  ActorOptions,
  AnyFunction,
  BatchTrace,
  BroadcastControl,
  BroadcastHandle,
  CallDefaults,
  CallOptionsInput,
  ChildCallOptions,
  CollectOptions,
  Comm,
  DashboardHandle,
  DashboardOptions,
  Initializer,
  ItemsOf,
  MapOptions,
  PoolOptions,
  ProgressCounts,
  ProgressOptions,
  ProgressState,
  RandomStream,
  RecvOptions,
  RedisBackendOptions,
  ReduceChunksOptions,
  ReduceOp,
  SendOptions,
  Settled,
  SpmdOptions,
  Task,
  TaskContext,
  TaskRef,
  TaskRefs,
  WaitOptions,
} from './types.js';
