/**
 * The work every library runs, as plain functions of one item. Piscina and tinypool load this
 * module directly (a task is picked by export name); workerpool and fanout register the same
 * functions, so every library runs the same code and only the dispatch differs.
 */

import { randomStream } from '../../src/data/random.js';
import { simulateWeather } from '../../src/demos/weather-tasks.js';

/** The seed every weather item draws from: item i uses the stream of (SEED, i), as the serial loop does. */
export const SEED = 2024;

/** The seed's `run_simulation(i)` with 10 steps. */
export function weather10(i: number): number {
  return simulateWeather(randomStream(SEED, i), 75, 5, 10);
}

/** The seed's `run_simulation(i)` with 100 steps. */
export function weather100(i: number): number {
  return simulateWeather(randomStream(SEED, i), 75, 5, 100);
}

/** No work at all: what is left is the cost of dispatching an item and returning its result. */
export function noop(i: number): number {
  return i;
}

/** Busy-wait `ms` milliseconds (a slow item that keeps its core busy, as real work would). */
export function busy(ms: number): number {
  const end = performance.now() + ms;
  let spins = 0;
  while (performance.now() < end) spins++;
  return spins;
}

/** A slow item that says which it was: busy-wait `ms`, then return `id` (so misordered results show). */
export function busyItem(ms: number, id: number): number {
  busy(ms);
  return id;
}

/**
 * A hand-made batch (the baseline fanout's batching is compared to): busy-wait for each duration
 * in turn; returns the ids of its items, `first` onwards.
 */
export function busyChunk(durations: readonly number[], first: number): number[] {
  return durations.map((ms, k) => busyItem(ms, first + k));
}

/**
 * Busy-wait `ms` milliseconds and return `ms`: the result names its item, so the fairness rows
 * (bench/fairness.ts) can check every result, and the wall clock fixes the work exactly.
 */
export function spin(ms: number): number {
  const end = performance.now() + ms;
  while (performance.now() < end);
  return ms;
}

export const functions = { weather10, weather100, noop, busy, busyItem, busyChunk, spin };

export type TaskName = 'weather10' | 'weather100' | 'noop' | 'spin';

/** One chunk of an expert's hand-chunked run: items `start` … `start + count − 1`, no input array. */
export interface Range {
  readonly task: TaskName;
  readonly start: number;
  readonly count: number;
}

/**
 * What an expert's worker runs for one chunk: every item of the workload is its own index, so the
 * worker generates its items instead of receiving them, and writes the results straight into a
 * Float64Array that is then moved (not copied) back.
 */
export function runRange({ task, start, count }: Range): Float64Array {
  const fn = functions[task];
  const results = new Float64Array(count);
  for (let i = 0; i < count; i++) results[i] = fn(start + i);
  return results;
}
