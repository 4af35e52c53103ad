/**
 * Known answers for the random streams (src/random.ts), in three layers tested apart, so a change
 * to one layer touches one expectation:
 * - the generator: xoshiro128** (Blackman & Vigna, 2018), state → outputs;
 * - its seeding: a bijective mixer (MurmurHash3's fmix32 around ChaCha's quarter-round) of
 *   (seed, index) → state, which also derives each call's seed from (seed, call);
 * - `randomStream(seed, index)`: the generator in the state of (seed, index).
 *
 * The references below are written from the published definitions with BigInt arithmetic, sharing
 * nothing with src/random.ts. The literal values come from elsewhere: the generator's from the
 * test data made with the authors' C code (as published in edorfaus/xoshiro-6502,
 * test-rom/testdata.asm), the rest from test/fixtures/random-reference.py (Python integers).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mix128, streamState, Xoshiro128 } from '../src/data/random.js';
import { callSeed, randomStream } from '../src/index.js';

type State = [bigint, bigint, bigint, bigint];

const MASK = 0xffffffffn;

function rotl(x: bigint, k: bigint): bigint {
  return ((x << k) | (x >> (32n - k))) & MASK;
}

/** One xoshiro128** step: the output, and `s` advanced in place. */
function referenceNext(s: State): bigint {
  const result = (rotl((s[1] * 5n) & MASK, 7n) * 9n) & MASK;
  const t = (s[1] << 9n) & MASK;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 11n);
  return result;
}

/** MurmurHash3's 32-bit finaliser. */
function referenceFmix32(h: bigint): bigint {
  h &= MASK;
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & MASK;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & MASK;
  return h ^ (h >> 16n);
}

const STREAM_DOMAIN = [0x243f6a88n, 0x85a308d3n, 0x13198a2en, 0x03707344n];
const CALL_DOMAIN = [0xa4093822n, 0x299f31d0n, 0x082efa98n, 0xec4e6c89n];

/** fmix32 of each word (XORed with the domain), then twice: ChaCha's quarter-round, fmix32 of each. */
function referenceMix(words: readonly bigint[], domain: readonly bigint[]): State {
  let [a, b, c, d] = words.map((w, i) => referenceFmix32(w ^ (domain[i] as bigint))) as State;
  for (let round = 0; round < 2; round++) {
    a = (a + b) & MASK;
    d = rotl(d ^ a, 16n);
    c = (c + d) & MASK;
    b = rotl(b ^ c, 12n);
    a = (a + b) & MASK;
    d = rotl(d ^ a, 8n);
    c = (c + d) & MASK;
    b = rotl(b ^ c, 7n);
    [a, b, c, d] = [a, b, c, d].map(referenceFmix32) as State;
  }
  return [a, b, c, d];
}

/** The words the mixer takes from two integers below 2^53: both low words, then both high ones. */
const pairWords = (x: number, y: number) => {
  const [bx, by] = [BigInt(x), BigInt(y)];
  return [bx & MASK, by & MASK, bx >> 32n, by >> 32n];
};

const referenceState = (seed: number, index: number) => referenceMix(pairWords(seed, index), STREAM_DOMAIN);

function referenceCallSeed(seed: number, call: number): number {
  if (call === 0) return seed;
  const [a, b] = referenceMix(pairWords(seed, call), CALL_DOMAIN);
  return Number(((b & 0x1fffffn) << 32n) | a);
}

/** The inverse of fmix32 (each step undone: xorshifts by repeated application, products by the inverse multipliers). */
function unfmix32(h: bigint): bigint {
  const unshift = (x: bigint, k: bigint) => {
    let y = x;
    for (let i = 0; i < 32; i += Number(k)) y = x ^ (y >> k);
    return y & MASK;
  };
  h = unshift(h, 16n);
  h = (h * 0x7ed1b41dn) & MASK; // 0xc2b2ae35⁻¹ mod 2^32
  h = unshift(h, 13n);
  h = (h * 0xa5cb9243n) & MASK; // 0x85ebca6b⁻¹ mod 2^32
  return unshift(h, 16n);
}

