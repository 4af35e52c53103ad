/**
 * The task-graph benchmark's graphs, built with `delayed` exactly as bench/python/graph_dask.py
 * builds them with dask.delayed (its header defines both, node for node).
 */

import { type Delayed, delayed } from '../src/index.js';
import tasks from './workers/graph-tasks.js';

/** graph_dask.py's graph-tree: leaves paired level by level, an odd node out carried up. */
export function buildTree(n: number): Delayed<number> {
  let level: Delayed<number>[] = new Array(n);
  const leaf = delayed(tasks.leaf);
  const add = delayed(tasks.add);
  for (let i = 0; i < n; i++) level[i] = leaf(i);
  while (level.length > 1) {
    const next: Delayed<number>[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(add(level[i] as never, level[i + 1] as never));
    if (level.length % 2 === 1) next.push(level[level.length - 1] as Delayed<number>);
    level = next;
  }
  return level[0] as Delayed<number>;
}

/**
 * graph-vectors (fanout's own row, no Dask twin): graph-tree's shape with 1,000-number vectors
 * as values, where keeping inner values on the workers (fused pieces) saves copying them.
 */
export function buildVectorTree(n: number): Delayed<number[]> {
  let level: Delayed<number[]>[] = new Array(n);
  const vector = delayed(tasks.vector);
  const add = delayed(tasks.addVectors);
  for (let i = 0; i < n; i++) level[i] = vector(i);
  while (level.length > 1) {
    const next: Delayed<number[]>[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(add(level[i] as never, level[i + 1] as never));
    if (level.length % 2 === 1) next.push(level[level.length - 1] as Delayed<number[]>);
    level = next;
  }
  return level[0] as Delayed<number[]>;
}

/** graph_dask.py's graph-pipeline: load(i) → transform, and one reduce over every transform. */
export function buildPipeline(n: number): Delayed<number> {
  const load = delayed(tasks.load);
  const transform = delayed(tasks.transform);
  const transformed: Delayed<number>[] = new Array(n);
  for (let i = 0; i < n; i++) transformed[i] = transform(load(i) as never);
  return delayed(tasks.reduce)(transformed as never);
}
