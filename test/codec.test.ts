/** What crosses a boundary: errors rebuilt faithfully, plain-data checks, packed batches. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findUncloneable } from '../src/codec/crossing.js';
import { fromWire, toWire } from '../src/codec/errors.js';
import { pack, packNumbers, unpack } from '../src/codec/values.js';
import { encodeJob, readJob, readPayload } from '../src/redis/codec.js';

/** Serialize, clone as a worker message would be, rebuild. */
const roundTrip = (value: unknown) => fromWire(structuredClone(toWire(value)));

describe('errors', () => {
  it('keeps the built-in class, name, message, remote stack, code and own properties', () => {
    const original = Object.assign(new RangeError('out of range'), {
      code: 'E_RANGE',
      limit: 10,
      meta: { a: [1] },
    });
    const rebuilt = roundTrip(original) as RangeError & Record<string, unknown>;
    assert.ok(rebuilt instanceof RangeError);
    assert.equal(rebuilt.name, 'RangeError');
    assert.equal(rebuilt.message, 'out of range');
    assert.equal(rebuilt.stack, original.stack);
    assert.equal(rebuilt.code, 'E_RANGE');
    assert.equal(rebuilt.limit, 10);
    assert.deepEqual(rebuilt.meta, { a: [1] });
  });

  it('keeps the cause chain and AggregateError members', () => {
    const original = new Error('top', {
      cause: new TypeError('middle', { cause: new SyntaxError('bottom') }),
    });
    const rebuilt = roundTrip(original) as Error;
    assert.ok(rebuilt.cause instanceof TypeError);
    assert.ok((rebuilt.cause as Error).cause instanceof SyntaxError);
    const aggregate = roundTrip(
      new AggregateError([new Error('a'), new URIError('b')], 'many'),
    ) as AggregateError;
    assert.ok(aggregate instanceof AggregateError);
    assert.equal(aggregate.errors.length, 2);
    assert.ok(aggregate.errors[1] instanceof URIError);
  });

  it('keeps a custom class name on a plain Error, and drops properties that cannot cross', () => {
    class DatabaseError extends Error {
      override name = 'DatabaseError';
      connection = { close() {} };
    }
    const rebuilt = roundTrip(new DatabaseError('gone')) as Error & { connection?: unknown };
    assert.ok(rebuilt instanceof Error);
    assert.equal(rebuilt.name, 'DatabaseError');
    assert.equal(rebuilt.connection, undefined);
  });

  it('passes thrown non-errors through as values', () => {
    assert.equal(roundTrip('plain string'), 'plain string');
    assert.deepEqual(roundTrip({ reason: 42 }), { reason: 42 });
    assert.equal(roundTrip(undefined), undefined);
  });
});

describe('errors whose reading throws', () => {
  const trap = () => {
    throw new Error('a trap ran');
  };
  const trapped = () =>
    new Proxy(
      {},
      { get: trap, getPrototypeOf: trap, ownKeys: trap, has: trap, getOwnPropertyDescriptor: trap },
    );

  it('never throw while being serialized, and say what could not be read', () => {
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    const withGetters = new Error('hidden');
    Object.defineProperty(withGetters, 'stack', { get: trap });
    for (const key of ['name', 'message', 'cause', 'code'])
      Object.defineProperty(withGetters, key, { get: trap });
    const aggregate = new AggregateError([], 'many');
    Object.defineProperty(aggregate, 'errors', { get: trap });
    const listed = new AggregateError([new Error('ok')], 'listed');
    Object.defineProperty(listed.errors, 0, { get: trap });
    class Sneaky extends Error {
      override get name(): string {
        throw trapped();
      }
    }
    const cases: [unknown, RegExp][] = [
      [trapped(), /^Non-error value thrown: a Proxy$/],
      [revocable.proxy, /^Non-error value thrown: a Proxy$/],
      [withGetters, /^\(its message could not be read: Error: a trap ran\)$/],
      [aggregate, /^many$/],
      [listed, /^listed$/],
      [new Sneaky('sneaky'), /^sneaky$/],
      [{ toJSON: trap, toString: trap }, /^Non-error value thrown: an object that cannot be described$/],
      [
        Object.defineProperty(new Error('a getter among the props'), 'bad', { get: trap, enumerable: true }),
        /^a getter among the props$/,
      ],
    ];
    for (const [value, message] of cases) {
      const record = toWire(value);
      assert.match(record.message, message);
      // The record is plain data: it crosses any boundary.
      assert.doesNotThrow(() => structuredClone(record));
    }
    const causeless = roundTrip(withGetters) as Error;
    assert.match(
      String((causeless.cause as Error).message),
      /its cause could not be read: Error: a trap ran/,
    );
    assert.equal(roundTrip(aggregate) instanceof AggregateError, true);
    assert.match((roundTrip(listed) as AggregateError).errors[0].message, /errors\[0\] could not be read/);
  });

  it('a thrown object with getters or proxies inside is described, not passed on as a value', () => {
    let reads = 0;
    const changing = {
      get value() {
        reads++;
        if (reads > 1) throw new Error('read twice');
        return 1;
      },
    };
    const record = toWire(changing);
    assert.equal(record.thrown, undefined, 'not plain data: a clone would run the getter again');
    assert.equal(toWire({ inner: trapped() }).thrown, undefined);
    assert.deepEqual(toWire({ plain: [1, 'a'] }).thrown, { value: { plain: [1, 'a'] } });
  });

  it('values whose reading throws are refused by the plain-data check, not thrown through', () => {
    assert.match(findUncloneable(trapped()) ?? '', /^a Proxy at the top level$/);
    assert.match(findUncloneable({ deep: [trapped()] }) ?? '', /^a Proxy at \.deep\[0\]$/);
    assert.match(
      findUncloneable({
        get bad() {
          return trap();
        },
      }) ?? '',
      /properties throw when read/,
    );
  });
});

