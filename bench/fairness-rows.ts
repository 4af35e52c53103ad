/**
 * The fairness rows of `npm run bench` (issue 14): workloads where what matters is which worker
 * a batch reaches and when, not the cost per item. Each (workload, library) pair runs in a
 * process of its own (bench/fairness.ts); this module lists them and prints their table.
 *
 * - `mixed-latency`: short tasks submitted one by one while long tasks run; the short tasks'
 *   latency, from submission to result (p50, p95, max). Target: fanout's p95 no worse than
 *   Piscina's, in the same run.
 * - `skewed`: one call over items with heavy-tailed durations (Pareto, α = 1.5); its time ÷ the
 *   ideal max(total ÷ workers, longest item). Target: fanout within 5 % of the ideal.
 */

import { type Columns, markdownTableOf, textTableOf } from './table.js';

export interface FairnessWorkload {
  readonly name: 'mixed-latency' | 'skewed';
  readonly libraries: readonly string[];
}

export const fairnessWorkloads: readonly FairnessWorkload[] = [
  { name: 'mixed-latency', libraries: ['fanout', 'piscina'] },
  { name: 'skewed', libraries: ['fanout', 'piscina', 'hand-split'] },
];

/** One row, as written to bench/results/{latest,partial}-fairness.json. */
export interface FairnessRecord {
  readonly workload: FairnessWorkload['name'];
  readonly library: string;
  readonly version: string;
  readonly workers: number;
  /** mixed-latency: short tasks per run; skewed: items per run. */
  readonly items: number;
  /** mixed-latency: the short tasks' latency in ms, each the median over the runs. */
  readonly latencyMs?: { readonly p50: number; readonly p95: number; readonly max: number };
  /** skewed: median seconds of the runs. */
  readonly seconds?: number;
  /** skewed: max(total ÷ workers, longest item), the time no scheduler can beat. */
  readonly idealSeconds?: number;
  /** skewed: seconds ÷ idealSeconds. */
  readonly ratioToIdeal?: number;
  /** Per run: the p95 latency in ms (mixed-latency) or the seconds (skewed). */
  readonly samples: readonly number[];
  /** The machine's 1-minute load average when the row finished. */
  readonly loadAverage: number;
  readonly note: string;
}

const fixed = (digits: number) => (value: number | undefined) =>
  value === undefined ? '' : value.toFixed(digits);

const COLUMNS: Columns<FairnessRecord> = [
  ['workload', (r) => r.workload],
  ['library', (r) => r.library],
  ['workers', (r) => String(r.workers)],
  ['items', (r) => String(r.items)],
  ['p50 ms', (r) => fixed(1)(r.latencyMs?.p50)],
  ['p95 ms', (r) => fixed(1)(r.latencyMs?.p95)],
  ['max ms', (r) => fixed(1)(r.latencyMs?.max)],
  ['seconds', (r) => fixed(3)(r.seconds)],
  ['ideal s', (r) => fixed(3)(r.idealSeconds)],
  ['÷ ideal', (r) => fixed(3)(r.ratioToIdeal)],
  ['runs', (r) => String(r.samples.length)],
  ['load', (r) => r.loadAverage.toFixed(1)],
];

export function fairnessTable(records: readonly FairnessRecord[], markdown: boolean): string {
  return markdown ? markdownTableOf(records, COLUMNS) : textTableOf(records, COLUMNS);
}