const rotr = (x: bigint, k: bigint) => rotl(x, 32n - k);

/** The mixer run backwards: each step of referenceMix undone in reverse order. */
function referenceUnmix(state: State, domain: readonly bigint[]): State {
  let [a, b, c, d] = state.map(unfmix32) as State;
  for (let round = 0; round < 2; round++) {
    if (round === 1) [a, b, c, d] = [a, b, c, d].map(unfmix32) as State;
    b = rotr(b, 7n) ^ c;
    c = (c - d) & MASK;
    d = rotr(d, 8n) ^ a;
    a = (a - b) & MASK;
    b = rotr(b, 12n) ^ c;
    c = (c - d) & MASK;
    d = rotr(d, 16n) ^ a;
    a = (a - b) & MASK;
  }
  return [a, b, c, d].map((w, i) => unfmix32(w) ^ (domain[i] as bigint)) as State;
}

/** A float in [0, 1): the top 27 bits of one output and the top 26 of the next, over 2^53. */
function referenceUniform(s: State): number {
  const high = referenceNext(s) >> 5n;
  const low = referenceNext(s) >> 6n;
  return Number((high << 26n) | low) / 2 ** 53;
}

const words = (state: readonly number[]) => state.map((w) => BigInt(w)) as State;
const generator = (state: readonly number[]) =>
  new Xoshiro128(...(state as [number, number, number, number]));
const outputs = (g: Xoshiro128, n: number) => Array.from({ length: n }, () => g.nextUint32());
/** Deterministic, irregular 32-bit words to start from. */
const someStates: number[][] = Array.from({ length: 40 }, (_, i) =>
  [1, 2, 3, 4].map((j) => Number(referenceFmix32(BigInt(i * 4 + j)))),
);

