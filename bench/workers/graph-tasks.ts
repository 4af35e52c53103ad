/**
 * The task-graph benchmark's tasks (bench/extra/graphs.ts), the same trivial functions as
 * bench/python/graph_dask.py: leaf(i) = i, add(a, b) = a + b, load(i) = i,
 * transform(x) = 2x + 1, reduce(xs) = the sum of xs.
 */

import { defineTasks } from '../../src/tasks/tasks.js';

export default defineTasks(import.meta.url, {
  leaf(i: number): number {
    return i;
  },
  add(a: number, b: number): number {
    return a + b;
  },
  load(i: number): number {
    return i;
  },
  transform(x: number): number {
    return 2 * x + 1;
  },
  reduce(xs: readonly number[]): number {
    let total = 0;
    for (const x of xs) total += x;
    return total;
  },
});
