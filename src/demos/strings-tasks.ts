/**
 * Seed 001's `rand_string(length)`: a string of random letters and digits. Each string draws
 * from the random stream of its item index, so a serial loop and a pool make the same strings.
 */

import { randomStream } from '../data/random.js';
import { taskContext } from '../tasks/context.js';
import { defineTasks } from '../tasks/tasks.js';
import type { RandomStream } from '../types.js';

/** Python's `string.ascii_letters + string.digits`. */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
const decoder = new TextDecoder();

/** `length` random characters drawn from `rng`. */
export function randString(rng: Pick<RandomStream, 'random'>, length: number): string {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = CODES[Math.floor(rng.random() * CODES.length)] as number;
  return decoder.decode(bytes);
}

/** The strings of items 0..count−1 under `seed`, one after another: the serial version. */
export function randStrings(seed: number, count: number, length: number): string[] {
  return Array.from({ length: count }, (_, i) => randString(randomStream(seed, i), length));
}

export default defineTasks(import.meta.url, {
  /** One string, from this item's random stream (the same one the serial loop uses). */
  randString(length: number): string {
    // The item's stream itself, taken once: the same numbers as taskContext().random(), without
    // going through the context on each of a million draws.
    const { seed, index } = taskContext();
    return randString(randomStream(seed, index), length);
  },
});