describe('redis job payloads', () => {
  const job = (timeout: number | undefined) =>
    encodeJob('m#t', undefined, [1], {
      first: 0,
      spread: false,
      seed: 1,
      stopOnError: true,
      track: false,
      timeout,
    });

  it('refuse a timeout a timer cannot wait for (2^31 ms or more), as the pool does', () => {
    assert.equal(readPayload(readJob(job(2 ** 31 - 1))).timeout, 2 ** 31 - 1);
    assert.equal(readPayload(readJob(job(undefined))).timeout, undefined);
    for (const bad of [2 ** 31, 1e15, Number.POSITIVE_INFINITY, 0, -1]) {
      assert.throws(() => job(bad), /its timeout is not a number of milliseconds/, String(bad));
    }
  });

  it("carry a mixed call's tasks and broadcast values, and refuse either when malformed", () => {
    const base = { first: 0, spread: true, seed: 1, stopOnError: true, track: false, timeout: undefined };
    const items = [[1], [2], [3]];
    const mixed = encodeJob(['m#a', 'm#b'], undefined, items, { ...base, taskIndex: Int32Array.of(0, 1, 0) });
    assert.equal(mixed.task, 'parallel');
    assert.deepEqual(mixed.tasks, ['m#a', 'm#b']);
    assert.deepEqual([...(readPayload(readJob(mixed)).taskIndex ?? [])], [0, 1, 0]);
    const refusals: [() => unknown, RegExp][] = [
      [() => encodeJob(['m#a', 'm#b'], undefined, items, base), /does not pick one for each of its 3 items/],
      [
        () => encodeJob(['m#a', 'm#b'], undefined, items, { ...base, taskIndex: Int32Array.of(0, 2, 0) }),
        /item 1 calls task 2, but the job names 2/,
      ],
      [
        () => encodeJob('m#a', undefined, items, { ...base, taskIndex: Int32Array.of(0, 0, 0) }),
        /names none/,
      ],
      [() => readJob({ ...mixed, wrap: 'cache' }), /cannot name a wrapper/],
      [() => readJob({ ...mixed, tasks: ['m#a'] }), /not a list of 2 to 256/],
      [
        () => encodeJob('m#a', undefined, [1], { ...base, spread: false, broadcasts: [[1, 'a/b']] }),
        /broadcast value is not named by a number and a token/,
      ],
    ];
    for (const [attempt, pattern] of refusals) assert.throws(attempt, pattern);
    const shared = encodeJob('m#a', undefined, [1], { ...base, spread: false, broadcasts: [[1, 'run-1']] });
    assert.deepEqual(readPayload(readJob(shared)).broadcasts, [[1, 'run-1']]);
  });

  it("carry a graph batch's node numbers as its items' indices, and refuse them when malformed", () => {
    const base = { first: 4, spread: false, seed: 1, stopOnError: true, track: false, timeout: undefined };
    const nodes = encodeJob('m#a', undefined, [1, 2, 3], { ...base, indices: Int32Array.of(4, 9, 2) });
    assert.deepEqual([...(readPayload(readJob(nodes)).indices ?? [])], [4, 9, 2]);
    assert.equal(readPayload(readJob(job(undefined))).indices, undefined, 'absent: counted from first');
    for (const [indices, pattern] of [
      [Int32Array.of(4, 9), /not one Int32Array entry for each of its 3 items/],
      [[4, 9, 2], /not one Int32Array entry/],
      [Int32Array.of(4, -1, 2), /item 1 has a negative index: -1/],
    ] as const) {
      assert.throws(
        () => encodeJob('m#a', undefined, [1, 2, 3], { ...base, indices: indices as never }),
        pattern,
      );
    }
  });
});

