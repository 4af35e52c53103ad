/**
 * Broadcast values: sent once to each worker (when the first batch that needs it reaches that
 * worker), kept there, and released on demand, instead of being copied into every task.
 *
 * A handle crosses the boundary as a tiny marker object; the worker runtime puts the value in
 * its place before the task runs, so the task receives the value itself.
 */

import { InvalidArgValueError } from '../errors.js';
import type { BroadcastHandle } from '../types.js';

/** The own property that marks a handle on the wire (structured clone keeps string keys). */
export const BROADCAST_MARKER = '__fanoutBroadcast';

/** Registry of one backend's broadcast values. */
export class Broadcasts {
  private readonly values = new Map<number, unknown>();
  private nextId = 1;

  constructor(private readonly onRelease: (id: number) => void) {}

  /** Whether any handle was ever made (a released one may still be passed by mistake). */
  get used(): boolean {
    return this.nextId > 1;
  }

  create<T>(value: T): BroadcastHandle<T> {
    const id = this.nextId++;
    this.values.set(id, value);
    const handle = {
      [BROADCAST_MARKER]: id,
    } as Record<string, unknown>;
    Object.defineProperties(handle, {
      broadcastId: { value: id },
      value: { get: () => this.valueOf(id) },
      release: {
        value: () => {
          if (this.values.delete(id)) this.onRelease(id);
        },
      },
    });
    return handle as unknown as BroadcastHandle<T>;
  }

  valueOf(id: number): unknown {
    if (!this.values.has(id)) {
      throw new InvalidArgValueError(`Broadcast value ${id} was released (or belongs to another pool)`);
    }
    return this.values.get(id);
  }

  has(id: number): boolean {
    return this.values.has(id);
  }
}

/** The broadcast id a value stands for, when it is a handle (or its marker on the wire). */
export function broadcastIdOf(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const id = (value as Record<string, unknown>)[BROADCAST_MARKER];
  return typeof id === 'number' ? id : undefined;
}

/**
 * The ids of the broadcast handles among a batch's top-level arguments: the redis backend's
 * rule (its workers put values in place at the top level only, remote/broadcasts.ts). The local
 * backends find handles at any depth and in `context` (handles.ts).
 */
export function broadcastIdsIn(items: Iterable<unknown>, spread: boolean): number[] {
  // A Float64Array holds numbers only; iterating it would cost ~30 ns a number.
  if (items instanceof Float64Array) return [];
  const ids = new Set<number>();
  for (const item of items) {
    for (const arg of spread && Array.isArray(item) ? item : [item]) {
      const id = broadcastIdOf(arg);
      if (id !== undefined) ids.add(id);
    }
  }
  return [...ids];
}
