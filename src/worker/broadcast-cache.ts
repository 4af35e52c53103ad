/**
 * The broadcast values a worker holds. Kept on globalThis under a Symbol.for key (one per
 * thread or process) so a test task can look at it: how many times each value arrived, and
 * whether a released one is gone.
 */

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

/** The argument itself, or the broadcast value its marker stands for. */
export function resolveBroadcast(arg: unknown, cache: BroadcastCache): unknown {
  if (typeof arg !== 'object' || arg === null) return arg;
  const id = (arg as Record<string, unknown>)[BROADCAST_MARKER];
  if (typeof id !== 'number') return arg;
  if (!cache.values.has(id))
    throw new Error(`Broadcast value ${id} is not available in this worker (was it released?)`);
  return cache.values.get(id);
}
