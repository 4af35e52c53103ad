/**
 * Charts as inline SVG, drawn here so a report is one self-contained file: no script, no
 * network, and it renders the same in any browser. Two kinds: line charts (speedup,
 * efficiency, work over time) and a timeline of batches per worker (Dask's task stream: white
 * gaps are idle time).
 */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  readonly dashed?: boolean;
  /** Draw the points as dots too. */
  readonly dots?: boolean;
}

export interface LineChartSpec {
  readonly id: string;
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Force the y axis to start at 0 (default) or at the data's minimum. */
  readonly yFromZero?: boolean;
}

export interface TimelineSpan {
  readonly lane: number;
  /** ms from the start of the run. */
  readonly start: number;
  readonly end: number;
  readonly label: string;
  /** `critical`: a batch on a task graph's critical path. */
  readonly kind: 'batch' | 'task' | 'critical';
  /** Task graphs: the batch's number, and the batches whose values it used (drawn as arrows). */
  readonly id?: number | undefined;
  readonly after?: readonly number[] | undefined;
}

/** At most this many dependency arrows are drawn (beyond that they are a smear). */
const MAX_EDGES = 2000;

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563'];
const WIDTH = 640;
const HEIGHT = 320;
const MARGIN = { left: 56, right: 16, top: 36, bottom: 44 };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Round numbers for axis ticks: 1, 2, 5 × 10^k. */
function ticks(min: number, max: number, count = 5): number[] {
  const span = max - min || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

function format(value: number): string {
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (Math.abs(value) >= 1e3) return `${(value / 1e3).toPrecision(3)}k`;
  return `${Number(value.toPrecision(3))}`;
}

export function lineChart(spec: LineChartSpec): string {
  const all = spec.series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yMin = spec.yFromZero === false ? Math.min(...ys) : Math.min(0, ...ys);
  const yMax = Math.max(...ys) * 1.05 || 1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + ((x - xMin) / (xMax - xMin || 1)) * plotW;
  const sy = (y: number) => MARGIN.top + plotH - ((y - yMin) / (yMax - yMin || 1)) * plotH;
  const parts: string[] = [];
  for (const t of ticks(yMin, yMax)) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${sy(t)}" y2="${sy(t)}" class="grid"/>`,
      `<text x="${MARGIN.left - 6}" y="${sy(t) + 4}" text-anchor="end">${format(t)}</text>`,
    );
  }
  // Whole-number data (worker counts) gets whole-number ticks.
  const integral = xs.every(Number.isInteger);
  for (const t of ticks(xMin, xMax, 6).filter((v) => !integral || Number.isInteger(v))) {
    parts.push(
      `<text x="${sx(t)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${format(t)}</text>`,
    );
  }
  spec.series.forEach((series, i) => {
    const color = PALETTE[i % PALETTE.length];
    const d = series.points
      .map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join('');
    parts.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ''} class="series"><title>${escapeXml(series.name)}</title></path>`,
    );
    if (series.dots) {
      for (const [x, y] of series.points) {
        parts.push(
          `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${color}" class="point"><title>${escapeXml(`${series.name}: ${format(x)}, ${format(y)}`)}</title></circle>`,
        );
      }
    }
    // The legend sits at the bottom right, clear of lines that start high on the left.
    const ly = HEIGHT - MARGIN.bottom - 10 - (spec.series.length - 1 - i) * 16;
    parts.push(
      `<line x1="${WIDTH - MARGIN.right - 200}" x2="${WIDTH - MARGIN.right - 180}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${WIDTH - MARGIN.right - 174}" y="${ly}">${escapeXml(series.name)}</text>`,
    );
  });
  return `<svg id="${escapeXml(spec.id)}" class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeXml(spec.title)}">
<text x="${WIDTH / 2}" y="20" text-anchor="middle" class="title">${escapeXml(spec.title)}</text>
<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" class="axis"/>
<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${HEIGHT - MARGIN.bottom}" y2="${HEIGHT - MARGIN.bottom}" class="axis"/>
${parts.join('\n')}
<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 8}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>
<text x="14" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${MARGIN.top + plotH / 2})">${escapeXml(spec.yLabel)}</text>
</svg>`;
}

export function timelineChart(id: string, title: string, spans: readonly TimelineSpan[]): string {
  if (spans.length === 0) return '';
  const lanes = [...new Set(spans.map((s) => s.lane))].sort((a, b) => a - b);
  const end = Math.max(...spans.map((s) => s.end));
  const laneH = 26;
  const height = MARGIN.top + lanes.length * laneH + MARGIN.bottom;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const sx = (t: number) => MARGIN.left + (t / (end || 1)) * plotW;
  const parts: string[] = [];
  lanes.forEach((lane, i) => {
    const y = MARGIN.top + i * laneH;
    parts.push(
      `<text x="${MARGIN.left - 6}" y="${y + laneH / 2 + 4}" text-anchor="end">w${lane}</text>`,
      `<rect x="${MARGIN.left}" y="${y + 3}" width="${plotW}" height="${laneH - 6}" class="lane"/>`,
    );
  });
  for (const span of spans) {
    const i = lanes.indexOf(span.lane);
    const y = MARGIN.top + i * laneH + (span.kind === 'task' ? 9 : 4);
    const h = span.kind === 'task' ? laneH - 18 : laneH - 8;
    const w = Math.max(0.5, sx(span.end) - sx(span.start));
    parts.push(
      `<rect x="${sx(span.start).toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${h}" class="${span.kind}"><title>${escapeXml(span.label)}</title></rect>`,
    );
  }
  // Task graphs: an arrow from the end of each batch to the start of each batch that used it.
  const byId = new Map<number, TimelineSpan>();
  for (const span of spans) if (span.id !== undefined) byId.set(span.id, span);
  let edges = 0;
  const mid = (span: TimelineSpan) => MARGIN.top + lanes.indexOf(span.lane) * laneH + laneH / 2;
  for (const span of spans) {
    for (const id of span.after ?? []) {
      const maker = byId.get(id);
      if (!maker || edges++ >= MAX_EDGES) continue;
      const critical = maker.kind === 'critical' && span.kind === 'critical' ? ' critical-edge' : '';
      parts.push(
        `<line x1="${sx(maker.end).toFixed(2)}" y1="${mid(maker)}" x2="${sx(span.start).toFixed(2)}" y2="${mid(span)}" class="edge${critical}"/>`,
      );
    }
  }
  for (const t of ticks(0, end, 6)) {
    parts.push(
      `<text x="${sx(t)}" y="${height - MARGIN.bottom + 16}" text-anchor="middle">${format(t)}</text>`,
    );
  }
  return `<svg id="${escapeXml(id)}" class="chart timeline" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${escapeXml(title)}">
<text x="${WIDTH / 2}" y="20" text-anchor="middle" class="title">${escapeXml(title)}</text>
${parts.join('\n')}
<text x="${MARGIN.left + plotW / 2}" y="${height - 8}" text-anchor="middle">time (ms) — white gaps are idle workers</text>
</svg>`;
}
