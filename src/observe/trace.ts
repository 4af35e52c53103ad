/**
 * Traces in Chrome's Trace Event format: one track per worker, a span per batch and one per
 * task inside it, so Perfetto (ui.perfetto.dev) or chrome://tracing open them as they are.
 *
 * Per-task spans cost a timestamp per item in the worker, so they are only asked for when a
 * trace is recorded, and a trace keeps at most `maxTaskEvents` of them (batches are always kept):
 * a map of ten million items still gives a file that opens.
 */

import { writeFile } from 'node:fs/promises';
import { describe } from '../errors.js';
import type { BatchTrace } from '../types.js';
import { criticalPath } from './critical-path.js';

/** One event of the Trace Event format (complete events and metadata). */
export interface TraceEvent {
  readonly name: string;
  readonly cat?: string;
  /** Complete, metadata, instant, and a flow's start and finish (dependency arrows). */
  readonly ph: 'X' | 'M' | 'i' | 's' | 'f';
  /** Microseconds. */
  readonly ts: number;
  readonly dur?: number;
  readonly pid: number;
  readonly tid: number;
  readonly args?: Record<string, unknown>;
  /** Flow events: which start a finish belongs to. */
  readonly id?: number;
  /** A flow's finish binds to the slice that encloses it. */
  readonly bp?: 'e';
}

export interface TraceFile {
  readonly traceEvents: TraceEvent[];
  readonly displayTimeUnit: 'ms';
  readonly metadata?: Record<string, unknown>;
}

export const DEFAULT_MAX_TASK_EVENTS = 200_000;

/** Collects batches as they finish; `toJSON()` gives the trace file. */
export class TraceRecorder {
  readonly batches: BatchTrace[] = [];
  private taskEvents = 0;
  private readonly events: TraceEvent[] = [];
  private readonly workers = new Set<number>();
  private readonly pid = process.pid;

  constructor(private readonly maxTaskEvents = DEFAULT_MAX_TASK_EVENTS) {}

  /** Feed it `onBatch` events. */
  readonly record = (batch: BatchTrace): void => {
    this.batches.push(batch);
    const tid = batch.worker + 1;
    this.workers.add(tid);
    const ts = batch.startedAt * 1000;
    this.events.push({
      name: `${batch.taskName} ×${batch.count}`,
      cat: 'batch',
      ph: 'X',
      ts,
      dur: batch.duration * 1000,
      pid: this.pid,
      tid,
      args:
        batch.batch === undefined
          ? { first: batch.first, count: batch.count }
          : { first: batch.first, count: batch.count, batch: batch.batch },
    });
    const times = batch.itemTimes;
    if (!times) return;
    for (let i = 0; i < batch.count && this.taskEvents < this.maxTaskEvents; i++, this.taskEvents++) {
      this.events.push({
        name: batch.taskName,
        cat: 'task',
        ph: 'X',
        ts: ts + (times[2 * i] as number) * 1000,
        dur: (times[2 * i + 1] as number) * 1000,
        pid: this.pid,
        tid,
        args: { index: batch.first + i },
      });
    }
  };

  /**
   * The events, and for a task graph: its batches on the critical path marked (category
   * `batch,critical-path`), and an arrow (a flow event) from each batch to the batches that
   * used its values, at most `maxTaskEvents` of them.
   */
  private graphEvents(): TraceEvent[] {
    const critical = criticalPath(this.batches);
    if (critical.size === 0) return this.events;
    const events = this.events.map((event) => {
      const batch = event.cat === 'batch' ? event.args?.batch : undefined;
      return typeof batch === 'number' && critical.has(batch)
        ? { ...event, cat: 'batch,critical-path', args: { ...event.args, criticalPath: true } }
        : event;
    });
    const byId = new Map<number, BatchTrace>();
    for (const b of this.batches) if (b.batch !== undefined) byId.set(b.batch, b);
    let flows = 0;
    for (const b of this.batches) {
      for (const id of b.after ?? []) {
        const maker = byId.get(id);
        if (!maker || flows >= this.maxTaskEvents) continue;
        const flow = { name: 'dependency', cat: 'dependency', pid: this.pid, id: flows++ };
        events.push(
          { ...flow, ph: 's', ts: (maker.startedAt + maker.duration) * 1000 - 1, tid: maker.worker + 1 },
          { ...flow, ph: 'f', bp: 'e', ts: b.startedAt * 1000 + 1, tid: b.worker + 1 },
        );
      }
    }
    return events;
  }

  /** Whether task spans were dropped to keep the file small. */
  get truncated(): boolean {
    return this.taskEvents >= this.maxTaskEvents;
  }

  toJSON(): TraceFile {
    const names: TraceEvent[] = [...this.workers]
      .sort((a, b) => a - b)
      .map((tid) => ({
        name: 'thread_name',
        ph: 'M',
        ts: 0,
        pid: this.pid,
        tid,
        args: { name: `worker ${tid}` },
      }));
    return {
      traceEvents: [
        { name: 'process_name', ph: 'M', ts: 0, pid: this.pid, tid: 0, args: { name: 'fanout' } },
        ...names,
        ...this.graphEvents(),
      ],
      displayTimeUnit: 'ms',
      metadata: { taskEventsDropped: this.truncated },
    };
  }

  /**
   * Write the trace. A failure here (a full disk, a folder removed since the call started) does
   * not fail the call whose results are ready: it is a process warning, `FANOUT_TRACE_WRITE`.
   */
  async write(path: string): Promise<void> {
    try {
      await writeFile(path, JSON.stringify(this.toJSON()));
    } catch (error) {
      process.emitWarning(`The trace could not be written to ${path}: ${describe(error)}`, {
        type: 'FanoutTraceWarning',
        code: 'FANOUT_TRACE_WRITE',
      });
    }
  }
}
