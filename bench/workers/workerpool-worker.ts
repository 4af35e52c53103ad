/**
 * workerpool's worker script: registers the benchmark functions under their names, and `chunk`
 * for the expert row (a range of items, the results sent back as a transferred Float64Array).
 */

import workerpool from 'workerpool';
import { functions, type Range, runRange } from './functions.js';

workerpool.worker({
  ...functions,
  chunk(range: Range) {
    const results = runRange(range);
    return new workerpool.Transfer(results, [results.buffer]);
  },
});