describe('xoshiro128**: state → outputs', () => {
  it('gives the outputs and states of the authors’ C code from its published test state', () => {
    const g = generator([0x964d4a0c, 0xd40ab895, 0xad7fdecb, 0x3006f0f0]);
    const published: [number, number[]][] = [
      [0xf1391922, [0x72410269, 0xef382c52, 0x2e43bec7, 0x62432f20]],
      [0x6fe53806, [0xff3a011b, 0xb33a90fc, 0x2c5a18ae, 0xd81b946b]],
      [0xa5be2840, [0x941b058c, 0x605a8949, 0xa641e1b5, 0x0824bb59]],
      [0xf510ee70, [0xfc65379c, 0x52006d70, 0x87487639, 0xf1908343]],
    ];
    for (const [output, state] of published) {
      assert.equal(g.nextUint32(), output);
      assert.deepEqual(g.state(), state);
    }
  });

  it('gives the known answers from state [1, 2, 3, 4]', () => {
    assert.deepEqual(
      outputs(generator([1, 2, 3, 4]), 8),
      [0x00002d00, 0, 0x005a7080, 0x04389d80, 0x79199d9b, 0x61963b24, 0x4cb9b57a, 0xde9d7431],
    );
  });

  it('matches the BigInt reference for 2,000 outputs from each of 42 states', () => {
    for (const state of [...someStates, [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [1, 0, 0, 0]]) {
      const reference = words(state);
      const got = outputs(generator(state), 2000);
      assert.deepEqual(
        got,
        got.map(() => Number(referenceNext(reference))),
        `from ${state}`,
      );
    }
  });

  it('random() is 53 bits from two outputs; normal() is Box–Muller, cosine then sine', () => {
    for (const state of someStates) {
      const g = generator(state);
      const reference = words(state);
      for (let i = 0; i < 50; i++) assert.equal(g.random(), referenceUniform(reference), `from ${state}`);
      for (let i = 0; i < 5; i++) {
        const u = 1 - referenceUniform(reference);
        const v = referenceUniform(reference);
        const r = Math.sqrt(-2 * Math.log(u));
        assert.equal(g.normal(), r * Math.cos(2 * Math.PI * v));
        assert.equal(g.normal(3, 2), 3 + 2 * r * Math.sin(2 * Math.PI * v));
      }
    }
  });
});

describe('the mixer: (seed, index) → state, (seed, call) → call seed', () => {
  it('gives the known answers of the Python reference', () => {
    const known: [number, number, number[]][] = [
      [0, 0, [0x0889f023, 0x2041ad7d, 0x72438192, 0x888d8c54]],
      [42, 7, [0x5a8801c7, 0x7cdbd3fe, 0x27d54be0, 0xdf336f69]],
      [2024, 0, [0x589f578c, 0xfbf5a6c6, 0x409e71ef, 0x3cb25b78]],
      [0xffffffff, 2 ** 32 + 5, [0x69407988, 0xcaf80658, 0x900c944f, 0xb6ff1476]],
      [1234, 2 ** 53 - 1, [0x98ff407e, 0x77db1ffb, 0x68a58eaa, 0x34da0527]],
      [2 ** 53 - 1, 3, [0x049cb854, 0x6cf148b4, 0xeb161ee8, 0x0ee637c9]],
    ];
    for (const [seed, index, state] of known) {
      assert.deepEqual([...streamState(seed, index)], state, `(${seed}, ${index})`);
    }
    const calls: [number, number, number][] = [
      [42, 0, 42],
      [42, 1, 2224184635235285],
      [42, 2, 2635038939717871],
      [0, 1, 8955050218404343],
      [2 ** 53 - 1, 2 ** 40 + 7, 8796436612742887],
    ];
    for (const [seed, call, expected] of calls)
      assert.equal(callSeed(seed, call), expected, `(${seed}, ${call})`);
  });

  it('matches the BigInt reference over seeds and indices on both sides of 2^32', () => {
    const values = [0, 1, 2, 7, 1000, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 3, 2 ** 53 - 1];
    for (const seed of values) {
      for (const index of values) {
        assert.deepEqual(
          [...streamState(seed, index)].map(BigInt),
          referenceState(seed, index),
          `(${seed}, ${index})`,
        );
        assert.equal(callSeed(seed, index), referenceCallSeed(seed, index), `call (${seed}, ${index})`);
      }
    }
  });

  it('is a bijection: the reference inverse gives back every input, so no two streams coincide', () => {
    for (let i = 0; i < 2000; i++) {
      const input = [1, 2, 3, 4].map((j) => referenceFmix32(BigInt(i * 4 + j))) as State;
      for (const domain of [STREAM_DOMAIN, CALL_DOMAIN]) {
        const state = mix128(...(input.map(Number) as [number, number, number, number]), domain.map(Number));
        assert.deepEqual(referenceUnmix([...state].map(BigInt) as State, domain), input);
      }
    }
  });

  it('gives 1,000,000 neighbouring items 1,000,000 different streams', () => {
    // The earlier seeding hashed (seed, index) to 32 bits: ~116 pairs of these shared a stream.
    const firsts = new Set<number>();
    for (let index = 0; index < 1_000_000; index++) {
      const g = Xoshiro128.forStream(42, index);
      firsts.add(g.random());
    }
    assert.equal(firsts.size, 1_000_000);
  });

  it('randomStream(seed, index) is the reference generator in the reference state', () => {
    for (const [seed, index] of [
      [0, 0],
      [42, 7],
      [0xffffffff, 2 ** 32 + 5],
      [1234, 2 ** 53 - 1],
    ] as const) {
      const stream = randomStream(seed, index);
      const reference = referenceState(seed, index);
      for (let i = 0; i < 20; i++)
        assert.equal(stream.random(), referenceUniform(reference), `(${seed}, ${index})`);
    }
    // A negative seed is taken modulo 2^53.
    assert.equal(randomStream(-1, 5).random(), randomStream(2 ** 53 - 1, 5).random());
  });
});
