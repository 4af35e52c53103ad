/** Piscina's expert worker: one chunk per task, the results moved back (Piscina's `move`). */

import { move } from 'piscina';
import { type Range, runRange } from './functions.js';

export function chunk(range: Range): unknown {
  return move(runRange(range));
}
