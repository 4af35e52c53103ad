/** Timing one run: wall clock, plus where the CPU went (main thread busy, cores used). */

import { performance } from 'node:perf_hooks';
import { collectGarbage } from './stats.js';

export interface Timed<T> {
  readonly value: T;
  readonly seconds: number;
  /** Main-thread event-loop utilisation during the run (0–1). */
  readonly utilization: number;
  /** Process CPU seconds (all threads) per wall second. */
  readonly cores: number;
  /** Process CPU seconds (all threads) during the run. */
  readonly cpuSeconds: number;
}

export async function timed<T>(run: () => T | Promise<T>): Promise<Timed<T>> {
  collectGarbage();
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = await run();
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  return {
    value,
    seconds,
    utilization: performance.eventLoopUtilization(elu).utilization,
    cores: cpuSeconds / seconds,
    cpuSeconds,
  };
}
