/**
 * One snapshot from several parts: a pool's own workers and each `fanout worker` heartbeat
 * read from Redis. Worker rows are listed by machine, process and number; bars are re-pointed
 * at one table of task names; errors are the latest of all; figures add up.
 */

import { mergeSeries } from './series.js';
import {
  type BatchBar,
  type CallView,
  type DashboardSnapshot,
  type DurationHistogram,
  type ErrorView,
  type ProcessView,
  type QueueView,
  SNAPSHOT_VERSION,
  type SourceView,
  type Totals,
  type WorkerPart,
  type WorkerView,
} from './types.js';
import { DURATION_BOUNDS, ERRORS_KEPT } from './workers.js';

export interface SnapshotInput {
  readonly now: number;
  readonly source: SourceView;
  readonly parts: readonly WorkerPart[];
  readonly calls: readonly CallView[];
  readonly queue: QueueView | null;
  /** Parts that are `fanout worker` processes (listed as processes). */
  readonly remote: boolean;
}

export function mergeParts(input: SnapshotInput): DashboardSnapshot {
  const { parts, now } = input;
  const taskNames: string[] = [];
  const taskIndex = new Map<string, number>();
  const taskNumber = (name: string) => {
    let n = taskIndex.get(name);
    if (n === undefined) {
      n = taskNames.length;
      taskNames.push(name);
      taskIndex.set(name, n);
    }
    return n;
  };
  const workers: WorkerView[] = [];
  const errors: ErrorView[] = [];
  for (const part of parts) {
    const remap = part.taskNames.map(taskNumber);
    for (const worker of part.workers) {
      const batches = worker.batches.map(
        ([start, duration, first, count, task, failed]): BatchBar => [
          start,
          duration,
          first,
          count,
          remap[task] ?? taskNumber('?'),
          failed,
        ],
      );
      workers.push({ ...worker, batches });
    }
    errors.push(...part.errors);
  }
  workers.sort(
    (a, b) =>
      a.machine.localeCompare(b.machine) ||
      a.pid - b.pid ||
      a.id.localeCompare(b.id, 'en', { numeric: true }),
  );
  errors.sort((a, b) => b.at - a.at);
  const processes: ProcessView[] = input.remote
    ? parts.map((p) => ({
        machine: p.machine,
        pid: p.pid,
        state: p.state,
        modules: p.modules,
        startedAt: p.startedAt,
        at: p.at,
      }))
    : [];
  return {
    version: SNAPSHOT_VERSION,
    now,
    source: input.source,
    totals: sumTotals(parts.map((p) => p.totals)),
    workers,
    taskNames,
    series: mergeSeries(
      parts.map((p) => p.series),
      now,
    ),
    errors: errors.slice(0, ERRORS_KEPT),
    calls: input.calls,
    queue: input.queue,
    processes,
    histogram: sumHistograms(parts.map((p) => p.histogram)),
  };
}

function sumTotals(all: readonly Totals[]): Totals {
  const sum = { tasksDone: 0, failures: 0, batches: 0, crashes: 0, kills: 0, workersStarted: 0, busyMs: 0 };
  for (const t of all) {
    for (const key of Object.keys(sum) as (keyof Totals)[]) sum[key] += Number(t[key]) || 0;
  }
  return sum;
}

/** Histograms with the same bounds add up; one with others (another fanout version) is left out. */
function sumHistograms(all: readonly DurationHistogram[]): DurationHistogram {
  const bounds = [...DURATION_BOUNDS];
  const counts = new Array<number>(bounds.length).fill(0);
  let over = 0;
  let sumSeconds = 0;
  for (const h of all) {
    if (h.bounds.length !== bounds.length || h.bounds.some((b, i) => b !== bounds[i])) continue;
    h.counts.forEach((c, i) => {
      counts[i] = (counts[i] as number) + c;
    });
    over += h.over;
    sumSeconds += h.sumSeconds;
  }
  return { bounds, counts, over, sumSeconds };
}
