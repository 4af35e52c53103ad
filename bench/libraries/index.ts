/** The libraries the benchmark knows, by the name used on the command line and in the records. */

import { startFanout, startFanoutOneInFlight } from './fanout.js';
import { startHandSplit } from './hand-split.js';
import type { StartHarness } from './harness.js';
import { startPiscina, startPiscinaExpert } from './piscina.js';
import { startTinypool, startTinypoolExpert } from './tinypool.js';
import { startWorkerpool, startWorkerpoolExpert } from './workerpool.js';

export const libraries: Record<string, StartHarness> = {
  fanout: startFanout,
  'fanout-1-in-flight': startFanoutOneInFlight,
  piscina: startPiscina,
  'piscina-expert': startPiscinaExpert,
  tinypool: startTinypool,
  'tinypool-expert': startTinypoolExpert,
  workerpool: startWorkerpool,
  'workerpool-expert': startWorkerpoolExpert,
  'hand-split': startHandSplit,
};
