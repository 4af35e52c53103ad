/**
 * Tasks for the dashboard's screenshot and overhead scripts: a no-op (the `noop-auto` item),
 * work of a chosen length, and a parser that throws on bad input (so the page has errors to show).
 */

import { defineTasks } from '../src/index.js';

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {}
}

export default defineTasks(import.meta.url, {
  noop(_item?: unknown): void {},
  /** Busy for about `ms` milliseconds; returns it. */
  simulate(ms: number): number {
    busyWait(ms);
    return ms;
  },
  /** A number from a line of text; throws on anything else. */
  parseReading(line: string): number {
    busyWait(2);
    const value = Number(line);
    if (!Number.isFinite(value)) throw new SyntaxError(`not a reading: ${JSON.stringify(line)}`);
    return value;
  },
});
