/**
 * The decorator that makes a task one rank of an SPMD group (`pool.spmd`): the pool sends the
 * task with this wrapper, and each rank's item as `[{ group, rank }, ...args]`. The rank's comm
 * was opened on this worker just before (`spmd-open`, worker/comm.ts).
 */

import { runAsRank } from '../tasks/context.js';
import { defineTasks } from '../tasks/tasks.js';
import type { AnyFunction, Comm } from '../types.js';

/** The ranks opened on this thread, by `rankKey` (worker/comm.ts opens and closes them). */
export const openRanks = new Map<string, Comm>();
export const rankKey = (group: number, rank: number): string => `${group}:${rank}`;

/** Which rank an item runs (the item's first argument). */
export interface RankOf {
  readonly group: number;
  readonly rank: number;
}

export const spmdTasks = defineTasks(import.meta.url, {
  /** `(task) => (rankOf, ...args) => task(...args)` with `taskContext().comm` set to that rank. */
  rank(task: AnyFunction): AnyFunction {
    return (of: RankOf, ...args: unknown[]) => {
      const comm = openRanks.get(rankKey(of.group, of.rank));
      if (!comm)
        throw new Error(`fanout: SPMD rank ${of.rank} of group ${of.group} was not opened on this worker`);
      return runAsRank(comm, () => task(...args));
    };
  },
});
