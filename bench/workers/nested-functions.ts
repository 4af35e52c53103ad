/**
 * The work of the `async-io` and `fib` rows (bench/nested.ts), as plain functions: Piscina loads
 * this module directly (a task is picked by export name); fanout registers the same functions
 * in nested-tasks.ts.
 */

import { setTimeout as sleep } from 'node:timers/promises';

/** async-io: each task awaits this long (a stand-in for a request) ... */
export const IO_WAIT_MS = 10;
/** ... then computes this long on its thread (parsing the answer). */
export const IO_COMPUTE_MS = 0.2;

/** Await IO_WAIT_MS, then busy-wait IO_COMPUTE_MS; returns `i` so every result names its item. */
export async function ioThenCompute(i: number): Promise<number> {
  await sleep(IO_WAIT_MS);
  const end = performance.now() + IO_COMPUTE_MS;
  while (performance.now() < end);
  return i;
}

/** The plain synchronous recursion, for the fib row's honest baseline. */
export function fibSync(n: number): number {
  return n < 2 ? n : fibSync(n - 1) + fibSync(n - 2);
}

export default { ioThenCompute };
