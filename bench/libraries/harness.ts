/** What the runner needs from each library: run a task over items through its per-item API. */

import type { TaskName } from '../workers/functions.js';

export interface RunOptions {
  /** fanout only: a fixed batch size (the `noop-batch1` workload forces 1). */
  readonly batchSize?: number;
}

export interface Harness {
  /** The library's version, for the record. */
  readonly version: string;
  /** Run `task(item)` for every item and resolve with the results in input order. */
  map(task: TaskName, items: readonly number[], options: RunOptions): Promise<ArrayLike<unknown>>;
  /** How this row runs, when it is not the library's plain per-item API with its defaults (the row's note). */
  describe?(options: RunOptions): string | undefined;
  close(): Promise<void>;
}

/** Starts a library's pool with exactly `workers` threads, all started. */
export type StartHarness = (workers: number) => Promise<Harness>;

/** The module the worker threads of Piscina and tinypool load. */
export const functionsUrl = new URL('../workers/functions.js', import.meta.url).href;
