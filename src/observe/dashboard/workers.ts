/**
 * The collector of one process's workers: it listens to a worker set (`WorkerSetObserver`) and
 * keeps what the dashboard shows of them, bounded whatever the run's length: a row per live
 * worker and per recently ended one, the last BARS_PER_LANE batches of each, the last
 * ERRORS_KEPT errors, per-second figures for the last two minutes, and running totals.
 *
 * Every event is a few stores (no allocation but a batch's bar), so a pool with a dashboard
 * runs as fast as one without; the figures that cost something (memory readings, utilisation)
 * are computed only when a part is taken, that is when someone looks.
 */

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { crossingError } from '../../codec/crossing.js';
import type { WorkerSetObserver } from '../../local/observer.js';
import { type BatchOutcome, type BatchRequest, itemIndex } from '../../scheduler/backend.js';
import { viewOfError, viewOfMessage } from './errors.js';
import { Ring } from './ring.js';
import { Series } from './series.js';
import {
  type BatchBar,
  type DurationHistogram,
  type ErrorView,
  SNAPSHOT_VERSION,
  type Totals,
  type WorkerPart,
  type WorkerStateName,
  type WorkerView,
} from './types.js';

/** Batches kept per worker for the task stream. */
export const BARS_PER_LANE = 100;
export const ERRORS_KEPT = 20;
/** Ended workers still shown (a crash stays visible a while), beyond the live ones. */
export const ENDED_KEPT = 8;
/** Distinct task names kept for bars; later ones share one entry. */
const TASK_NAMES_KEPT = 256;
/** Utilisation is measured over about this window. */
const UTILISATION_WINDOW_MS = 5000;
/** Prometheus buckets of batch durations, in seconds. */
export const DURATION_BOUNDS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60] as const;

interface Row {
  readonly number: number;
  readonly id: string;
  readonly label: string;
  readonly pid: number;
  state: WorkerStateName;
  task: string | null;
  busySince: number | null;
  heapUsed: number | null;
  tasksDone: number;
  failures: number;
  busyMs: number;
  readonly startedAt: number;
  endedAt: number | null;
  exit: string | null;
  readonly bars: Ring<BatchBar>;
  /** (time, busy ms) readings taken with each part, for utilisation. */
  readonly readings: Ring<readonly [number, number]>;
}

export interface WorkerCollectorOptions {
  /** A `fanout worker`'s task modules, for the heartbeat. */
  readonly modules?: readonly string[];
  /** The clock (epoch ms); tests pass their own. */
  readonly now?: () => number;
  /** This process's resident memory, and another's by pid (tests pass their own). */
  readonly rss?: (pid: number) => number | null;
}

export class WorkerCollector implements WorkerSetObserver {
  readonly machine = hostname();
  readonly pid = process.pid;
  readonly startedAt: number;
  /** `stopping` once a `fanout worker` was asked to stop. */
  state: 'running' | 'stopping' = 'running';
  private readonly rows = new Map<number, Row>();
  private readonly ended: number[] = [];
  private readonly taskIndex = new Map<string, number>();
  private readonly taskNames: string[] = [];
  private readonly errors = new Ring<ErrorView>(ERRORS_KEPT);
  private readonly series = new Series();
  private readonly histogram = new Array<number>(DURATION_BOUNDS.length).fill(0);
  private histogramOver = 0;
  private histogramSum = 0;
  private totals: { -readonly [K in keyof Totals]: Totals[K] } = {
    tasksDone: 0,
    failures: 0,
    batches: 0,
    crashes: 0,
    kills: 0,
    workersStarted: 0,
    busyMs: 0,
  };
  private readonly now: () => number;
  private readonly rss: (pid: number) => number | null;

  constructor(private readonly options: WorkerCollectorOptions = {}) {
    this.now = options.now ?? Date.now;
    this.rss = options.rss ?? residentMemory;
    this.startedAt = this.now();
  }

