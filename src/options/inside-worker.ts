/**
 * Whether this thread or process is a fanout worker: its runtime says so as it starts, and a pool
 * made inside a task asks (options/resolve.ts, nested parallelism stays within the machine). A
 * module of its own so that a worker does not load the options code to say it. A global symbol,
 * not a module variable: a task module may import another copy of fanout than the runtime's.
 */

/** The symbol's key (`Symbol.for`): a thread's bootstrap sets it too (local/preload.ts). */
export const INSIDE_WORKER_KEY = 'fanout.insideWorker';
const INSIDE_WORKER = Symbol.for(INSIDE_WORKER_KEY);

/** This thread or process is a fanout worker. */
export function markInsideWorker(): void {
  (globalThis as Record<symbol, unknown>)[INSIDE_WORKER] = true;
}

export function insideWorker(): boolean {
  return (globalThis as Record<symbol, unknown>)[INSIDE_WORKER] === true;
}
