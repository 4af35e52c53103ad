/**
 * The stages of `fanout demo graph`, a pipeline a data team would recognise: many log files of
 * sensor readings → parse each → features of each → one aggregate. The files are made up, the
 * same on every run: file i holds 200 + ⌊100·u₀⌋ lines `sensor-<k>,<reading>`, where the u are
 * the draws of randomStream(seed, i) in order, k = ⌊8·u⌋ and the reading is 20 + 10·u′ rounded
 * to 3 decimals (two draws per line). The functions are exported so the serial loop calls the
 * very same code the tasks run.
 */

import { randomStream } from '../data/random.js';
import { defineTasks } from '../tasks/tasks.js';

/** What the demo computes for one file. */
export interface Features {
  readonly file: number;
  readonly count: number;
  readonly sum: number;
  readonly max: number;
  /** Readings above 29.5, an alert threshold. */
  readonly alerts: number;
}

/** The aggregate over every file. */
export interface Summary {
  readonly files: number;
  readonly readings: number;
  readonly sum: number;
  readonly max: number;
  readonly alerts: number;
  /** The file with the most alerts (the first of them on a tie). */
  readonly worstFile: number;
}

export const ALERT = 29.5;

/** File i's text (made up, see the header). */
export function readFile(seed: number, i: number): string {
  const rng = randomStream(seed, i);
  const lines = 200 + Math.floor(100 * rng.random());
  const out: string[] = [];
  for (let l = 0; l < lines; l++) {
    const sensor = Math.floor(8 * rng.random());
    const reading = Math.round((20 + 10 * rng.random()) * 1000) / 1000;
    out.push(`sensor-${sensor},${reading}`);
  }
  return out.join('\n');
}

/** The readings of a file's text, in order. */
export function parse(text: string): number[] {
  return text.split('\n').map((line) => Number(line.slice(line.indexOf(',') + 1)));
}

export function features(file: number, readings: readonly number[]): Features {
  let sum = 0;
  let max = Number.NEGATIVE_INFINITY;
  let alerts = 0;
  for (const r of readings) {
    sum += r;
    if (r > max) max = r;
    if (r > ALERT) alerts++;
  }
  return { file, count: readings.length, sum, max, alerts };
}

/** The files' features folded in file order. */
export function aggregate(all: readonly Features[]): Summary {
  let readings = 0;
  let sum = 0;
  let max = Number.NEGATIVE_INFINITY;
  let alerts = 0;
  let worstFile = -1;
  let worstAlerts = -1;
  for (const f of all) {
    readings += f.count;
    sum += f.sum;
    if (f.max > max) max = f.max;
    alerts += f.alerts;
    if (f.alerts > worstAlerts) {
      worstAlerts = f.alerts;
      worstFile = f.file;
    }
  }
  return { files: all.length, readings, sum, max, alerts, worstFile };
}

export default defineTasks(import.meta.url, { readFile, parse, features, aggregate });
