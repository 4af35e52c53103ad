/**
 * Tasks of the redis benchmark: a no-op, to measure what the backend itself costs per item, and
 * seed 002's weather simulation of 10 steps drawing from the stream of (SEED, item), so its
 * results can be checked against a serial loop.
 */

import { defineTasks } from '../src/index.js';
import { weather10 } from './workers/functions.js';

export default defineTasks(import.meta.url, {
  noop(_item?: unknown): void {},
  weather10,
});
