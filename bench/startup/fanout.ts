/**
 * The `startup` row's fanout script, as a first program writes it: import, a pool, one
 * `pool.map` of ten items, close. bench/startup.ts times it as a whole process.
 * Usage: node dist-bench/bench/startup/fanout.js <workers>
 */

import { Pool } from '../../src/index.js';
import tasks from './fanout-tasks.js';
import { ITEMS } from './items.js';

const pool = new Pool({ workers: Number(process.argv[2]) });
try {
  console.log(JSON.stringify(await pool.map(tasks.square, ITEMS)));
} finally {
  await pool.close();
}
