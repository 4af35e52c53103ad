/**
 * What a worker set tells whoever watches it (a dashboard's collector): its workers' lifecycle
 * and every batch's outcome. The worker set calls it when one is given (`WorkerSetOptions.observer`)
 * and costs one `undefined` check when none is.
 */

import type { BatchOutcome, BatchRequest } from '../scheduler/backend.js';

/** The lifecycle of a worker set's workers. Workers are known by number. */
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
