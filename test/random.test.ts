/**
 * Known answers for the random streams (src/random.ts), in three layers tested apart, so a change
 * to one layer touches one expectation:
 * - the generator: xoshiro128** (Blackman & Vigna, 2018), state → outputs;
 * - its seeding: SplitMix32 (add the golden ratio, then MurmurHash3's fmix32), key → state;
 * - the stream key: a hash of (seed, index) → key.
 *
 * The references below are written from the published definitions with BigInt arithmetic, sharing
 * nothing with src/random.ts. The literal values come from elsewhere: the generator's from the
 * test data made with the authors' C code (as published in edorfaus/xoshiro-6502,
 * test-rom/testdata.asm), the rest from test/fixtures/random-reference.py (Python integers).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomStream } from '../src/index.js';
import { streamKey, Xoshiro128 } from '../src/random.js';

type State = [bigint, bigint, bigint, bigint];

const MASK = 0xffffffffn;
const GOLDEN = 0x9e3779b9n;

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

/** SplitMix32 from `key`: four outputs, each the state advanced by the golden ratio, mixed. */
function referenceSeed(key: bigint): State {
  let state = key & MASK;
  const words: bigint[] = [];
  for (let i = 0; i < 4; i++) {
    state = (state + GOLDEN) & MASK;
    words.push(referenceFmix32(state));
  }
  return words as State;
}

/** The key of stream (seed, index): fmix32(seed ⊕ fmix32(lo ⊕ φ) ⊕ fmix32(hi + 0x7f4a7c15)). */
function referenceKey(seed: number, index: number): bigint {
  const i = BigInt(index);
  const lo = i & MASK;
  const hi = (i >> 32n) & MASK;
  return referenceFmix32(
    (BigInt(seed) & MASK) ^ referenceFmix32(lo ^ GOLDEN) ^ referenceFmix32((hi + 0x7f4a7c15n) & MASK),
  );
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

describe('SplitMix32: key → state', () => {
  it('gives the known answers', () => {
    const known: [number, number[]][] = [
      [0, [0x92ca2f0e, 0x3cd6e3f3, 0x1b147dcc, 0x4c081dbf]],
      [1, [0x96a0f96b, 0x12bc8390, 0x971e9964, 0x79adc7e7]],
      [0xdeadbeef, [0xd3ce9097, 0x62117ced, 0xf2c80841, 0xa4884171]],
      [0xffffffff, [0x36deb503, 0xfc2fb9b6, 0x2994c1b5, 0x6a06e134]],
    ];
    for (const [key, state] of known) assert.deepEqual(Xoshiro128.seeded(key).state(), state, `key ${key}`);
  });

  it('matches the BigInt reference for 1,000 keys', () => {
    for (let i = 0; i < 1000; i++) {
      const key = Number(referenceFmix32(BigInt(i))) ^ i;
      assert.deepEqual(
        Xoshiro128.seeded(key).state().map(BigInt),
        referenceSeed(BigInt(key >>> 0)),
        `key ${key >>> 0}`,
      );
    }
  });
});

describe('the stream key: (seed, index) → key', () => {
  const known: [number, number, number][] = [
    [0, 0, 0x3f8804fe],
    [42, 7, 0x6f5b9f86],
    [2024, 0, 0x04b99871],
    [0xffffffff, 2 ** 32 + 5, 0x21c93f46],
    [1234, Number.MAX_SAFE_INTEGER, 0x8b19ed41],
  ];

  it('gives the known answers, indices past 2^32 included', () => {
    for (const [seed, index, key] of known) assert.equal(streamKey(seed, index), key, `(${seed}, ${index})`);
  });

  it('matches the BigInt reference over seeds and indices on both sides of 2^32', () => {
    for (const seed of [0, 1, 7, 2024, 0x7fffffff, 0xffffffff]) {
      for (const index of [
        0,
        1,
        2,
        1000,
        2 ** 31,
        2 ** 32 - 1,
        2 ** 32,
        2 ** 32 + 1,
        2 ** 40 + 3,
        2 ** 53 - 1,
      ]) {
        assert.equal(BigInt(streamKey(seed, index)), referenceKey(seed, index), `(${seed}, ${index})`);
      }
    }
  });

  it('randomStream(seed, index) is the reference generator seeded from the reference key', () => {
    for (const [seed, index] of known) {
      const stream = randomStream(seed, index);
      const reference = referenceSeed(referenceKey(seed, index));
      for (let i = 0; i < 20; i++)
        assert.equal(stream.random(), referenceUniform(reference), `(${seed}, ${index})`);
    }
  });
});
