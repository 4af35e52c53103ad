/**
 * The Prometheus text exposition format (version 0.0.4) of what a dashboard knows: every
 * family once, with its HELP and TYPE lines, its samples together; names prefixed `fanout_`,
 * counters ending in `_total`, durations in seconds, memory in bytes.
 *
 * Counters are labelled by the process that counts them (`machine`, `pid`): a pool is one
 * process; `fanout dashboard --redis` lists each `fanout worker` process it sees. A process that
 * ends takes its series with it, which Prometheus reads as the end of that series, not as a
 * counter going down.
 */

import type { QueueView, SourceView, WorkerPart } from './types.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsInput {
  readonly source: SourceView;
  readonly parts: readonly WorkerPart[];
  /** A pool's calls (absent for `fanout dashboard --redis`, which sees no calls). */
  readonly calls?: { readonly started: number; readonly running: number } | undefined;
  readonly queue?: QueueView | null | undefined;
}

type Labels = Readonly<Record<string, string>>;

class Exposition {
  private readonly lines: string[] = [];

  family(
    name: string,
    type: 'counter' | 'gauge' | 'histogram',
    help: string,
    samples: readonly (readonly [Labels, number])[],
  ): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples)
      this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }

  histogram(
    name: string,
    help: string,
    series: readonly (readonly [Labels, WorkerPart['histogram']])[],
  ): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} histogram`);
    for (const [labels, histogram] of series) {
      let cumulative = 0;
      histogram.bounds.forEach((bound, i) => {
        cumulative += histogram.counts[i] ?? 0;
        this.lines.push(`${name}_bucket${formatLabels({ ...labels, le: formatValue(bound) })} ${cumulative}`);
      });
      cumulative += histogram.over;
      this.lines.push(`${name}_bucket${formatLabels({ ...labels, le: '+Inf' })} ${cumulative}`);
      this.lines.push(`${name}_sum${formatLabels(labels)} ${formatValue(histogram.sumSeconds)}`);
      this.lines.push(`${name}_count${formatLabels(labels)} ${cumulative}`);
    }
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

export function prometheusText(input: MetricsInput): string {
  const out = new Exposition();
  const { source, parts } = input;
  out.family('fanout_info', 'gauge', 'Always 1; the labels say what serves these metrics.', [
    [{ source: source.kind, backend: source.backend }, 1],
  ]);
  const byProcess = (value: (p: WorkerPart) => number) =>
    parts.map((p): [Labels, number] => [{ machine: p.machine, pid: String(p.pid) }, value(p)]);
  out.family(
    'fanout_tasks_total',
    'counter',
    'Items finished, successfully or not, by process.',
    byProcess((p) => p.totals.tasksDone),
  );
  out.family(
    'fanout_task_failures_total',
    'counter',
    'Items that threw, and batches lost with their worker or that could not run, by process.',
    byProcess((p) => p.totals.failures),
  );
  out.family(
    'fanout_batches_total',
    'counter',
    'Batches finished, by process.',
    byProcess((p) => p.totals.batches),
  );
  out.family(
    'fanout_busy_seconds_total',
    'counter',
    'Seconds workers spent running batches, all workers of the process together.',
    byProcess((p) => p.totals.busyMs / 1000),
  );
  out.family(
    'fanout_worker_starts_total',
    'counter',
    'Workers started (threads or processes), by process.',
    byProcess((p) => p.totals.workersStarted),
  );
  out.family(
    'fanout_worker_crashes_total',
    'counter',
    'Workers that died without being asked to (a crash, a signal, out of memory).',
    byProcess((p) => p.totals.crashes),
  );
  out.family(
    'fanout_worker_kills_total',
    'counter',
    'Workers killed on purpose: a task past its timeout, an abort past its grace, a module that never loaded.',
    byProcess((p) => p.totals.kills),
  );
  const states = new Map<string, number>();
  for (const part of parts) {
    for (const w of part.workers) states.set(w.state, (states.get(w.state) ?? 0) + 1);
  }
  out.family(
    'fanout_workers',
    'gauge',
    'Workers by state (ended ones stay listed a while: exited, crashed, killed).',
    ['starting', 'idle', 'busy', 'exited', 'crashed', 'killed'].map((state): [Labels, number] => [
      { state },
      states.get(state) ?? 0,
    ]),
  );
  const live = parts.flatMap((p) => p.workers.filter((w) => w.endedAt === null));
  const perWorker = (value: (w: (typeof live)[number]) => number | null) =>
    live.flatMap((w): [Labels, number][] => {
      const v = value(w);
      return v === null ? [] : [[{ worker: w.id, machine: w.machine, pid: String(w.pid) }, v]];
    });
  out.family(
    'fanout_worker_tasks_total',
    'counter',
    'Items this worker finished.',
    perWorker((w) => w.tasksDone),
  );
  out.family(
    'fanout_worker_failures_total',
    'counter',
    'Items that threw on this worker, and batches it lost or could not run.',
    perWorker((w) => w.failures),
  );
  out.family(
    'fanout_worker_busy_seconds_total',
    'counter',
    'Seconds this worker spent running batches.',
    perWorker((w) => w.busyMs / 1000),
  );
  out.family(
    'fanout_worker_busy_ratio',
    'gauge',
    'Share of the last seconds this worker spent running batches (0 to 1).',
    perWorker((w) => w.utilisation),
  );
  out.family(
    'fanout_worker_heap_bytes',
    'gauge',
    "This worker's JavaScript heap after its last batch.",
    perWorker((w) => w.heapUsed),
  );
  out.family(
    'fanout_worker_resident_bytes',
    'gauge',
    "Resident memory of this worker's process (a process's threads share it).",
    perWorker((w) => w.rss),
  );
  out.histogram(
    'fanout_batch_duration_seconds',
    'How long batches ran in their worker, by process.',
    parts.map((p) => [{ machine: p.machine, pid: String(p.pid) }, p.histogram] as const),
  );
  if (input.calls) {
    out.family('fanout_calls_total', 'counter', 'Calls started on the pool (map, run, ...).', [
      [{}, input.calls.started],
    ]);
    out.family('fanout_calls_running', 'gauge', 'Calls running on the pool now.', [
      [{}, input.calls.running],
    ]);
  }
  if (input.queue) {
    const q = input.queue;
    out.family('fanout_queue_jobs', 'gauge', 'Jobs in the redis queue, by state.', [
      [{ queue: q.name, state: 'waiting' }, q.waiting],
      [{ queue: q.name, state: 'active' }, q.active],
      [{ queue: q.name, state: 'completed' }, q.completed],
      [{ queue: q.name, state: 'failed' }, q.failed],
    ]);
  }
  return out.text();
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}
