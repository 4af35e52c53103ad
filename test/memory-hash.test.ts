/** The canonical hash of arguments: equal values hash equal, different ones differ. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashArguments, hashValue } from '../src/memory/hash.js';

const same = (a: unknown, b: unknown) => assert.equal(hashValue(a), hashValue(b));
const differ = (a: unknown, b: unknown) => assert.notEqual(hashValue(a), hashValue(b));

describe('argument hash', () => {
  it('ignores object key order, at every depth', () => {
    same({ a: 1, b: { c: 2, d: [3] } }, { b: { d: [3], c: 2 }, a: 1 });
    same(Object.assign(Object.create(null), { a: 1 }), { a: 1 });
    differ({ a: 1 }, { a: 2 });
    differ({ a: 1 }, { b: 1 });
    differ({ a: undefined }, {});
  });

  it('tells types apart', () => {
    const values = [
      1,
      '1',
      1n,
      true,
      [1],
      { 0: 1 },
      null,
      undefined,
      new Date(1),
      new Set([1]),
      new Map([[0, 1]]),
    ];
    const hashes = new Set(values.map(hashValue));
    assert.equal(hashes.size, values.length);
    differ('ab', ['a', 'b']);
    differ(['a', 'b'], ['ab']);
    differ([1, [2]], [[1], 2]);
  });

  it('hashes typed arrays by type, length and bytes', () => {
    same(new Float64Array([1, 2, 3]), new Float64Array([1, 2, 3]));
    differ(new Float64Array([1, 2, 3]), new Float64Array([1, 2, 4]));
    differ(new Float32Array([1, 2]), new Float64Array([1, 2]));
    differ(new Int32Array(2), new Uint32Array(2)); // same bytes, another type
    differ(new Uint8Array(8), new Uint8Array(9));
    // A view hashes its own bytes, not its whole buffer.
    const buffer = new Float64Array([9, 1, 2, 9]).buffer;
    same(new Float64Array(buffer, 8, 2), new Float64Array([1, 2]));
    // A Buffer is the Uint8Array it becomes on the other side of a boundary.
    same(Buffer.from([1, 2, 3]), new Uint8Array([1, 2, 3]));
    same(new DataView(new ArrayBuffer(4)), new DataView(new ArrayBuffer(4)));
    differ(new ArrayBuffer(4), new Uint8Array(4));
    const large = new Float64Array(100_000).map((_, i) => i);
    const copy = large.slice();
    same(large, copy);
    copy[99_999] = 0;
    differ(large, copy);
  });

  it('handles Date, Map, Set, BigInt, RegExp, NaN, -0, boxed values and errors', () => {
    same(new Date(5), new Date(5));
    differ(new Date(5), new Date(6));
    same(
      new Map<unknown, unknown>([
        [1, 'a'],
        ['b', { c: 2 }],
      ]),
      new Map<unknown, unknown>([
        ['b', { c: 2 }],
        [1, 'a'],
      ]),
    );
    differ(new Map([[1, 'a']]), new Map([[1, 'b']]));
    differ(new Map([[1, 'a']]), new Map([['a', 1]]));
    same(new Set([1, 2, 3]), new Set([3, 1, 2]));
    differ(new Set([1, 2]), new Set([1, 2, 3]));
    same(10n ** 30n, 10n ** 30n);
    differ(10n ** 30n, 10n ** 30n + 1n);
    differ(-1n, 1n);
    same(/a+/gi, /a+/gi);
    differ(/a+/g, /a+/i);
    same(Number.NaN, 0 / 0);
    differ(0, -0);
    same(Object(1), Object(1));
    differ(Object(1), 1);
    same(new RangeError('x'), new RangeError('x'));
    differ(new RangeError('x'), new TypeError('x'));
    differ(new Error('x', { cause: 1 }), new Error('x'));
  });

  it('handles cycles and shared references', () => {
    const a: Record<string, unknown> = { v: 1 };
    a.self = a;
    const b: Record<string, unknown> = { v: 1 };
    b.self = b;
    same(a, b);
    const c: Record<string, unknown> = { v: 2 };
    c.self = c;
    differ(a, c);
    const shared = { s: 1 };
    same([shared, shared], [{ s: 1 }, { s: 1 }]);
    const m = new Map<string, unknown>();
    m.set('me', m);
    assert.equal(typeof hashValue(m), 'string');
  });

  it('throws ERR_CACHE naming where an unhashable value is', () => {
    class Box {}
    const cases: [unknown[], RegExp][] = [
      [[() => 1], /argument 0 .*a function/],
      [[1, { deep: [0, { f: Symbol('s') }] }], /argument 1 .*a symbol .* at \.deep\[1\]\.f/],
      [[new Box()], /argument 0 .*class Box/],
      [[{ [Symbol('k')]: 1 }], /symbol keys/],
      [[new Map([[1, new WeakMap()]])], /class WeakMap at <map entry>/],
    ];
    for (const [args, message] of cases) {
      assert.throws(
        () => hashArguments('', args),
        (error: Error & { code?: string }) => error.code === 'ERR_CACHE' && message.test(error.message),
      );
    }
  });

  it('is stable across processes and versions (a change here orphans every stored entry)', () => {
    const value = {
      b: [1, 'two', 3n],
      a: new Float64Array([0.5]),
      d: new Date(0),
      m: new Map([[1, new Set(['x'])]]),
    };
    assert.equal(hashValue(value), '8853eaf18414e6ca0f94199ce84d39e5234232e2eeb4ce314c6ccf789cdfdd78');
  });
});
