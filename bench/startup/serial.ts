/**
 * The `startup` row's baseline: the same ten squares in a plain loop, no pool. Its time is
 * Node's own start and exit, the floor under both libraries' scripts.
 */

import { ITEMS, reportCpuAtExit, square } from './items.js';

reportCpuAtExit();

console.log(JSON.stringify(ITEMS.map(square)));
