/**
 * The tasks and loops of the marshaling demo (seed 000): summing numbers where they are, and
 * the smallest possible task, so that a pool run of it measures nothing but the crossing.
 */

import { defineTasks } from '../tasks/tasks.js';

/** A plain loop over a typed array (the seed's `np.sum`: one type, packed, no boxing). */
export function sumTyped(data: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i] as number;
  return sum;
}

/** The same loop over a JavaScript array (the seed's loop over a Python list). */
export function sumArray(data: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i] as number;
  return sum;
}

/** `reduce` over a JavaScript array (the seed's built-in `sum(list)`). */
export function sumReduce(data: readonly number[]): number {
  return data.reduce((a, b) => a + b, 0);
}

export default defineTasks(import.meta.url, {
  /** The number itself: all a pool run of this task costs is getting it there and back. */
  echo(x: number): number {
    return x;
  },
  /** The whole array in one task: one copy of it crosses. */
  sumTyped,
  /** One slice of a shared array: nothing is copied, every worker reads the same memory. */
  sumSlice(data: Float64Array, start: number, end: number): number {
    let sum = 0;
    for (let i = start; i < end; i++) sum += data[i] as number;
    return sum;
  },
});
