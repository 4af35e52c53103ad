/** The results as a plain-text table (also pasted into the README as Markdown). */

import type { BenchRecord } from './record.js';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** A table's columns: a heading, and how a record fills its cell (the first two are left-aligned). */
export type Columns<R> = readonly [string, (r: R) => string][];

const COLUMNS: Columns<BenchRecord> = [
  ['workload', (r) => r.workload],
  ['library', (r) => r.library],
  ['workers', (r) => String(r.workers)],
  ['items', (r) => integer.format(r.items)],
  ['seconds', (r) => r.seconds.toFixed(3)],
  ['items/s', (r) => integer.format(r.itemsPerSecond)],
  ['× serial', (r) => r.speedupVsSerial.toFixed(r.speedupVsSerial < 0.1 ? 3 : 2)],
  ['runs', (r) => String(r.samples?.length ?? 1)],
  ['cores used', (r) => (r.coresUsed === undefined ? '' : r.coresUsed.toFixed(2))],
  ['CPU eff.', (r) => (r.cpuEfficiency === undefined ? '' : r.cpuEfficiency.toFixed(2))],
  [
    'main busy',
    (r) => (r.mainThreadUtilization === undefined ? '' : `${Math.round(r.mainThreadUtilization * 100)}%`),
  ],
  ['peak RSS MB', (r) => (r.peakRssMb === undefined ? '' : integer.format(r.peakRssMb))],
  ['load', (r) => (r.loadAverage === undefined ? '' : r.loadAverage.toFixed(1))],
];

function rows<R>(records: readonly R[], columns: Columns<R>): string[][] {
  return records.map((r) => columns.map(([, cell]) => cell(r)));
}

/** Any records as a plain-text table of the given columns. */
export function textTableOf<R>(records: readonly R[], columns: Columns<R>): string {
  const body = rows(records, columns);
  const header = columns.map(([name]) => name);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => (row[c] as string).length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (c < 2 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number)))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** Any records as a Markdown table of the given columns. */
export function markdownTableOf<R>(records: readonly R[], columns: Columns<R>): string {
  const header = columns.map(([name]) => name);
  const align = columns.map((_, c) => (c < 2 ? '---' : '--:'));
  return [header, align, ...rows(records, columns)].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export function textTable(records: readonly BenchRecord[]): string {
  return textTableOf(records, COLUMNS);
}

export function markdownTable(records: readonly BenchRecord[]): string {
  return markdownTableOf(records, COLUMNS);
}
