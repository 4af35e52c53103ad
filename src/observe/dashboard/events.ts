/**
 * What the dashboard hears of a call as it runs: the core (api/core.ts) tells a `CallObserver`
 * when a call starts, and its `CallWatch` of each batch, progress and the end, when a dashboard
 * is on (and costs one `undefined` check when it is not); `calls.ts` implements it. What a
 * worker set tells is its own interface, `WorkerSetObserver` (local/observer.ts), which
 * `workers.ts` implements.
 */

import type { WorkerSetObserver } from '../../local/observer.js';
import type { BatchTrace, ProgressCounts } from '../../types.js';

/** One call, as it runs: returned by a `CallObserver` when the call starts. */
export interface CallWatch {
  batch(trace: BatchTrace): void;
  progress(counts: ProgressCounts): void;
  /** The caller is done with the call (it finished, failed or was abandoned). */
  end(): void;
}

/** Told of each call as it starts (`PoolCore`'s calls). */
export type CallObserver = (call: string, task: string, total: number | undefined) => CallWatch;

/**
 * What pool-dashboard.ts gives once loaded (declared here, so that plan.ts, which loads it, and
 * it need not import each other).
 */
export interface LoadedDashboard {
  readonly workers: WorkerSetObserver;
  /** A call started (at `startedAt`, when it started before the dashboard loaded). */
  observe(call: string, task: string, total: number | undefined, startedAt?: number): CallWatch;
  url(): Promise<string>;
  close(): Promise<void>;
}
