/**
 * Figures per second over a sliding window, kept in fixed arrays: adding a batch is a few
 * stores, whatever the run's length. A slot is reused when its second comes round again.
 */

import type { SeriesData } from './types.js';

export const SERIES_SECONDS = 120;

export class Series {
  private readonly second: Float64Array;
  private readonly items: Float64Array;
  private readonly batches: Float64Array;
  private readonly durationSum: Float64Array;
  private readonly durationMax: Float64Array;

  constructor(private readonly seconds = SERIES_SECONDS) {
    this.second = new Float64Array(seconds).fill(-1);
    this.items = new Float64Array(seconds);
    this.batches = new Float64Array(seconds);
    this.durationSum = new Float64Array(seconds);
    this.durationMax = new Float64Array(seconds);
  }

  /** A batch of `items` that took `durationMs` and ended at `endMs` (epoch ms). */
  add(endMs: number, items: number, durationMs: number): void {
    const s = Math.floor(endMs / 1000);
    const i = s % this.seconds;
    if (this.second[i] !== s) {
      // An older second's slot (or one from a skewed clock far ahead: it is overwritten alike).
      this.second[i] = s;
      this.items[i] = this.batches[i] = this.durationSum[i] = this.durationMax[i] = 0;
    }
    this.items[i] = (this.items[i] as number) + items;
    this.batches[i] = (this.batches[i] as number) + 1;
    this.durationSum[i] = (this.durationSum[i] as number) + durationMs;
    if (durationMs > (this.durationMax[i] as number)) this.durationMax[i] = durationMs;
  }

  /** The window ending at `nowMs`, oldest second first. */
  data(nowMs: number): SeriesData {
    const end = Math.floor(nowMs / 1000);
    const n = this.seconds;
    const items: number[] = new Array(n);
    const batches: number[] = new Array(n);
    const durationSum: number[] = new Array(n);
    const durationMax: number[] = new Array(n);
    for (let k = 0; k < n; k++) {
      const s = end - n + 1 + k;
      const i = ((s % n) + n) % n;
      const live = this.second[i] === s;
      items[k] = live ? (this.items[i] as number) : 0;
      batches[k] = live ? (this.batches[i] as number) : 0;
      durationSum[k] = live ? round(this.durationSum[i] as number) : 0;
      durationMax[k] = live ? round(this.durationMax[i] as number) : 0;
    }
    return { end, items, batches, durationSum, durationMax };
  }
}

/** An empty window ending at `nowMs`. */
export function emptySeries(nowMs: number, seconds = SERIES_SECONDS): SeriesData {
  return new Series(seconds).data(nowMs);
}

/**
 * Several windows as one, aligned on their seconds (each part ends at its own clock's second):
 * counts and sums add up, maxima take the largest. The result ends at `nowMs`.
 */
export function mergeSeries(
  parts: readonly SeriesData[],
  nowMs: number,
  seconds = SERIES_SECONDS,
): SeriesData {
  const end = Math.floor(nowMs / 1000);
  const items = new Array<number>(seconds).fill(0);
  const batches = new Array<number>(seconds).fill(0);
  const durationSum = new Array<number>(seconds).fill(0);
  const durationMax = new Array<number>(seconds).fill(0);
  for (const part of parts) {
    const length = part.items.length;
    for (let j = 0; j < length; j++) {
      const s = part.end - length + 1 + j;
      const k = s - (end - seconds + 1);
      if (k < 0 || k >= seconds) continue;
      items[k] = (items[k] as number) + (part.items[j] ?? 0);
      batches[k] = (batches[k] as number) + (part.batches[j] ?? 0);
      durationSum[k] = round((durationSum[k] as number) + (part.durationSum[j] ?? 0));
      durationMax[k] = Math.max(durationMax[k] as number, part.durationMax[j] ?? 0);
    }
  }
  return { end, items, batches, durationSum, durationMax };
}

/** Items per second over the last `window` complete seconds of `series`. */
export function recentRate(series: SeriesData, window = 5): number {
  const { items } = series;
  // The current second is still filling: leave it out.
  let sum = 0;
  let counted = 0;
  for (let k = items.length - 2; k >= 0 && counted < window; k--, counted++) sum += items[k] as number;
  return counted === 0 ? 0 : sum / counted;
}

/** Milliseconds to 3 decimals: enough for a chart, and a shorter JSON. */
function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
