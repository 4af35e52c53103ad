/**
 * The calls of one pool, as they run: progress counts, and per-second figures from their
 * batches. Running calls are all kept; of the finished ones, the last CALLS_KEPT.
 */

import type { BatchTrace, ProgressCounts } from '../../types.js';
import type { CallWatch } from './events.js';
import { recentRate, Series } from './series.js';
import type { CallView } from './types.js';

export const CALLS_KEPT = 10;
/** A call's own window: shorter than the pool's, a call is often short. */
const CALL_SERIES_SECONDS = 60;

interface Call {
  readonly id: number;
  readonly call: string;
  readonly task: string;
  readonly startedAt: number;
  endedAt: number | null;
  done: number;
  failed: number;
  total: number | null;
  readonly series: Series;
}

export class CallCollector {
  private nextId = 1;
  private readonly running = new Set<Call>();
  private readonly finished: Call[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** The observer to give each call (`CallSetup.observe`); `startedAt` for a call that started before it was asked. */
  readonly observe = (
    call: string,
    task: string,
    total: number | undefined,
    startedAt?: number,
  ): CallWatch => {
    const entry: Call = {
      id: this.nextId++,
      call,
      task,
      startedAt: startedAt ?? this.now(),
      endedAt: null,
      done: 0,
      failed: 0,
      total: total ?? null,
      series: new Series(CALL_SERIES_SECONDS),
    };
    this.running.add(entry);
    const watch: CallWatch = {
      batch: (trace: BatchTrace) =>
        entry.series.add(trace.startedAt + trace.duration, trace.count, trace.duration),
      progress: (counts: ProgressCounts) => {
        entry.done = counts.done;
        entry.failed = counts.failed;
        if (counts.total !== undefined) entry.total = counts.total;
      },
      end: () => {
        if (!this.running.delete(entry)) return;
        entry.endedAt = this.now();
        this.finished.push(entry);
        if (this.finished.length > CALLS_KEPT) this.finished.shift();
      },
    };
    return watch;
  };

  /** Running calls first (oldest first), then finished ones (latest first). */
  views(): CallView[] {
    const now = this.now();
    const view = (c: Call): CallView => {
      const series = c.series.data(now);
      const seconds = ((c.endedAt ?? now) - c.startedAt) / 1000;
      return {
        id: c.id,
        call: c.call,
        task: c.task,
        state: c.endedAt === null ? 'running' : 'finished',
        startedAt: c.startedAt,
        endedAt: c.endedAt,
        done: c.done,
        failed: c.failed,
        total: c.total,
        // The last seconds' rate once there are enough of them; the whole call's before, and once finished.
        rate: c.endedAt === null && seconds > 6 ? recentRate(series) : seconds > 0 ? c.done / seconds : 0,
        series,
      };
    };
    return [...[...this.running].map(view), ...this.finished.map(view).reverse()];
  }

  /** How many calls were started, and are running now (for /metrics). */
  counts(): { started: number; running: number } {
    return { started: this.nextId - 1, running: this.running.size };
  }
}
