/**
 * Deterministic random streams: one stream per `(seed, index)`, so a Monte Carlo run gives
 * bit-identical results whatever the number of workers, the backend or the batch size.
 *
 * The generator is xoshiro128** (fast, 2^128 − 1 period, passes BigCrush), seeded by running
 * SplitMix32 over a hash of the seed and the item index, so neighbouring indices give unrelated
 * streams.
 */

import { InvalidArgTypeError, InvalidArgValueError } from './errors.js';
import { show } from './options.js';

/** A stream of random numbers. */
export interface RandomStream {
  /** A float in [0, 1) with 53 random bits, like `Math.random()`. */
  random(): number;
  /** A normally distributed float (Box–Muller). */
  normal(mean?: number, sd?: number): number;
  /** An integer in [0, n). */
  int(n: number): number;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** SplitMix32's increment: 2^32 divided by the golden ratio, so successive states spread evenly. */
const GOLDEN = 0x9e3779b9;

/**
 * The 32-bit key of the stream of `(seed, index)`: a hash of the seed and both halves of the
 * index, so neighbouring indices get unrelated keys. Exported for the known-answer tests only.
 */
export function streamKey(seed: number, index: number): number {
  const lo = index >>> 0;
  const hi = Math.floor(index / 4294967296) >>> 0;
  return fmix32((seed >>> 0) ^ fmix32(lo ^ GOLDEN) ^ fmix32(hi + 0x7f4a7c15));
}

/**
 * xoshiro128** (Blackman & Vigna, 2018) with the stream methods on top. Exported (not from the
 * package) for the known-answer tests, which check the generator and its seeding separately.
 */
export class Xoshiro128 implements RandomStream {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = Number.NaN;

  /** The generator in the state of these four words (not all zero). */
  constructor(a: number, b: number, c: number, d: number) {
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }

  /**
   * The generator SplitMix32 seeds from `key`: its first four outputs (add the golden ratio, then
   * MurmurHash3's fmix32 finaliser) fill the state. fmix32 is a bijection and the four states it
   * mixes differ, so at most one word is zero, never all four.
   */
  static seeded(key: number): Xoshiro128 {
    let s = key | 0;
    s = (s + GOLDEN) | 0;
    const a = fmix32(s);
    s = (s + GOLDEN) | 0;
    const b = fmix32(s);
    s = (s + GOLDEN) | 0;
    const c = fmix32(s);
    s = (s + GOLDEN) | 0;
    return new Xoshiro128(a, b, c, fmix32(s));
  }

  /** The four state words, unsigned. */
  state(): [number, number, number, number] {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  /** The next 32-bit output, unsigned. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  random(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  normal(mean = 0, sd = 1): number {
    let z = this.spare;
    if (Number.isNaN(z)) {
      // Box–Muller; 1 - random() keeps the logarithm's argument in (0, 1].
      const u = 1 - this.random();
      const v = this.random();
      const r = Math.sqrt(-2 * Math.log(u));
      z = r * Math.cos(2 * Math.PI * v);
      this.spare = r * Math.sin(2 * Math.PI * v);
    } else {
      this.spare = Number.NaN;
    }
    return mean + sd * z;
  }

  int(n: number): number {
    return Math.floor(this.random() * n);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Check a seed: any safe integer, taken modulo 2^32 (as the `seed` option is). */
function checkSeed(name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new InvalidArgTypeError(`Expected \`${name}\` to be an integer, got ${show(value)}`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new InvalidArgValueError(`Expected \`${name}\` to be a safe integer, got ${show(value)}`);
  }
  return value >>> 0;
}

function checkIndex(name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new InvalidArgTypeError(`Expected \`${name}\` to be a non-negative integer, got ${show(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgValueError(
      `Expected \`${name}\` to be a non-negative safe integer, got ${show(value)}`,
    );
  }
  return value;
}

/**
 * The random stream of item `index` under `seed`: the same numbers `taskContext().random()`
 * gives the task running item `index` of a call whose seed is `seed` (`taskContext().seed`), so
 * a serial loop can reproduce a parallel run exactly. `seed` is any safe integer (taken modulo
 * 2^32), `index` a non-negative safe integer.
 *
 * @example
 * ```ts
 * const rng = randomStream(42, 7);
 * rng.random();   // same value in every run, on every backend
 * rng.normal(72, 5);
 * // Item 7 of a call run with `{ seed: 42 }` (or of the first call on `new Pool({ seed: 42 })`)
 * // draws exactly these numbers.
 * ```
 */
export function randomStream(seed: number, index: number): RandomStream {
  return Xoshiro128.seeded(streamKey(checkSeed('seed', seed), checkIndex('index', index)));
}

/** The stream of an item whose seed and index fanout itself produced (no checks: the hot path). */
export function itemStream(seed: number, index: number): RandomStream {
  return Xoshiro128.seeded(streamKey(seed, index));
}

function mixCallSeed(seed: number, call: number): number {
  if (call === 0) return seed >>> 0;
  const lo = call >>> 0;
  const hi = Math.floor(call / 4294967296) >>> 0;
  // Constants unlike the stream hash's, so a call's seed is unrelated to any item's stream.
  return fmix32(fmix32((seed >>> 0) ^ 0x2545f491) ^ fmix32(lo + 0x5851f42d) ^ fmix32(hi ^ 0x4f1bbcdc));
}

/**
 * The seed of call number `call` (0, 1, 2, ... in the order calls start) on a pool whose seed is
 * `seed`: the first call uses `seed` itself, each later one a seed hashed from `(seed, call)`.
 * Item i of that call draws from `randomStream(callSeed(seed, call), i)`. A task sees the same
 * value as `taskContext().seed`.
 *
 * @example
 * ```ts
 * await using pool = new Pool({ seed: 42 });
 * const a = await pool.map(tasks.draw, range(100)); // call 0: randomStream(42, i)
 * const b = await pool.map(tasks.draw, range(100)); // call 1: randomStream(callSeed(42, 1), i)
 * randomStream(callSeed(42, 1), 5).random() === b[5]; // true, for a task returning taskContext().random()
 * ```
 */
export function callSeed(seed: number, call: number): number {
  return mixCallSeed(checkSeed('seed', seed), checkIndex('call', call));
}

/**
 * The seeds of a sequence of calls (a pool's, a `parallel()` runner's): call k gets
 * `callSeed(base, k)`, so every call draws fresh streams and the same sequence of calls under
 * the same base seed draws the same ones.
 */
export class CallSeeds {
  #calls = 0;
  constructor(readonly base: number) {}

  /** The seed of the next call; each call takes one, in the order the calls start. */
  next(): number {
    return mixCallSeed(this.base, this.#calls++);
  }
}

/** A fresh seed for calls that give none (runs are then not reproducible, but still independent per item). */
export function freshSeed(): number {
  return (Math.random() * 4294967296) >>> 0;
}