describe('plain-data check', () => {
  it('accepts plain data of every cloneable kind', () => {
    for (const ok of [
      1,
      'a',
      null,
      undefined,
      10n,
      [1, [2, { a: 3 }]],
      { nested: new Map([[1, new Set([2])]]) },
      new Date(),
      /re/g,
      new Uint8Array(4),
      new ArrayBuffer(8),
      new SharedArrayBuffer(8),
      new Error('e'),
      Object.create(null),
    ]) {
      assert.equal(findUncloneable(ok), undefined, typeof ok);
    }
  });

  it('names what cannot cross and where', () => {
    assert.match(findUncloneable(() => 1) ?? '', /^a function \(anonymous\) at the top level/);
    assert.match(
      findUncloneable({ a: [0, { onDone() {} }] }) ?? '',
      /a function \(onDone\) at \.a\[1\]\.onDone/,
    );
    assert.match(findUncloneable(Symbol('s')) ?? '', /a symbol/);
    class Point {
      constructor(readonly x: number) {}
    }
    assert.match(findUncloneable({ p: new Point(1) }) ?? '', /an instance of class Point at \.p/);
    assert.match(findUncloneable(new Map([['k', () => 0]])) ?? '', /\.get\(k\)/);
  });

  it('handles cycles', () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    assert.equal(findUncloneable(a), undefined);
  });
});

describe('packed batches', () => {
  it('sends a batch of numbers as one Float64Array, values unchanged', () => {
    const values = [1, -0, Number.NaN, 2 ** 53, -1.5e-300, Number.POSITIVE_INFINITY, 7, 8];
    const packed = pack(values);
    assert.ok(packed instanceof Float64Array);
    const back = Array.from(unpack(structuredClone(packed)));
    assert.ok(Object.is(back[1], -0));
    assert.ok(Number.isNaN(back[2]));
    assert.deepEqual(back.slice(3), values.slice(3));
  });

  it('packs a run of plain numbers in one pass, and nothing else', () => {
    const values = [1, 'two', -0, Number.NaN, 2 ** 53, -1.5e-300, 5, 6, 7, 8, 9, { ten: 10 }];
    const run = packNumbers(values, 2, 11);
    assert.ok(run instanceof Float64Array);
    assert.deepEqual(Array.from(run), values.slice(2, 11));
    assert.ok(Object.is(run[0], -0));
    assert.equal(packNumbers(values, 0, 9), undefined, 'a string among them');
    assert.equal(packNumbers(values, 4, 12), undefined, 'an object at the end');
    assert.deepEqual(packNumbers(values, 6, 7), Float64Array.of(5), 'one is enough');
    assert.equal(packNumbers(values, 6, 6), undefined, 'none is not');
    const few = [1, 2, 3];
    assert.equal(pack(few), few, 'a small array is cloned as it is');
  });

  it('sends a batch already packed as a compact copy, keeping the original', () => {
    const all = Float64Array.of(0, 1, -0, Number.NaN, 4, 5, 6, 7, 8, 9);
    const items = all.subarray(1, 9);
    const packed = pack(items);
    assert.ok(packed instanceof Float64Array && packed !== items);
    assert.equal(packed.buffer.byteLength, 64, 'only the items, not the buffer they are a view of');
    assert.ok(Object.is(packed[1], -0));
    assert.equal(items.length, 8, 'the original is still readable');
  });

  it('sends a batch of undefined as its length, anything else as it is', () => {
    const none = pack(new Array(10).fill(undefined));
    assert.deepEqual(none, { undefinedTimes: 10 });
    assert.equal(unpack(none).length, 10);
    const mixed = [1, 2, 3, 4, 5, 6, 7, 'eight'];
    assert.equal(pack(mixed), mixed);
  });
});

describe('error classes', () => {
  it('instanceof: FanoutError matches every fanout error, a subclass only its own', async () => {
    const { FanoutError, InvalidArgValueError, PoolClosedError, TaskError } = await import('../src/index.js');
    const task = new TaskError({ task: 't', index: 0 }, new Error('x'));
    const range = new InvalidArgValueError('bad');
    assert.ok(task instanceof FanoutError && range instanceof FanoutError && range instanceof RangeError);
    assert.ok(task instanceof TaskError);
    assert.equal(task instanceof PoolClosedError, false);
    assert.equal(new PoolClosedError() instanceof TaskError, false);
    assert.equal(new Error('plain') instanceof FanoutError, false);
  });
});
