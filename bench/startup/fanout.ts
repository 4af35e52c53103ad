/**
 * The `startup` row's fanout script, as a first program writes it: import, a pool, one
 * `pool.map` of ten items, close. bench/startup.ts times it as a whole process.
 *
 * It imports the package as `npm install fanout` delivers it: `fanout` and `fanout/tasks` are
 * resolved by Node through package.json's `exports` (a package may import itself by its name)
 * to dist/, the bundle that `npm run build` makes (scripts/bundle.mjs). Its types are src/'s,
 * which dist/ is built from (`paths` in tsconfig.json).
 * Usage: node dist-bench/bench/startup/fanout.js <workers>
 */

import { Pool } from 'fanout';
import tasks from './fanout-tasks.js';
import { ITEMS, reportCpuAtExit } from './items.js';

reportCpuAtExit();

const pool = new Pool({ workers: Number(process.argv[2]) });
try {
  console.log(JSON.stringify(await pool.map(tasks.square, ITEMS)));
} finally {
  await pool.close();
}
