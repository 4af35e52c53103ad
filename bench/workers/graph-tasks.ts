/**
 * The task-graph benchmark's tasks (bench/extra/graphs.ts), the same trivial functions as
 * bench/python/graph_dask.py: leaf(i) = i, add(a, b) = a + b, load(i) = i,
 * transform(x) = 2x + 1, reduce(xs) = the sum of xs; and for graph-vectors (fanout's own row),
 * leaves of 1,000 numbers summed element-wise.
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
  /** graph-vectors (fanout only): a leaf's value is 1,000 numbers, i, i + 1, ... */
  vector(i: number): number[] {
    const v = new Array<number>(1000);
    for (let k = 0; k < 1000; k++) v[k] = i + k;
    return v;
  },
  /** graph-vectors: the element-wise sum of two vectors. */
  addVectors(a: readonly number[], b: readonly number[]): number[] {
    const out = new Array<number>(a.length);
    for (let k = 0; k < a.length; k++) out[k] = (a[k] as number) + (b[k] as number);
    return out;
  },
});
