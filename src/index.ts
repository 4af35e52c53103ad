/**
 * fanout: parallel and distributed computing for TypeScript.
 *
 * This file is the whole public surface; everything else is internal.
 */

export type { RedisBackendOptions } from './backends/redis/options.js';
export type { BroadcastControl, BroadcastHandle } from './broadcast.js';
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
export type { ReduceChunksOptions } from './chunks/reduce.js';
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
export {
  type Adaptive,
  type AdaptOptions,
  type SlurmJob,
  type SlurmWorkers,
  type SlurmWorkersOptions,
  type SlurmWorkersStatus,
  slurmWorkers,
} from './cluster/slurm.js';
export {
  AbortError,
  BackendUnavailableError,
  CacheError,
  ChunkParseError,
  DashboardError,
  FanoutError,
  type FanoutErrorCode,
  InlineFunctionError,
  InvalidArgTypeError,
  InvalidArgValueError,
  MalformedJobError,
  NoTaskContextError,
  NotCloneableError,
  PoolClosedError,
  SlurmError,
  TaskError,
  TaskModuleLoadError,
  TaskNotFoundError,
  TaskTimeoutError,
  WaitTimeoutError,
  WorkerCrashedError,
  WrapperNotAllowedError,
} from './errors.js';
export {
  type AsCompletedOptions,
  asCompleted,
  type Completed,
  type ReturnWhen,
  TaskFuture,
  type WaitForOptions,
  waitFor,
} from './futures.js';
export {
  type Delayed,
  delayed,
  type ParallelConfig,
  type ParallelOptions,
  type ParallelRunner,
  parallel,
  parallelConfig,
} from './joblib.js';
export type { MemoryStats } from './memory/counters.js';
export type { EntryMeta } from './memory/entry.js';
export type { MemoryInfo, ReduceSizeOptions, ReduceSizeResult, TaskCacheInfo } from './memory/maintenance.js';
export { type CacheOptions, Memory } from './memory/memory.js';
export type { CacheWarningCode } from './memory/warnings.js';
export type { DashboardOptions } from './observe/dashboard/config.js';
export type { DashboardHandle } from './observe/dashboard/plan.js';
export type { ProgressOptions, ProgressState } from './observe/progress.js';
export { Pool } from './pool.js';
export type {
  CallDefaults,
  CallOptionsInput,
  CollectOptions,
  ItemsOf,
  MapOptions,
  PoolOptions,
  Task,
} from './pool-options.js';
export { callSeed, type RandomStream, randomStream } from './random.js';
export type { BatchTrace, ProgressCounts, Settled } from './scheduler/call.js';
export { shared, transfer } from './shared.js';
export { type AnyFunction, defineTasks, type TaskRef, type TaskRefs } from './tasks.js';
export { type TaskContext, taskContext } from './worker/context.js';
