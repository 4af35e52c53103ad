/**
 * The critical path of a task graph's run, from its batches (`BatchTrace.batch` and `after`,
 * which the graph scheduler sets): start at the batch that ended last, step to the batch among
 * its inputs' makers that ended last (the one it waited for), and so on to a batch with no
 * inputs. Those batches are what the run's length was made of; shortening anything else would
 * not have ended it sooner.
 */

import type { BatchTrace } from '../types.js';

const endOf = (b: BatchTrace) => b.startedAt + b.duration;

/** The numbers (`batch`) of the batches on the critical path; empty for batches of no graph. */
export function criticalPath(batches: readonly BatchTrace[]): Set<number> {
  const byId = new Map<number, BatchTrace>();
  let last: BatchTrace | undefined;
  for (const b of batches) {
    if (b.batch === undefined) continue;
    byId.set(b.batch, b);
    if (!last || endOf(b) > endOf(last)) last = b;
  }
  const path = new Set<number>();
  for (let current = last; current && !path.has(current.batch as number); ) {
    path.add(current.batch as number);
    let next: BatchTrace | undefined;
    for (const id of current.after ?? []) {
      const maker = byId.get(id);
      if (maker && (!next || endOf(maker) > endOf(next))) next = maker;
    }
    current = next;
  }
  return path;
}
