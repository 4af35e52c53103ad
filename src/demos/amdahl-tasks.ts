/**
 * The amdahl demo's unit of work: a fixed number of steps of a linear congruential generator.
 * Fixed work, not a fixed time: on a core shared with other programs it takes longer, as real
 * computation does.
 */

import { defineTasks } from '../tasks/tasks.js';

/** `iterations` steps of arithmetic; the result is returned so the loop cannot be optimised away. */
export function spin(iterations: number): number {
  let x = 1;
  for (let i = 0; i < iterations; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  return x;
}

export default defineTasks(import.meta.url, { spin });
