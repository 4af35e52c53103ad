/**
 * The rows of `npm run bench` for issue 17 (async tasks overlapping in a worker, nested
 * parallelism): each (workload, library) pair runs in a process of its own (bench/nested.ts);
 * this module lists them and prints their table.
 *
 * - `async-io`: 1,000 tasks that each await 10 ms, then compute 0.2 ms; its time ÷ the ideal
 *   max(total CPU ÷ workers, total wait ÷ (workers × tasks in flight per worker)). Target:
 *   fanout on threads and processes within 10 % of the ideal; inline and Piscina (with its
 *   `concurrentTasksPerWorker`) in the same run, and `hand-split`: plain worker_threads, each
 *   running its share of the items 16 at a time with no scheduler, what the machine's timers
 *   and load allow at the moment (a slot's cycle is the await as its timer fires, often ~1 ms
 *   late, plus the compute, so no library reaches the ideal itself). Every row also runs the
 *   hand-split reference alternately with its own runs: `÷ hand-split` pairs runs timed one
 *   after the other, the fair ratio on a shared machine.
 * - `fib`: the issue's nested example, `fib(25)` with `taskContext().pool`, against the same
 *   async task called locally (children as direct calls) in the same process: the ideal is that
 *   local time ÷ workers; the note gives the speedup, the same pool's time with one worker (how
 *   much of the gain is the workers', how much how a worker runs children) and a plain
 *   synchronous recursion's time. Target: 1.5× the local call on 2 cores.
 */

import { type Columns, markdownTableOf, textTableOf } from './table.js';

export interface NestedWorkload {
  readonly name: 'async-io' | 'fib';
  readonly libraries: readonly string[];
}

export const nestedWorkloads: readonly NestedWorkload[] = [
  {
    name: 'async-io',
    libraries: ['fanout-threads', 'fanout-processes', 'fanout-inline', 'piscina', 'hand-split'],
  },
  { name: 'fib', libraries: ['fanout-threads', 'fanout-processes'] },
];

/** One row, as written to bench/results/{latest,partial}-nested.json. */
export interface NestedRecord {
  readonly workload: NestedWorkload['name'];
  readonly library: string;
  readonly version: string;
  readonly workers: number;
  readonly items: number;
  /** Median seconds of the runs. */
  readonly seconds: number;
  /** The time no scheduler can beat (see the workload). */
  readonly idealSeconds: number;
  readonly ratioToIdeal: number;
  /**
   * async-io: the median over runs of this row's time ÷ the hand-split reference's, the two run
   * alternately in the row's process (1 for hand-split itself; absent for fib).
   */
  readonly ratioToHandSplit?: number;
  /** Per run: seconds. */
  readonly samples: readonly number[];
  /** The machine's 1-minute load average when the row finished. */
  readonly loadAverage: number;
  readonly note: string;
}

const COLUMNS: Columns<NestedRecord> = [
  ['workload', (r) => r.workload],
  ['library', (r) => r.library],
  ['workers', (r) => String(r.workers)],
  ['items', (r) => String(r.items)],
  ['seconds', (r) => r.seconds.toFixed(3)],
  ['ideal s', (r) => r.idealSeconds.toFixed(3)],
  ['÷ ideal', (r) => r.ratioToIdeal.toFixed(3)],
  ['÷ hand-split', (r) => r.ratioToHandSplit?.toFixed(3) ?? ''],
  ['runs', (r) => String(r.samples.length)],
  ['load', (r) => r.loadAverage.toFixed(1)],
];

export function nestedTable(records: readonly NestedRecord[], markdown: boolean): string {
  return markdown ? markdownTableOf(records, COLUMNS) : textTableOf(records, COLUMNS);
}
