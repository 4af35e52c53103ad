/** Memory on the calling thread: hits, misses, keys, safety, maintenance. */

import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type EntryMeta, Memory } from '../src/index.js';
import tasks, { Point } from './fixtures/memory-tasks.js';
import { rejectsWith } from './helpers.js';

let root: string;
let dir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'fanout-memory-'));
  dir = join(root, 'cache');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Every entry folder of the cache (layout: <dir>/<task folder>/<32 hex key>/). */
function entries(cacheDir = dir): string[] {
  if (!existsSync(cacheDir)) return [];
  const found: string[] = [];
  for (const task of readdirSync(cacheDir)) {
    if (task.startsWith('.')) continue;
    for (const name of readdirSync(join(cacheDir, task))) {
      if (/^[0-9a-f]{32}$/.test(name)) found.push(join(cacheDir, task, name));
    }
  }
  return found.sort();
}

function meta(entry: string): EntryMeta {
  return JSON.parse(readFileSync(join(entry, 'meta.json'), 'utf8'));
}

/** Collect the cache warnings emitted while `fn` runs (warnings are emitted on the next tick). */
async function warningsDuring(fn: () => unknown): Promise<string[]> {
  const codes: string[] = [];
  const listener = (warning: Error & { code?: string }) => {
    if (warning.name === 'FanoutCacheWarning') codes.push(warning.code ?? '');
  };
  process.on('warning', listener);
  try {
    await fn();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return codes;
}

describe('Memory: hits and misses', () => {
  it('computes on a miss, returns the stored result on a hit, and counts both', async () => {
    const memory = new Memory(dir);
    const nonce = memory.cache(tasks.nonce);
    const first = nonce(1);
    assert.deepEqual(nonce(1), first);
    assert.notEqual(nonce(2).nonce, first.nonce);
    assert.deepEqual(await memory.stats(), { hits: 1, misses: 2, corrupt: 0, rejected: 0 });
    assert.equal(entries().length, 2);
  });

  it('is a task reference typed and named as the task', () => {
    const square = new Memory(dir).cache(tasks.square);
    const four: number = square(2);
    assert.equal(four, 4);
    assert.equal(square.taskName, 'square');
    assert.equal(square.module, tasks.square.module);
    assert.ok(square.wrapper, 'carries the worker-side cache wrapper');
    assert.equal(square.wrapper?.name, 'cacheWrapper');
  });

  it('shares entries between Memory objects on one folder; each counts its own calls', async () => {
    const a = new Memory(dir);
    const b = new Memory(dir);
    const first = a.cache(tasks.nonce)(7);
    assert.deepEqual(b.cache(tasks.nonce)(7), first);
    assert.deepEqual(await a.stats(), { hits: 0, misses: 1, corrupt: 0, rejected: 0 });
    assert.deepEqual(await b.stats(), { hits: 1, misses: 0, corrupt: 0, rejected: 0 });
  });

  it('round-trips every kind of value a task returns', () => {
    const kinds = new Memory(dir).cache(tasks.kinds);
    const computed = kinds(3);
    const stored = kinds(3);
    assert.notEqual(stored, computed, 'the second is read back from disk');
    assert.deepEqual(stored, computed);
    assert.ok(Object.is(stored.map.get(3) && (stored.map.get(3) as { deep: number[] }).deep[1], -0));
    assert.equal(stored.cyclic.self, stored.cyclic);
    assert.ok(stored.floats instanceof Float32Array);
  });

  it('caches an async task by its resolved value; a hit is still a Promise', async () => {
    const memory = new Memory(dir);
    const nonceAsync = memory.cache(tasks.nonceAsync);
    const first = await nonceAsync(1);
    const hit = nonceAsync(1);
    assert.ok(hit instanceof Promise);
    assert.deepEqual(await hit, first);
    assert.equal(meta(entries()[0] as string).async, true);
  });

  it('never caches a failure, sync or async', async () => {
    const memory = new Memory(dir);
    const fail = memory.cache(tasks.fail);
    const failAsync = memory.cache(tasks.failAsync);
    assert.throws(() => fail(1), RangeError);
    assert.throws(() => fail(1), RangeError);
    await assert.rejects(failAsync(1), RangeError);
    await assert.rejects(failAsync(1), RangeError);
    assert.equal((await memory.stats()).misses, 4);
    assert.deepEqual(entries(), []);
  });

  it('returns a result that is not plain data uncached, with one warning', async () => {
    const point = new Memory(dir).cache(tasks.point);
    const codes = await warningsDuring(() => {
      assert.ok(point(1) instanceof Point);
      assert.ok(point(1) instanceof Point);
    });
    assert.deepEqual(codes, ['FANOUT_CACHE_UNCACHEABLE']);
    assert.deepEqual(entries(), []);
  });

  it('writes a readable meta.json beside each result', () => {
    new Memory(dir).cache(tasks.nonce)({ b: 2, a: 'x' });
    const entry = entries()[0] as string;
    const m = meta(entry);
    assert.equal(m.name, 'nonce');
    assert.equal(m.module, tasks.nonce.module);
    assert.equal(m.key, entry.slice(-32));
    assert.ok(Number.isFinite(Date.parse(m.created)));
    assert.ok(m.duration >= 0);
    assert.match(m.args, /b: 2/);
    assert.equal(m.size, statSync(join(entry, 'output.bin')).size);
    assert.deepEqual(JSON.parse(readFileSync(join(entry, '..', 'task.json'), 'utf8')), {
      module: tasks.nonce.module,
      name: 'nonce',
    });
  });

  it('creates the cache folder owner-only, and its files owner-readable only', () => {
    new Memory(dir).cache(tasks.square)(3);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const entry = entries()[0] as string;
    assert.equal(statSync(join(entry, '..')).mode & 0o777, 0o700);
    assert.equal(statSync(join(entry, 'output.bin')).mode & 0o777, 0o600);
    assert.equal(statSync(join(entry, 'meta.json')).mode & 0o777, 0o600);
  });
});

describe('Memory: the key', () => {
  it('does not depend on object key order, Map order or copies', () => {
    const memory = new Memory(dir);
    const nonce = memory.cache(tasks.nonce);
    const first = nonce({ a: 1, b: new Map([[1, new Float64Array([1, 2])]]) });
    const again = nonce({ b: new Map([[1, new Float64Array([1, 2])]]), a: 1 });
    assert.equal(again.nonce, first.nonce);
  });

  it('treats trailing undefined arguments as absent (default parameters)', () => {
    const nonce = new Memory(dir).cache(tasks.nonce);
    assert.equal(nonce(1, undefined).nonce, nonce(1).nonce);
  });

  it('ignores argument positions and option keys given in `ignore`', () => {
    const memory = new Memory(dir);
    const byPosition = memory.cache(tasks.nonce, { ignore: [1] });
    const a = byPosition(1, 'log to stdout', 'kept');
    assert.equal(byPosition(1, 'log to a file', 'kept').nonce, a.nonce);
    assert.equal(byPosition(1, undefined, 'kept').nonce, a.nonce);
    assert.notEqual(byPosition(1, 'log to stdout', 'changed').nonce, a.nonce);
    assert.match(meta(entries()[0] as string).args, /<ignored>/);

    const byKey = memory.cache(tasks.nonce, { ignore: ['verbose'] });
    const b = byKey({ epochs: 3, verbose: true });
    assert.equal(byKey({ epochs: 3, verbose: false }).nonce, b.nonce);
    assert.equal(byKey({ epochs: 3 }).nonce, b.nonce);
    assert.notEqual(byKey({ epochs: 4, verbose: true }).nonce, b.nonce);
  });

  it('ignoring an unhashable argument makes the call cacheable', () => {
    const nonce = new Memory(dir).cache(tasks.nonce, { ignore: [1] });
    const first = nonce(1, () => 'a callback');
    assert.equal(nonce(1, () => 'another').nonce, first.nonce);
  });

  it('throws ERR_CACHE for an argument it cannot hash, naming it', () => {
    const nonce = new Memory(dir).cache(tasks.nonce);
    assert.throws(
      () => nonce({ onDone: () => {} }),
      (e: Error & { code?: string }) =>
        e.code === 'ERR_CACHE' && /argument 0.*function.*\.onDone/.test(e.message),
    );
  });

  it('separates tasks with equal arguments', () => {
    const memory = new Memory(dir);
    assert.equal(memory.cache(tasks.square)(3), 9);
    assert.notEqual(memory.cache(tasks.nonce)(3), 9);
    assert.equal(entries().length, 2);
  });
});

describe('Memory: damaged entries', () => {
  const damages: [string, (entry: string) => void][] = [
    [
      'truncated',
      (e) => writeFileSync(join(e, 'output.bin'), readFileSync(join(e, 'output.bin')).subarray(0, 30)),
    ],
    [
      'with a flipped byte',
      (e) => {
        const bytes = readFileSync(join(e, 'output.bin'));
        bytes[bytes.length - 2] = (bytes[bytes.length - 2] as number) ^ 0xff;
        writeFileSync(join(e, 'output.bin'), bytes);
      },
    ],
    ['emptied', (e) => writeFileSync(join(e, 'output.bin'), '')],
    ['without its output', (e) => rmSync(join(e, 'output.bin'))],
  ];
  for (const [what, damage] of damages) {
    it(`recomputes an entry ${what}, with a warning, and stores it again`, async () => {
      const memory = new Memory(dir);
      const nonce = memory.cache(tasks.nonce);
      const first = nonce('x');
      damage(entries()[0] as string);
      let second: ReturnType<typeof nonce> | undefined;
      const codes = await warningsDuring(() => {
        second = nonce('x');
      });
      assert.deepEqual(codes, ['FANOUT_CACHE_CORRUPT']);
      assert.equal(second?.x, 'x');
      assert.notEqual(second?.nonce, first.nonce, 'recomputed, never the damaged value');
      assert.equal(nonce('x').nonce, second?.nonce, 'the new entry is stored and read back');
      assert.deepEqual(await memory.stats(), { hits: 1, misses: 2, corrupt: 1, rejected: 0 });
      assert.equal(entries().length, 1);
    });
  }

  it('treats a damaged meta.json as damaged when validate needs it', async () => {
    const nonce = new Memory(dir).cache(tasks.nonce, { validate: tasks.acceptAll });
    const first = nonce(1);
    writeFileSync(join(entries()[0] as string, 'meta.json'), '{"ver');
    let second: ReturnType<typeof nonce> | undefined;
    const codes = await warningsDuring(() => {
      second = nonce(1);
    });
    assert.deepEqual(codes, ['FANOUT_CACHE_CORRUPT']);
    assert.notEqual(second?.nonce, first.nonce);
  });

  it('returns the result with a warning when it cannot be written', async () => {
    const memory = new Memory(dir);
    const square = memory.cache(tasks.square);
    square(1); // creates the cache folder; now block the task's folder with a file
    const folder = join(entries()[0] as string, '..');
    rmSync(folder, { recursive: true });
    writeFileSync(folder, 'not a folder');
    const codes = await warningsDuring(() => assert.equal(square(5), 25));
    assert.deepEqual(codes, ['FANOUT_CACHE_WRITE']);
  });
});

describe('Memory: validate', () => {
  it('recomputes and replaces entries that validate rejects', async () => {
    const memory = new Memory(dir);
    const nonce = memory.cache(tasks.nonce, { validate: tasks.rejectAll });
    const first = nonce(1);
    assert.notEqual(nonce(1).nonce, first.nonce);
    assert.deepEqual(await memory.stats(), { hits: 0, misses: 2, corrupt: 0, rejected: 1 });
    assert.equal(entries().length, 1);
  });

  it('passes the entry metadata; a plain function works for local calls', () => {
    const seen: EntryMeta[] = [];
    const nonce = new Memory(dir).cache(tasks.nonce, {
      validate: (m) => {
        seen.push(m);
        return true;
      },
    });
    const first = nonce(5);
    assert.equal(nonce(5).nonce, first.nonce);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.name, 'nonce');
    assert.equal(seen[0]?.args, '[ 5 ]');
  });

  it('must return a boolean', () => {
    const nonce = new Memory(dir).cache(tasks.nonce, { validate: (() => 'yes') as never });
    nonce(1);
    assert.throws(() => nonce(1), { code: 'ERR_CACHE' });
  });
});

