/**
 * Handles: values a batch refers to that are not copied with it, but reach each worker once and
 * are put in place there. Two kinds so far, found by one scan:
 * - broadcast values (broadcast.ts): the worker gets the value, sent once;
 * - synchronisation primitives (sync.ts): the worker gets its shared memory or a broker proxy.
 *
 * The scan goes through arrays and plain objects at any depth (typed arrays, Maps and Sets are
 * not searched), in the items and in the call's `context`. It runs only once a handle of either
 * kind exists, so ordinary batches pay nothing for it.
 */

import { handleMarkOf } from '../codec/crossing.js';
import { broadcastIdOf } from './broadcast.js';

/** The handles a batch refers to. */
export interface BatchHandles {
  readonly broadcasts: number[];
  /** The caller's primitives themselves (the worker set attaches and brokers them). */
  readonly sync: object[];
}

const MAX_DEPTH = 64;

/** The handles among a batch's items (each an argument list when `spread`) and its context. */
export function handlesIn(items: Iterable<unknown>, context: unknown): BatchHandles | undefined {
  // A Float64Array holds numbers only; iterating it would cost ~30 ns a number.
  if (items instanceof Float64Array && context === undefined) return undefined;
  const found = { broadcasts: new Set<number>(), sync: new Set<object>() };
  const seen = new Set<object>();
  if (!(items instanceof Float64Array)) for (const item of items) scan(item, found, seen, 0);
  scan(context, found, seen, 0);
  if (found.broadcasts.size === 0 && found.sync.size === 0) return undefined;
  return { broadcasts: [...found.broadcasts], sync: [...found.sync] };
}

function scan(
  value: unknown,
  found: { broadcasts: Set<number>; sync: Set<object> },
  seen: Set<object>,
  depth: number,
): void {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return;
  const id = broadcastIdOf(value);
  if (id !== undefined) {
    found.broadcasts.add(id);
    return;
  }
  if (handleMarkOf(value)) {
    found.sync.add(value);
    return;
  }
  if (seen.has(value)) return;
  if (Array.isArray(value)) {
    seen.add(value);
    for (const element of value) if (typeof element === 'object') scan(element, found, seen, depth + 1);
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return;
  seen.add(value);
  for (const key of Object.keys(value)) scan((value as Record<string, unknown>)[key], found, seen, depth + 1);
}
