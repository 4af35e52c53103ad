/**
 * Reports: one self-contained HTML page (no script, no network) with the tables of a run, a
 * speedup chart and an efficiency chart against the number of workers (with the ideal and the
 * Amdahl curve fitted to the measurements), and a timeline of batches per worker.
 */

import { writeFile } from 'node:fs/promises';
import type { BatchTrace } from '../types.js';
import { amdahlSpeedup, fitParallelFraction } from './amdahl.js';
import { criticalPath } from './critical-path.js';
import { escapeXml, lineChart, type Series, type TimelineSpan, timelineChart } from './svg.js';

export interface ReportTable {
  readonly caption: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

/** One scaling experiment: the same work at several worker counts. */
export interface Scaling {
  readonly name: string;
  /** Seconds at each worker count; speedup is measured against `baselineSeconds`. */
  readonly points: readonly { readonly workers: number; readonly seconds: number }[];
  /** The time of the serial baseline (default: the 1-worker point). */
  readonly baselineSeconds?: number;
}

export interface ReportData {
  readonly title: string;
  readonly subtitle?: string;
  readonly tables?: readonly ReportTable[];
  readonly scaling?: readonly Scaling[];
  /** Batches as they ran, for the timeline (from a trace). */
  readonly batches?: readonly BatchTrace[];
  /** Extra line charts (the timeline demo's work over time). */
  readonly charts?: readonly {
    id: string;
    title: string;
    xLabel: string;
    yLabel: string;
    series: Series[];
  }[];
  readonly notes?: readonly string[];
  /** Pictures drawn by the demo itself (an SVG element each, with an `id`): the heat demo's plate. */
  readonly figures?: readonly string[];
}

/** Speedups, efficiencies and the fitted parallel fraction of a scaling experiment. */
export function analyseScaling(scaling: Scaling): {
  points: { workers: number; seconds: number; speedup: number; efficiency: number }[];
  parallelFraction: number;
} {
  const baseline = scaling.baselineSeconds ?? scaling.points.find((p) => p.workers === 1)?.seconds;
  const points = scaling.points.map((p) => {
    const speedup = baseline === undefined ? Number.NaN : baseline / p.seconds;
    return { ...p, speedup, efficiency: speedup / p.workers };
  });
  return { points, parallelFraction: fitParallelFraction(points) };
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, sans-serif; margin: 2rem auto; max-width: 1360px; padding: 0 1rem; color: #111827; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } .subtitle { color: #4b5563; margin-top: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; } .chart { width: 640px; max-width: 100%; height: auto; border: 1px solid #e5e7eb; border-radius: 6px; background: #fff; }
.chart text { font-size: 11px; fill: #374151; } .chart .title { font-size: 13px; font-weight: 600; }
.grid { stroke: #f3f4f6; } .axis { stroke: #9ca3af; } .lane { fill: #fff; stroke: #f3f4f6; }
.batch { fill: #93c5fd; stroke: #2563eb; stroke-width: 0.5; } .task { fill: #1d4ed8; }
.critical { fill: #fca5a5; stroke: #dc2626; stroke-width: 0.8; }
.edge { stroke: #6b7280; stroke-width: 0.4; opacity: 0.5; } .critical-edge { stroke: #dc2626; stroke-width: 1; opacity: 0.9; }
table { border-collapse: collapse; margin: 1rem 0; } caption { text-align: left; font-weight: 600; margin-bottom: 0.3rem; }
td, th { border-bottom: 1px solid #e5e7eb; padding: 0.25rem 0.75rem; text-align: right; } td:first-child, th:first-child { text-align: left; }
.notes { color: #374151; } footer { color: #6b7280; margin-top: 2rem; font-size: 12px; }`;

function table(t: ReportTable): string {
  const head = t.columns.map((c) => `<th>${escapeXml(c)}</th>`).join('');
  const body = t.rows
    .map((row) => `<tr>${row.map((cell) => `<td>${escapeXml(String(cell))}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table><caption>${escapeXml(t.caption)}</caption><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function scalingCharts(scaling: readonly Scaling[]): string[] {
  const analysed = scaling.map((s) => ({ name: s.name, ...analyseScaling(s) }));
  const maxWorkers = Math.max(...analysed.flatMap((a) => a.points.map((p) => p.workers)));
  const span = Array.from({ length: Math.max(2, maxWorkers) }, (_, i) => i + 1);
  const speedup: Series[] = [{ name: 'ideal (linear)', points: span.map((n) => [n, n]), dashed: true }];
  const efficiency: Series[] = [{ name: 'ideal', points: span.map((n) => [n, 1]), dashed: true }];
  for (const a of analysed) {
    speedup.push({ name: a.name, points: a.points.map((p) => [p.workers, p.speedup]), dots: true });
    efficiency.push({ name: a.name, points: a.points.map((p) => [p.workers, p.efficiency]), dots: true });
    if (Number.isFinite(a.parallelFraction)) {
      speedup.push({
        name: `Amdahl, p = ${a.parallelFraction.toFixed(3)}`,
        points: span.map((n) => [n, amdahlSpeedup(a.parallelFraction, n)]),
        dashed: true,
      });
    }
  }
  return [
    lineChart({ id: 'speedup', title: 'Speedup', xLabel: 'workers', yLabel: 'speedup (×)', series: speedup }),
    lineChart({
      id: 'efficiency',
      title: 'Efficiency (speedup ÷ workers)',
      xLabel: 'workers',
      yLabel: 'efficiency',
      series: efficiency,
    }),
  ];
}

/** The timeline's spans: batches, and their tasks when the trace timed them. */
export function timelineSpans(batches: readonly BatchTrace[], maxTasks = 5000): TimelineSpan[] {
  if (batches.length === 0) return [];
  const origin = Math.min(...batches.map((b) => b.startedAt));
  const critical = criticalPath(batches);
  const spans: TimelineSpan[] = [];
  let tasks = 0;
  for (const b of batches) {
    const start = b.startedAt - origin;
    spans.push({
      lane: b.worker + 1,
      start,
      end: start + b.duration,
      label:
        b.batch === undefined
          ? `${b.taskName}: items ${b.first}–${b.first + b.count - 1}, ${b.duration.toFixed(2)} ms`
          : `${b.taskName}: ${b.count} node${b.count === 1 ? '' : 's'}, ${b.duration.toFixed(2)} ms${critical.has(b.batch) ? ', on the critical path' : ''}`,
      kind: b.batch !== undefined && critical.has(b.batch) ? 'critical' : 'batch',
      id: b.batch,
      after: b.after,
    });
    const times = b.itemTimes;
    if (!times) continue;
    for (let i = 0; i < b.count && tasks < maxTasks; i++, tasks++) {
      const t0 = start + (times[2 * i] as number);
      spans.push({
        lane: b.worker + 1,
        start: t0,
        end: t0 + (times[2 * i + 1] as number),
        label: `item ${b.first + i}`,
        kind: 'task',
      });
    }
  }
  return spans;
}

export function renderReport(data: ReportData): string {
  const charts: string[] = [];
  if (data.scaling && data.scaling.length > 0) charts.push(...scalingCharts(data.scaling));
  for (const c of data.charts ?? []) charts.push(lineChart(c));
  if (data.batches && data.batches.length > 0) {
    const graph = data.batches.some((b) => b.batch !== undefined);
    const title = graph
      ? 'Batches per worker over time: arrows are dependencies, the critical path in red'
      : 'Batches per worker over time';
    charts.push(timelineChart('timeline', title, timelineSpans(data.batches)));
  }
  charts.push(...(data.figures ?? []));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(data.title)}</title><style>${STYLE}</style></head>
<body>
<h1>${escapeXml(data.title)}</h1>
${data.subtitle ? `<p class="subtitle">${escapeXml(data.subtitle)}</p>` : ''}
<section class="charts">${charts.join('\n')}</section>
${(data.tables ?? []).map(table).join('\n')}
${data.notes?.length ? `<ul class="notes">${data.notes.map((n) => `<li>${escapeXml(n)}</li>`).join('')}</ul>` : ''}
<footer>Generated by fanout on ${escapeXml(new Date().toISOString())}.</footer>
</body></html>
`;
}

export async function writeReport(path: string, data: ReportData): Promise<void> {
  await writeFile(path, renderReport(data));
}
