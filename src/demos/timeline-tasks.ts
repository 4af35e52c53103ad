/**
 * Seed 000's `report_work`: a loop that does nothing but note when it ran, by counting its
 * iterations into time bins. A bin's count is how much CPU the loop got during that slice of
 * time, so the bins of several runs side by side show who really ran at the same time.
 */

import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { defineTasks } from '../tasks/tasks.js';
import { wallClock } from './common.js';

/**
 * Count iterations into `bins` bins of `binMs` ms from `startAt` (epoch ms, the same clock in
 * every thread and process) until the last bin has passed. Synchronous: it holds its thread.
 */
export function reportWork(startAt: number, binMs: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (;;) {
    const bin = Math.floor((wallClock() - startAt) / binMs);
    if (bin >= bins) return counts;
    if (bin >= 0) counts[bin] = (counts[bin] as number) + 1;
  }
}

/**
 * The same loop as an async task: it gives the event loop back every `sliceMs` ms so other
 * tasks can run, as Python's threads hand the GIL over every few milliseconds. Tasks on one
 * event loop take turns; none of them gets a second core.
 */
export async function reportWorkAsync(
  startAt: number,
  binMs: number,
  bins: number,
  sliceMs = 1,
): Promise<number[]> {
  const counts = new Array<number>(bins).fill(0);
  let yieldAt = wallClock() + sliceMs;
  for (;;) {
    const now = wallClock();
    const bin = Math.floor((now - startAt) / binMs);
    if (bin >= bins) return counts;
    if (bin >= 0) counts[bin] = (counts[bin] as number) + 1;
    if (now >= yieldAt) {
      await yieldToEventLoop();
      yieldAt = wallClock() + sliceMs;
    }
  }
}

export default defineTasks(import.meta.url, { reportWork, reportWorkAsync });
