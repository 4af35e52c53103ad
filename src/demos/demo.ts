/** What every demo is: a name, a line of help, its own flags, and a run that prints a table and returns a report. */

import type { parseArgs } from 'node:util';
import type { ReportData } from '../observe/report.js';

export interface DemoContext {
  /** Print a line (stdout). */
  out(line: string): void;
  /** `--workers`, default every core. */
  readonly workers: number | 'auto';
  /** `--quick`: small sizes (tests, a first look). */
  readonly quick: boolean;
}

export type DemoFlags = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/**
 * What a demo's run returns: its report (written with --report) and, for demos whose variants
 * must agree, the results each variant computed, so that a test can check them against a
 * reference of its own instead of taking the demo's word ("every variant agrees") for it.
 */
export interface DemoResult<Computed = unknown> extends ReportData {
  readonly computed?: Computed;
}

export interface Demo<Computed = unknown> {
  readonly name: string;
  /** One line for `fanout demo --help`. */
  readonly summary: string;
  /** The demo's own flags (besides --report, --workers, --quick), and their help lines. */
  readonly flags?: DemoFlags;
  readonly help?: string;
  run(
    flags: Record<string, string | boolean | undefined>,
    context: DemoContext,
  ): Promise<DemoResult<Computed>>;
}

/** A table printed with aligned columns. */
export function printTable(
  out: (line: string) => void,
  columns: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): void {
  const cells = [columns, ...rows.map((r) => r.map(String))];
  const widths = columns.map((_, c) => Math.max(...cells.map((row) => String(row[c] ?? '').length)));
  const line = (row: readonly (string | number)[]) =>
    row
      .map((cell, c) =>
        c === 0 ? String(cell).padEnd(widths[c] ?? 0) : String(cell).padStart(widths[c] ?? 0),
      )
      .join('  ');
  out(line(columns));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) out(line(row));
}

/** Seconds with three decimals. */
export const secondsText = (s: number): string => s.toFixed(3);

/** Wall time of `fn` in seconds, with its result. */
export async function timed<T>(fn: () => T | Promise<T>): Promise<{ seconds: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - start) / 1000, value };
}