  started(worker: number, label: string): void {
    const pid = /^process (\d+)$/.exec(label);
    this.rows.set(worker, {
      number: worker,
      id: `${this.machine}:${this.pid}/${worker}`,
      label,
      pid: pid ? Number(pid[1]) : this.pid,
      state: 'starting',
      task: null,
      busySince: null,
      heapUsed: null,
      tasksDone: 0,
      failures: 0,
      busyMs: 0,
      startedAt: this.now(),
      endedAt: null,
      exit: null,
      bars: new Ring(BARS_PER_LANE),
      readings: new Ring(16),
    });
    this.totals.workersStarted++;
  }

  ready(worker: number): void {
    const row = this.rows.get(worker);
    if (row && row.state === 'starting') row.state = 'idle';
  }

  running(worker: number, request: BatchRequest | undefined): void {
    const row = this.rows.get(worker);
    if (!row || row.endedAt !== null) return;
    if (request) {
      row.state = 'busy';
      if (row.task !== request.taskName || row.busySince === null) row.busySince = this.now();
      row.task = request.taskName;
    } else {
      row.state = 'idle';
      row.task = null;
      row.busySince = null;
    }
  }

  heap(worker: number, bytes: number): void {
    const row = this.rows.get(worker);
    if (row) row.heapUsed = bytes;
  }

  settled(worker: number | undefined, request: BatchRequest, outcome: BatchOutcome): void {
    switch (outcome.kind) {
      case 'done': {
        const row = this.rows.get(outcome.worker);
        const failures = outcome.failures?.length ?? 0;
        const bar: BatchBar = [
          outcome.startedAt,
          outcome.duration,
          request.first,
          outcome.ran,
          this.taskNumber(request.taskName),
          failures > 0 ? 1 : 0,
        ];
        if (row) {
          row.bars.push(bar);
          row.tasksDone += outcome.ran;
          row.failures += failures;
          row.busyMs += outcome.duration;
        }
        this.totals.tasksDone += outcome.ran;
        this.totals.failures += failures;
        this.totals.batches++;
        this.totals.busyMs += outcome.duration;
        this.series.add(outcome.startedAt + outcome.duration, outcome.ran, outcome.duration);
        this.recordDuration(outcome.duration);
        if (failures > 0) this.recordFailures(row, request, outcome);
        return;
      }
      case 'lost':
      case 'failed': {
        // The pool was closed under it: not a failure of the work.
        if ((outcome.error as { code?: unknown }).code === 'ERR_POOL_CLOSED') return;
        const row = worker === undefined ? undefined : this.rows.get(worker);
        if (row) row.failures++;
        this.totals.failures++;
        const index =
          outcome.kind === 'lost' && outcome.offset !== undefined ? itemIndex(request, outcome.offset) : null;
        this.errors.push(
          viewOfError(
            { at: this.now(), worker: row?.id ?? null, task: request.taskName, index },
            outcome.error,
          ),
        );
        return;
      }
      case 'cancelled':
        return;
    }
  }

  exited(worker: number, code: number | null, signal: string | null, killedFor: string | undefined): void {
    const row = this.rows.get(worker);
    if (!row || row.endedAt !== null) return;
    row.endedAt = this.now();
    row.busySince = null;
    row.task = null;
    const how = signal ? `killed by signal ${signal}` : `exited with code ${code ?? 'unknown'}`;
    if (killedFor === undefined || killedFor === 'retired' || killedFor === 'terminated') {
      // Asked to stop (retired, pool closed) or not: a non-zero exit nobody asked for is a crash.
      const crashed = killedFor === undefined && (signal !== null || (code !== 0 && code !== null));
      row.state = crashed ? 'crashed' : 'exited';
      row.exit = killedFor === 'terminated' ? 'terminated with the pool' : how;
      if (crashed) this.totals.crashes++;
    } else {
      row.state = 'killed';
      row.exit = `killed: ${killedFor}`;
      this.totals.kills++;
    }
    this.ended.push(worker);
    if (this.ended.length > ENDED_KEPT) this.rows.delete(this.ended.shift() as number);
  }

