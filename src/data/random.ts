/**
 * Deterministic random streams: one stream per `(seed, index)`, so a Monte Carlo run gives
 * bit-identical results whatever the number of workers, the backend or the batch size.
 *
 * The generator is xoshiro128** (fast, 2^128 − 1 period, passes BigCrush). Its 128-bit state
 * is the seed and the item index (53 bits each) put through a bijective mixer, so neighbouring
 * indices give unrelated streams and no two (seed, index) pairs share one.
 */

import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { checkSeed, show } from '../options/checks.js';
import type { RandomStream } from '../types.js';

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 2^32, to split a 53-bit integer into its low and high words. */
const TWO_32 = 4294967296;

/**
 * Constants XORed into the mixer's input, one set per use (streams, call seeds), so that the
 * streams and the call seeds of the same numbers are unrelated. Hex digits of π.
 */
const STREAM_DOMAIN = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344] as const;
const CALL_DOMAIN = [0xa4093822, 0x299f31d0, 0x082efa98, 0xec4e6c89] as const;

const mixed = new Uint32Array(4);

/**
 * A bijection of 128 bits, as four 32-bit words: MurmurHash3's fmix32 on each word (a bijection
 * of 32 bits) around two rounds of ChaCha's quarter-round (add, rotate, XOR: invertible), so every
 * output word depends on every input bit. Being a bijection, it gives different outputs to
 * different inputs: two (seed, index) pairs never share a stream. (An earlier version hashed the
 * pair to 32 bits first, so a map of 1,000,000 items held ~116 pairs of identical streams.)
 * The result is written into `mixed`, to allocate nothing per item.
 */
export function mix128(a: number, b: number, c: number, d: number, domain: readonly number[]): Uint32Array {
  a = fmix32(a ^ (domain[0] as number));
  b = fmix32(b ^ (domain[1] as number));
  c = fmix32(c ^ (domain[2] as number));
  d = fmix32(d ^ (domain[3] as number));
  for (let round = 0; round < 2; round++) {
    a = (a + b) | 0;
    d = rotl(d ^ a, 16);
    c = (c + d) | 0;
    b = rotl(b ^ c, 12);
    a = (a + b) | 0;
    d = rotl(d ^ a, 8);
    c = (c + d) | 0;
    b = rotl(b ^ c, 7);
    a = fmix32(a);
    b = fmix32(b);
    c = fmix32(c);
    d = fmix32(d);
  }
  mixed[0] = a;
  mixed[1] = b;
  mixed[2] = c;
  mixed[3] = d;
  return mixed;
}

/** The xoshiro128** state of stream `(seed, index)`, both integers in [0, 2^53). */
export function streamState(seed: number, index: number): Uint32Array {
  const state = mix128(
    seed >>> 0,
    index >>> 0,
    Math.floor(seed / TWO_32) >>> 0,
    Math.floor(index / TWO_32) >>> 0,
    STREAM_DOMAIN,
  );
  // xoshiro's one forbidden state; the bijection maps exactly one 128-bit input to it.
  if (((state[0] as number) | (state[1] as number) | (state[2] as number) | (state[3] as number)) === 0) {
    state[3] = 0x9e3779b9;
  }
  return state;
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

  /** The generator of stream `(seed, index)` (both integers in [0, 2^53)). */
  static forStream(seed: number, index: number): Xoshiro128 {
    const state = streamState(seed, index);
    return new Xoshiro128(state[0] as number, state[1] as number, state[2] as number, state[3] as number);
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
 * a serial loop can reproduce a parallel run exactly. `seed` is any safe integer (a negative one
 * taken modulo 2^53), `index` a non-negative safe integer. Two different (seed, index) pairs
 * never share a stream.
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
  return Xoshiro128.forStream(checkSeed('seed', seed), checkIndex('index', index));
}

/** The stream of an item whose seed and index fanout itself produced (no checks: the hot path). */
export function itemStream(seed: number, index: number): RandomStream {
  return Xoshiro128.forStream(seed, index);
}

function mixCallSeed(seed: number, call: number): number {
  if (call === 0) return seed;
  const words = mix128(
    seed >>> 0,
    call >>> 0,
    Math.floor(seed / TWO_32) >>> 0,
    Math.floor(call / TWO_32) >>> 0,
    CALL_DOMAIN,
  );
  // 53 bits of the mix: a call seed is a seed like any other.
  return ((words[1] as number) & 0x1fffff) * TWO_32 + (words[0] as number);
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
