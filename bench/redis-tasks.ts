/** Tasks of the redis benchmarks: a no-op, to measure what the backend itself costs per item, and `next`, whose results can be checked. */

import { defineTasks } from '../src/index.js';

export default defineTasks(import.meta.url, {
  noop(_item?: unknown): void {},
  /** As cheap as the no-op, but result i of `range(n)` must be i + 1: a lost, repeated or misplaced result shows. */
  next(item: number): number {
    return item + 1;
  },
});