describe('Memory(null)', () => {
  it('caches nothing: cache() returns the task itself and no folder is made', async () => {
    const memory = new Memory(null);
    assert.equal(memory.dir, null);
    const nonce = memory.cache(tasks.nonce, { ignore: [1] });
    assert.equal(nonce, tasks.nonce);
    assert.notEqual(nonce(1).nonce, nonce(1).nonce);
    assert.deepEqual(await memory.stats(), { hits: 0, misses: 0, corrupt: 0, rejected: 0 });
    assert.deepEqual(await memory.info(), { dir: null, entries: 0, bytes: 0, tasks: [] });
    assert.deepEqual(await memory.reduceSize({ items: 0 }), {
      removed: 0,
      removedBytes: 0,
      entries: 0,
      bytes: 0,
    });
    await memory.clear();
    assert.ok(!existsSync(dir));
  });
});

describe('Memory: clear, info, reduceSize', () => {
  it('clear(task) removes one task, clear() all; counts are kept', async () => {
    const memory = new Memory(dir);
    const nonce = memory.cache(tasks.nonce);
    const square = memory.cache(tasks.square);
    const first = nonce(1);
    square(2);
    await memory.clear(tasks.nonce);
    assert.equal(entries().length, 1);
    assert.notEqual(nonce(1).nonce, first.nonce, 'recomputed after clear');
    await memory.clear();
    assert.deepEqual(entries(), []);
    assert.equal((await memory.stats()).misses, 3);
    assert.equal(square(2), 4, 'the cache refills after clear()');
    assert.equal(entries().length, 1);
  });

  it('info() describes every task on disk', async () => {
    const memory = new Memory(dir);
    memory.cache(tasks.nonce)(1);
    memory.cache(tasks.nonce)(2);
    memory.cache(tasks.square)(2);
    const info = await memory.info();
    assert.equal(info.dir, dir);
    assert.equal(info.entries, 3);
    const byName = Object.fromEntries(info.tasks.map((t) => [t.name, t]));
    assert.equal(byName.nonce?.entries, 2);
    assert.equal(byName.square?.entries, 1);
    assert.equal(byName.square?.module, tasks.square.module);
    assert.equal(info.bytes, (byName.nonce?.bytes ?? 0) + (byName.square?.bytes ?? 0));
    assert.ok(info.bytes > 0);
  });

  /** Four entries last used in 2001..2004 (their folders' mtimes, as documented), keyed by argument. */
  function fourEntries(memory: Memory) {
    const nonce = memory.cache(tasks.nonce);
    const first = new Map([1, 2, 3, 4].map((x) => [x, nonce(x).nonce]));
    const sizes = new Map<number, number>();
    for (const entry of entries()) {
      const x = Number(/\[ (\d) \]/.exec(meta(entry).args)?.[1]);
      const when = new Date(Date.UTC(2000 + x, 0, 1));
      utimesSync(entry, when, when);
      sizes.set(x, statSync(join(entry, 'output.bin')).size + statSync(join(entry, 'meta.json')).size);
    }
    const kept = () => [1, 2, 3, 4].filter((x) => nonce(x).nonce === first.get(x));
    return { nonce, kept, sizes };
  }

  it('reduceSize({ items }) evicts the least recently used; a hit counts as a use', async () => {
    const memory = new Memory(dir);
    const { nonce, kept } = fourEntries(memory);
    nonce(1); // a hit: entry 1 becomes the most recently used
    const result = await memory.reduceSize({ items: 2 });
    assert.equal(result.removed, 2);
    assert.equal(result.entries, 2);
    assert.deepEqual(kept(), [1, 4]);
  });

  it('reduceSize({ bytes }) evicts until the size fits', async () => {
    const memory = new Memory(dir);
    const { kept, sizes } = fourEntries(memory);
    const { bytes } = await memory.info();
    // Entries differ by a few bytes (durations), so the limit is exactly what the newest two take.
    const limit = (sizes.get(3) ?? 0) + (sizes.get(4) ?? 0);
    const result = await memory.reduceSize({ bytes: limit });
    assert.equal(result.bytes, limit);
    assert.equal(result.removedBytes + result.bytes, bytes);
    assert.deepEqual(kept(), [3, 4]);
  });

  it('reduceSize({ age }) evicts entries unused for longer than age', async () => {
    const memory = new Memory(dir);
    const { kept } = fourEntries(memory);
    const cutoff = Date.now() - Date.UTC(2002, 6, 1);
    const result = await memory.reduceSize({ age: cutoff });
    assert.equal(result.removed, 2);
    assert.deepEqual(kept(), [3, 4]);
  });

  it('reduceSize sweeps temporary folders left by a writer that died', async () => {
    const memory = new Memory(dir);
    memory.cache(tasks.square)(1);
    const folder = join(entries()[0] as string, '..');
    const stale = join(folder, '.tmp-dead01');
    const fresh = join(folder, '.tmp-alive1');
    mkdirSync(stale);
    mkdirSync(fresh);
    utimesSync(stale, new Date(2001, 0, 1), new Date(2001, 0, 1));
    await memory.reduceSize({});
    assert.ok(!existsSync(stale), 'a day-old temporary folder is swept');
    assert.ok(existsSync(fresh), 'a fresh one may belong to a writer at work');
    assert.equal(entries().length, 1);
  });
});

