/** The results as a plain-text table (also pasted into the README as Markdown). */

import type { BenchRecord } from './record.js';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

const COLUMNS: readonly [string, (r: BenchRecord) => string][] = [
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

function rows(records: readonly BenchRecord[]): string[][] {
  return records.map((r) => COLUMNS.map(([, cell]) => cell(r)));
}

export function textTable(records: readonly BenchRecord[]): string {
  const body = rows(records);
  const header = COLUMNS.map(([name]) => name);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => (row[c] as string).length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (c < 2 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number)))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function markdownTable(records: readonly BenchRecord[]): string {
  const header = COLUMNS.map(([name]) => name);
  const align = COLUMNS.map((_, c) => (c < 2 ? '---' : '--:'));
  return [header, align, ...rows(records)].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
