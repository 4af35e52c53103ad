/** Small helpers the seed demos share: worker counts, ranges, a wall clock, repeated timings. */

import { loadavg } from 'node:os';
import { cores } from '../options/checks.js';
import { timed } from './demo.js';

/** `--workers` as a number of workers on this machine ('auto' and -1, -2... resolved). */
export function workerCount(workers: number | 'auto'): number {
  if (workers === 'auto') return cores();
  return workers < 0 ? Math.max(1, cores() + 1 + workers) : workers;
}

/** 0, 1, ..., n − 1, lazily. */
export function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

/**
 * Epoch milliseconds with sub-millisecond resolution. `performance.now()` alone counts from the
 * start of each thread or process; adding `timeOrigin` puts every worker on the same clock.
 */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The median wall time of `repeats` runs of `fn`, and the last run's value. Short runs are
 * noisy on a shared machine; the median shrugs off a run that was descheduled.
 */
export async function medianTimed<T>(
  repeats: number,
  fn: () => T | Promise<T>,
): Promise<{ seconds: number; value: T }> {
  const times: number[] = [];
  let value: T | undefined;
  for (let i = 0; i < repeats; i++) {
    const run = await timed(fn);
    times.push(run.seconds);
    value = run.value;
  }
  times.sort((a, b) => a - b);
  return { seconds: times[Math.floor(times.length / 2)] as number, value: value as T };
}

/** A speedup (or slowdown) as text: 12×, 1.93×, 0.031×, 0.00015×. */
export function timesText(ratio: number): string {
  if (ratio >= 10) return `${ratio.toFixed(0)}×`;
  return ratio >= 0.1 ? `${ratio.toFixed(2)}×` : `${ratio.toPrecision(2)}×`;
}

/** Whole numbers with thousands separators. */
export const countText = (n: number): string => Math.round(n).toLocaleString('en-US');

/**
 * The machine, for a demo's first line: cores and the load average of the last minute. On a
 * machine shared with other work a parallel run gets fewer cores than it asks for, and the
 * reader should know.
 */
export function machineText(): string {
  const [load] = loadavg();
  return `a ${cores()}-core machine (load average ${(load ?? 0).toFixed(1)})`;
}