describe('Memory: arguments', () => {
  it('rejects bad arguments with the option named', async () => {
    assert.throws(() => new Memory(5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new Memory(''), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new Memory(new URL('https://example.com/')), { code: 'ERR_INVALID_ARG_VALUE' });
    const memory = new Memory(dir);
    assert.throws(() => memory.cache(((x: number) => x) as never), /defineTasks/);
    assert.throws(() => memory.cache(tasks.nonce, { ignore: [-1] }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => memory.cache(tasks.nonce, { ignore: 'x' as never }), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
    assert.throws(() => memory.cache(tasks.nonce, { validate: 'x' as never }), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
    const { default: other } = await import('./fixtures/tasks.js');
    assert.throws(
      () => memory.cache(tasks.nonce, { validate: other.identity as never }),
      (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_VALUE' && /task's module/.test(e.message),
    );
    assert.throws(() => memory.cache(memory.cache(tasks.nonce)), /already cached/);
    await rejectsWith(memory.reduceSize({ items: 1.5 }), 'ERR_INVALID_ARG_VALUE');
    await rejectsWith(memory.reduceSize({ bytes: '1G' as never }), 'ERR_INVALID_ARG_TYPE');
    await rejectsWith(memory.clear('nonce' as never), 'ERR_INVALID_ARG_TYPE');
  });

  it('accepts a file: URL', () => {
    const memory = new Memory(new URL(`file://${dir}/`));
    assert.equal(memory.dir, dir);
  });
});
