/**
 * What the dashboard listens to: the events a worker set emits about its workers, and those a
 * call emits as it runs. These two interfaces are the whole contract between the engine and
 * the dashboard: the worker set and `prepareCall` call them when a dashboard is on (and cost
 * one `undefined` check when it is not); the collector (`workers.ts`, `calls.ts`) implements
 * them.
 */

import type { BatchTrace, ProgressCounts } from '../../scheduler/call.js';
import type { BatchOutcome, BatchRequest } from '../../scheduler/types.js';

/** The lifecycle of a worker set's workers (`WorkerSetOptions.observer`). Workers are known by number. */
export interface WorkerSetObserver {
  /** A worker is being started; `label` says what it is (`thread 12`, `process 3456`). */
  started(worker: number, label: string): void;
  /** It finished starting and takes work. */
  ready(worker: number): void;
  /** It now runs `request` (the head of its queue), or, with none, it is idle. */
  running(worker: number, request: BatchRequest | undefined): void;
  /** A batch settled; `worker` is the one it was assigned to, if any. */
  settled(worker: number | undefined, request: BatchRequest, outcome: BatchOutcome): void;
  /** Its JavaScript heap after a batch, in bytes. */
  heap(worker: number, bytes: number): void;
  /**
   * It is gone. `killedFor` is why the worker set killed or retired it (`timeout`, `aborted`,
   * `load-timeout`, `retired`, `terminated`); undefined when it died on its own or stopped when asked.
   */
  exited(worker: number, code: number | null, signal: string | null, killedFor: string | undefined): void;
}

/** One call, as it runs: returned by a `CallObserver` when the call starts. */
export interface CallWatch {
  batch(trace: BatchTrace): void;
  progress(counts: ProgressCounts): void;
  /** The caller is done with the call (it finished, failed or was abandoned). */
  end(): void;
}

/** Told of each call as it starts (`CallSetup.observe`). */
export type CallObserver = (call: string, task: string, total: number | undefined) => CallWatch;
