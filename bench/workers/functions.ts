/**
 * The work every library runs, as plain functions of one item. Piscina and tinypool load this
 * module directly (a task is picked by export name); workerpool and fanout register the same
 * functions, so every library runs the same code and only the dispatch differs.
 */

import { simulateWeather } from '../../src/demos/weather-tasks.js';
import { randomStream } from '../../src/random.js';

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

/** A hand-made batch: busy-wait for each duration in turn (the baseline fanout's batching is compared to). */
export function busyChunk(durations: readonly number[]): number {
  let spins = 0;
  for (const ms of durations) spins += busy(ms);
  return spins;
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

export const functions = { weather10, weather100, noop, busy, busyChunk, spin };

export type TaskName = 'weather10' | 'weather100' | 'noop' | 'spin';
