/** The libraries the benchmark knows, by the name used on the command line and in the records. */

import { startFanout } from './fanout.js';
import { startHandSplit } from './hand-split.js';
import type { StartHarness } from './harness.js';
import { startPiscina } from './piscina.js';
import { startTinypool } from './tinypool.js';
import { startWorkerpool } from './workerpool.js';

export const libraries: Record<string, StartHarness> = {
  fanout: startFanout,
  piscina: startPiscina,
  tinypool: startTinypool,
  workerpool: startWorkerpool,
  'hand-split': startHandSplit,
};
