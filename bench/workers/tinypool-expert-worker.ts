/** tinypool's expert worker: one chunk per task, the results moved back (`Tinypool.move`). */

import Tinypool from 'tinypool';
import { type Range, runRange } from './functions.js';

export function chunk(range: Range): unknown {
  return Tinypool.move(runRange(range));
}
