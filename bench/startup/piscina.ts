/**
 * The `startup` row's Piscina script: the same ten items, one `run` each, all awaited, then
 * `destroy`. Its thread count is fixed to the same `workers` as fanout's pool (as in every row).
 * Usage: node dist-bench/bench/startup/piscina.js <workers>
 */

import { Piscina } from 'piscina';
import { ITEMS, reportCpuAtExit } from './items.js';

reportCpuAtExit();

const workers = Number(process.argv[2]);
const pool = new Piscina({
  filename: new URL('./piscina-worker.js', import.meta.url).href,
  minThreads: workers,
  maxThreads: workers,
});
try {
  console.log(JSON.stringify(await Promise.all(ITEMS.map((x) => pool.run(x) as Promise<number>))));
} finally {
  await pool.destroy();
}
