/**
 * The dashboard's data, as `/api/state` serves it and the page draws it. One shape for every
 * source: a pool's own workers, and each `fanout worker` process's heartbeat in Redis (a
 * `WorkerPart` each), merged into one `DashboardSnapshot`.
 *
 * Plain JSON throughout (numbers are epoch ms or bytes, absent figures are null), so a
 * snapshot crosses Redis and HTTP as it is. Bump SNAPSHOT_VERSION when a field changes meaning.
 */

export const SNAPSHOT_VERSION = 1;

export type WorkerStateName = 'starting' | 'idle' | 'busy' | 'exited' | 'crashed' | 'killed';

/**
 * One batch as a bar of the task stream: start (epoch ms, the worker's clock), duration (ms),
 * index of its first item, item count, index of its task in `taskNames`, and 1 when an item
 * of it failed (else 0). Arrays rather than objects: a snapshot holds thousands.
 */
export type BatchBar = [
  start: number,
  duration: number,
  first: number,
  count: number,
  task: number,
  failed: 0 | 1,
];

export interface WorkerView {
  /** Unique across machines: `<machine>:<pid of the process hosting it>/<worker number>`. */
  readonly id: string;
  readonly machine: string;
  /** The worker's operating-system process (for a thread: the process it lives in). */
  readonly pid: number;
  /** `thread 12`, `process 3456`, `inline 1`. */
  readonly label: string;
  readonly state: WorkerStateName;
  /** The task of the batch it is running, when busy. */
  readonly task: string | null;
  /** Since when it runs that batch (epoch ms). */
  readonly busySince: number | null;
  /** Share of the last few seconds it spent running batches, 0–1. */
  readonly utilisation: number;
  /** Its JavaScript heap after its last batch, in bytes. */
  readonly heapUsed: number | null;
  /** Resident memory of its process, in bytes (shared by a process's threads). */
  readonly rss: number | null;
  readonly tasksDone: number;
  /** Items that threw, batches it lost by dying, batches that could not run on it. */
  readonly failures: number;
  /** Milliseconds it spent running batches, in all. */
  readonly busyMs: number;
  readonly startedAt: number;
  readonly endedAt: number | null;
  /** How it ended (`exited with code 1`, `killed: timeout`), once it has. */
  readonly exit: string | null;
  /** Its last batches, oldest first. */
  readonly batches: readonly BatchBar[];
}

/** Figures per second over the last minutes, oldest first; index i is second `end - length + 1 + i`. */
export interface SeriesData {
  /** The last second covered (epoch seconds). */
  readonly end: number;
  /** Items finished in each second. */
  readonly items: readonly number[];
  /** Batches finished in each second. */
  readonly batches: readonly number[];
  /** Sum of those batches' durations (ms): divided by `batches`, the mean batch duration. */
  readonly durationSum: readonly number[];
  /** The longest of those batches (ms). */
  readonly durationMax: readonly number[];
}

export interface ErrorView {
  /** Epoch ms when it was seen. */
  readonly at: number;
  /** The worker's id (see WorkerView.id), when one is to blame. */
  readonly worker: string | null;
  readonly task: string | null;
  /** The item's index in its call's input, when known. */
  readonly index: number | null;
  readonly code: string | null;
  readonly name: string;
  readonly message: string;
  readonly stack: string | null;
}

export interface Totals {
  /** Items finished (successfully or not). */
  readonly tasksDone: number;
  /** Items that threw, and batches lost or refused (see WorkerView.failures). */
  readonly failures: number;
  readonly batches: number;
  /** Workers that died without being asked to (crash, signal, out of memory). */
  readonly crashes: number;
  /** Workers killed on purpose: a timeout, an abort past its grace, a module that never loaded. */
  readonly kills: number;
  readonly workersStarted: number;
  /** Milliseconds spent running batches, all workers together. */
  readonly busyMs: number;
}

/** Batch durations, bucketed for Prometheus: `counts[i]` batches took at most `bounds[i]` seconds (not cumulative). */
export interface DurationHistogram {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  /** Batches longer than the last bound. */
  readonly over: number;
  readonly sumSeconds: number;
}

/** What one process knows of its own workers: a pool's, or a `fanout worker`'s heartbeat. */
export interface WorkerPart {
  readonly version: typeof SNAPSHOT_VERSION;
  readonly machine: string;
  readonly pid: number;
  /** Epoch ms when the part was taken. */
  readonly at: number;
  readonly startedAt: number;
  /** `running`, or `stopping` once a `fanout worker` got SIGTERM. */
  readonly state: 'running' | 'stopping';
  /** A `fanout worker`: the task modules it serves. */
  readonly modules: readonly string[];
  readonly workers: readonly WorkerView[];
  /** The task names `BatchBar`s refer to by index. */
  readonly taskNames: readonly string[];
  readonly series: SeriesData;
  readonly errors: readonly ErrorView[];
  readonly totals: Totals;
  readonly histogram: DurationHistogram;
}

export interface CallView {
  readonly id: number;
  /** `pool.map`, `pool.run`, ... */
  readonly call: string;
  readonly task: string;
  readonly state: 'running' | 'finished';
  readonly startedAt: number;
  readonly endedAt: number | null;
  readonly done: number;
  readonly failed: number;
  readonly total: number | null;
  /** Items per second over the last few seconds (the whole call, once finished). */
  readonly rate: number;
  /** This call's own figures per second. */
  readonly series: SeriesData;
}

export interface QueueView {
  readonly name: string;
  readonly waiting: number;
  readonly active: number;
  /** Finished jobs not yet collected by their caller, and failed ones kept by BullMQ. */
  readonly completed: number;
  readonly failed: number;
}

export interface SourceView {
  /** `pool`: a `Pool`'s dashboard; `redis`: `fanout dashboard --redis`; `worker`: a `fanout worker --metrics-port`. */
  readonly kind: 'pool' | 'redis' | 'worker';
  /** `threads`, `processes`, `inline`, `redis`. */
  readonly backend: string;
  /** The pool's size (`pool.workers`), when a pool serves the page. */
  readonly size: number | null;
  /** The redis queue (`prefix:queue`), when there is one. */
  readonly queue: string | null;
  readonly machine: string;
  readonly pid: number;
  readonly startedAt: number;
  /** Why the last read of Redis failed, while it does. */
  readonly problem: string | null;
}

export interface DashboardSnapshot {
  readonly version: typeof SNAPSHOT_VERSION;
  /** Epoch ms when taken, on the serving process's clock. */
  readonly now: number;
  readonly source: SourceView;
  readonly totals: Totals;
  readonly workers: readonly WorkerView[];
  readonly taskNames: readonly string[];
  readonly series: SeriesData;
  readonly errors: readonly ErrorView[];
  readonly calls: readonly CallView[];
  readonly queue: QueueView | null;
  /** The `fanout worker` processes seen (redis), with what they serve. */
  readonly processes: readonly ProcessView[];
  readonly histogram: DurationHistogram;
}

export interface ProcessView {
  readonly machine: string;
  readonly pid: number;
  readonly state: 'running' | 'stopping';
  readonly modules: readonly string[];
  readonly startedAt: number;
  /** Epoch ms of its last heartbeat. */
  readonly at: number;
}