  /** What this process knows of its workers now. */
  part(): WorkerPart {
    const now = this.now();
    const hostRss = this.rss(this.pid);
    const workers: WorkerView[] = [];
    for (const row of this.rows.values()) workers.push(this.view(row, now, hostRss));
    return {
      version: SNAPSHOT_VERSION,
      machine: this.machine,
      pid: this.pid,
      at: now,
      startedAt: this.startedAt,
      state: this.state,
      modules: this.options.modules ?? [],
      workers,
      taskNames: [...this.taskNames],
      series: this.series.data(now),
      errors: this.errors.toArray(),
      totals: { ...this.totals },
      histogram: this.histogramData(),
    };
  }

  private view(row: Row, now: number, hostRss: number | null): WorkerView {
    const live = row.endedAt === null;
    return {
      id: row.id,
      machine: this.machine,
      pid: row.pid,
      label: row.label,
      state: row.state,
      task: row.task,
      busySince: row.busySince,
      utilisation: live ? this.utilisation(row, now) : 0,
      heapUsed: row.heapUsed,
      rss: live ? (row.pid === this.pid ? hostRss : this.rss(row.pid)) : null,
      tasksDone: row.tasksDone,
      failures: row.failures,
      busyMs: Math.round(row.busyMs),
      startedAt: row.startedAt,
      endedAt: row.endedAt,
      exit: row.exit,
      batches: row.bars.toArray(),
    };
  }

  /**
   * The share of the last UTILISATION_WINDOW_MS the worker spent on batches: busy time finished
   * (batch durations) plus the running batch so far, against the reading taken at least that
   * long ago (or the worker's start).
   */
  private utilisation(row: Row, now: number): number {
    const busy = row.busyMs + (row.busySince === null ? 0 : Math.max(0, now - row.busySince));
    let since = row.startedAt;
    let busyThen = 0;
    for (const [t, b] of row.readings.toArray()) {
      if (now - t < UTILISATION_WINDOW_MS) break;
      since = t;
      busyThen = b;
    }
    row.readings.push([now, busy]);
    const span = now - since;
    if (span <= 0) return 0;
    return Math.min(1, Math.max(0, (busy - busyThen) / span));
  }

  private taskNumber(name: string): number {
    const known = this.taskIndex.get(name);
    if (known !== undefined) return known;
    if (this.taskNames.length >= TASK_NAMES_KEPT) return this.taskNumber('(other tasks)');
    const number = this.taskNames.length;
    this.taskNames.push(name);
    this.taskIndex.set(name, number);
    return number;
  }

  private recordDuration(ms: number): void {
    const seconds = ms / 1000;
    this.histogramSum += seconds;
    for (let i = 0; i < DURATION_BOUNDS.length; i++) {
      if (seconds <= (DURATION_BOUNDS[i] as number)) {
        this.histogram[i] = (this.histogram[i] as number) + 1;
        return;
      }
    }
    this.histogramOver++;
  }

  private histogramData(): DurationHistogram {
    return {
      bounds: [...DURATION_BOUNDS],
      counts: [...this.histogram],
      over: this.histogramOver,
      sumSeconds: this.histogramSum,
    };
  }

  /** The items of a batch that threw: the last ERRORS_KEPT of them are listed (all are counted). */
  private recordFailures(
    row: Row | undefined,
    request: BatchRequest,
    outcome: Extract<BatchOutcome, { kind: 'done' }>,
  ): void {
    const failures = outcome.failures ?? [];
    const at = this.now();
    for (const failure of failures.slice(-ERRORS_KEPT)) {
      const place = {
        at,
        worker: row?.id ?? null,
        task: request.taskName,
        index: itemIndex(request, failure.offset),
      };
      this.errors.push(
        failure.kind === 'threw'
          ? viewOfError(place, failure.error)
          : viewOfMessage(
              place,
              'ERR_NOT_CLONEABLE',
              'NotCloneableError',
              crossingError(`Task "${request.taskName}": the result of item ${place.index}`, failure.problem)
                .message,
            ),
      );
    }
  }
}

/**
 * Resident memory of a process in bytes: this one's from Node, another's from /proc (Linux);
 * null where it cannot be read (another system, a process gone).
 */
export function residentMemory(pid: number): number | null {
  if (pid === process.pid) return process.memoryUsage.rss();
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return kb ? Number(kb[1]) * 1024 : null;
  } catch {
    return null;
  }
}
