/**
 * Tasks of the redis benchmarks: a no-op, to measure what the backend itself costs per item;
 * `next`, whose results can be checked; and the weather simulation of 10 steps drawing from the
 * stream of (SEED, item), so its results can be checked against a serial loop.
 */

import { defineTasks } from '../src/index.js';
import { weather10 } from './workers/functions.js';

export default defineTasks(import.meta.url, {
  noop(_item?: unknown): void {},
  /** As cheap as the no-op, but result i of `range(n)` must be i + 1: a lost, repeated or misplaced result shows. */
  next(item: number): number {
    return item + 1;
  },
  weather10,
});
