/**
 * The `startup` row's fanout script, as a first program writes it: import, a pool, one
 * `pool.map` of ten items, close. bench/startup.ts times it as a whole process.
 *
 * It imports the package as `npm install fanout` delivers it: dist/, the bundle that `npm run
 * build` makes (scripts/bundle.mjs), not the per-file tsc output of src/ in dist-bench/. Its
 * types are src/'s, which dist/ is built from.
 * Usage: node dist-bench/bench/startup/fanout.js <workers>
 */

import { ITEMS, reportCpuAtExit } from './items.js';

reportCpuAtExit();

type Fanout = typeof import('../../src/index.js');
const { Pool } = (await import(new URL('../../../dist/index.js', import.meta.url).href)) as Fanout;
const tasks = (await import('./fanout-tasks.js')).default;

const pool = new Pool({ workers: Number(process.argv[2]) });
try {
  console.log(JSON.stringify(await pool.map(tasks.square, ITEMS)));
} finally {
  await pool.close();
}
