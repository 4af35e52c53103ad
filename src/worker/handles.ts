/**
 * The handles a worker holds (data/handles.ts): broadcast values, and the live synchronisation
 * primitives it revived. The broadcast values are kept on globalThis under a Symbol.for key (one
 * per thread or process) so a test task can look at them: how many times each value arrived,
 * and whether a released one is gone.
 */

import { handleMarkOf } from '../codec/crossing.js';
import { BROADCAST_MARKER } from '../data/broadcast.js';

export interface BroadcastCache {
  readonly values: Map<number, unknown>;
  /** How many times each id was received (a value must arrive once per worker). */
  readonly received: Map<number, number>;
}

export function broadcastCache(): BroadcastCache {
  const key = Symbol.for('fanout.broadcastCache');
  const holder = globalThis as unknown as Record<symbol, BroadcastCache | undefined>;
  holder[key] ??= { values: new Map(), received: new Map() };
  return holder[key];
}

/** This worker's live synchronisation primitives, by key (one object per primitive, however often it arrives). */
export const syncPrimitives = new Map<string, object>();

const MAX_DEPTH = 64;

/**
 * `value` with every handle in it replaced by what it stands for: a broadcast value, or this
 * worker's live primitive. Copy-on-write: what holds no handle is returned as it is (on the
 * inline backend the items are the caller's own objects, and must not change).
 */
export function resolveHandles(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  const id = (value as Record<string, unknown>)[BROADCAST_MARKER];
  if (typeof id === 'number') {
    const cache = broadcastCache();
    if (!cache.values.has(id))
      throw new Error(`Broadcast value ${id} is not available in this worker (was it released?)`);
    return cache.values.get(id);
  }
  const mark = handleMarkOf(value);
  if (mark) return syncPrimitives.get(mark.key) ?? value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const element: unknown = value[i];
      if (typeof element !== 'object' || element === null) continue;
      const resolved = resolveHandles(element, depth + 1);
      if (resolved !== element) {
        copy ??= value.slice();
        copy[i] = resolved;
      }
    }
    return copy ?? value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const child = (value as Record<string, unknown>)[key];
    if (typeof child !== 'object' || child === null) continue;
    const resolved = resolveHandles(child, depth + 1);
    if (resolved !== child) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = resolved;
    }
  }
  return copy ?? value;
}
