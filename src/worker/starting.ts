/**
 * The guard that keeps a worker process from ever running the caller's program as its own.
 *
 * The processes backend starts each worker with `FANOUT_WORKER_STARTING` in its environment, and
 * the worker entry removes it first thing. Until then, the process runs only what node runs
 * before its entry: preloads (`--import`, `--require`), or, if some flag made node run other code
 * in place of the entry, that code. None of it may start workers: it would be the caller's
 * program starting a pool in every worker, whose workers do the same, without end. The process
 * exits instead and tells its pool why, which reports that its workers failed to start.
 *
 * local/exec-argv.ts keeps the known flags that cause this away from workers; this guard
 * covers the rest (a newer Node's flags, a preload that starts a pool). Once the entry runs, the
 * variable is gone: tasks may start pools of their own, and programs they launch are not workers.
 */

import { toWire } from '../codec/errors.js';
import { BRAND } from './protocol.js';

const VARIABLE = 'FANOUT_WORKER_STARTING';

/** The environment of a new worker process: `env` with the marker. */
export function startingWorkerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, [VARIABLE]: String(process.pid) };
}

/** Called by the worker entry when it starts: from now on this process is a working worker. */
export function workerEntryStarted(): void {
  delete process.env[VARIABLE];
}

/**
 * Called before starting a worker. In a worker process that has not reached its entry, it stops
 * the process (after telling the pool why) and throws, so no worker starts.
 */
export function refuseWorkersBeforeEntry(): void {
  const pool = process.env[VARIABLE];
  if (pool === undefined) return;
  const error = new Error(
    `fanout worker process ${process.pid} ran code other than the worker entry, which tried to start workers of its own; it exits instead. A preload (--import, --require) or a Node flag made the worker run the caller's program (the pool is in process ${pool})`,
  );
  const exit = () => process.exit(1);
  if (process.send)
    process.send({ fanout: BRAND, t: 'fatal', error: toWire(error) }, undefined, undefined, exit);
  else exit();
  throw error;
}
