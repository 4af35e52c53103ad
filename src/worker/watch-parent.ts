/** A worker process's guard against outliving its pool (see local/orphans.ts for the parent's side). */

import { Worker } from 'node:worker_threads';

/**
 * In a worker process: die as soon as the parent is gone, even in the middle of a busy task.
 * A tiny thread polls the parent pid (a blocked event loop could not); it is unref'd, so it
 * never keeps the process alive.
 */
export function watchParent(intervalMs = 250): void {
  const watchdog = new Worker(
    `const { workerData } = require('node:worker_threads');
     setInterval(() => { if (process.ppid !== workerData.parent) process.kill(process.pid, 'SIGKILL'); }, workerData.interval);`,
    { eval: true, workerData: { parent: process.ppid, interval: intervalMs } },
  );
  watchdog.unref();
}
