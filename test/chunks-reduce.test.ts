/**
 * pool.reduceChunks on every backend: each source, empty inputs, malformed records, combine
 * order, the window that bounds memory, and that file chunks are read by the workers.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChunkParseError, chunks, columnStats, Pool } from '../src/index.js';
import tasks, { type Seen } from './fixtures/chunk-tasks.js';
import { backends, range, rejectsWith } from './helpers.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fanout-chunks-reduce-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | NodeJS.ArrayBufferView): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** A combine that keeps every partial result, in the order it was given them. */
const collect = <T>(all: T[], partial: T): T[] => [...all, partial];
type Rows = ReturnType<typeof tasks.rows>;
/** A combine for calls without `initial`, whose accumulator is a partial result. */
const keepFirst = <T>(first: T, _partial: T): T => first;

for (const backend of backends) {
  describe(`reduceChunks on the ${backend.name} backend`, () => {
    let pool: Pool;
    before(() => {
      pool = backend.pool();
    });
    after(() => pool.close());

    it('matrix: whole rows of each dtype, with their first row, in order', async () => {
      for (const [dtype, Kind] of [
        ['float64', Float64Array],
        ['float32', Float32Array],
        ['int32', Int32Array],
      ] as const) {
        const values = new Kind(4 * 11);
        for (let i = 0; i < values.length; i++) values[i] = i * 3 - 7;
        const path = file(`m-${dtype}`, new Uint8Array(values.buffer));
        const rowBytes = 4 * Kind.BYTES_PER_ELEMENT;
        const seen = await pool.reduceChunks(chunks.matrix(path, { columns: 4, dtype }), {
          map: tasks.rows,
          combine: collect,
          initial: [] as Rows[],
          chunkBytes: 3 * rowBytes,
        });
        assert.deepEqual(
          seen.map((s) => [s.firstRow, s.rows, s.columns, s.type]),
          [
            [0, 3, 4, Kind.name],
            [3, 3, 4, Kind.name],
            [6, 3, 4, Kind.name],
            [9, 2, 4, Kind.name],
          ],
        );
        assert.deepEqual(
          seen.flatMap((s) => s.values),
          [...values],
        );
      }
    });

    it('matrix: one read buffer per worker, reused from chunk to chunk; a returned view keeps its own', async () => {
      const values = new Float64Array(2 * 20).map((_, i) => i);
      const path = file('reuse.f64', values);
      const source = chunks.matrix(path, { columns: 2 });
      await using one = backend.pool({ workers: 1 });
      const same = await one.reduceChunks(source, {
        map: tasks.sameMemory,
        combine: collect<boolean>,
        initial: [],
        chunkBytes: 16 * 4,
      });
      assert.deepEqual(
        same.slice(1),
        [true, true, true, true],
        'each chunk is read into the memory of the one before',
      );
      const firstRows = await one.reduceChunks(source, {
        map: tasks.firstRow,
        combine: collect<Float64Array>,
        initial: [],
        chunkBytes: 16 * 4,
      });
      assert.deepEqual(
        firstRows.map((row) => [...row]),
        [0, 8, 16, 24, 32].map((i) => [i, i + 1]),
      );
    });

    it('ndjson: every record once, whatever the chunk size', async () => {
      const records = range(40).map((i) => ({ i, pad: 'x'.repeat(i % 7) }));
      const path = file('r.ndjson', records.map((r) => JSON.stringify(r)).join('\n'));
      for (const chunkBytes of [1, 7, 23, 64, 1 << 20]) {
        const seen = await pool.reduceChunks(chunks.ndjson(path), {
          map: tasks.seen,
          combine: collect,
          initial: [] as Seen[],
          chunkBytes,
        });
        assert.deepEqual(
          seen.flatMap((s) => s.records),
          records,
          `chunkBytes ${chunkBytes}`,
        );
      }
    });

    it('csv: arrays, objects keyed by the header, numbers', async () => {
      const path = file('t.csv', 'name,qty\nbolt,3\n"nut, hex",10\n');
      const arrays = await pool.reduceChunks(chunks.csv(path), {
        map: tasks.seen,
        combine: collect,
        initial: [] as Seen[],
      });
      assert.deepEqual(
        arrays.flatMap((s) => s.records),
        [
          ['name', 'qty'],
          ['bolt', '3'],
          ['nut, hex', '10'],
        ],
      );
      const objects = await pool.reduceChunks(chunks.csv(path, { header: true }), {
        map: tasks.seen,
        combine: collect,
        initial: [] as Seen[],
        chunkBytes: 5,
      });
      assert.deepEqual(
        objects.flatMap((s) => s.records),
        [
          { name: 'bolt', qty: '3' },
          { name: 'nut, hex', qty: '10' },
        ],
      );
      const numbers = file('n.csv', 'a;b\n1;2\n3;4\n');
      const sums = await pool.reduceChunks(
        chunks.csv(numbers, { header: 'skip', numeric: true, delimiter: ';' }),
        columnStats.sum,
      );
      assert.deepEqual({ count: sums.count, sum: [...sums.sum] }, { count: 2, sum: [4, 6] });
    });

    it('fromIterable: sync and async iterables, in chunks of `size`, with exact record numbers', async () => {
      const sync = await pool.reduceChunks(chunks.fromIterable(range(10), { size: 4 }), {
        map: tasks.seen,
        combine: collect,
        initial: [] as Seen[],
      });
      assert.deepEqual(
        sync.map((s) => [s.first, s.records]),
        [
          [0, [0, 1, 2, 3]],
          [4, [4, 5, 6, 7]],
          [8, [8, 9]],
        ],
      );
      async function* numbers() {
        for (let i = 1; i <= 100; i++) yield i;
      }
      const total = await pool.reduceChunks(chunks.fromIterable(numbers(), { size: 7 }), {
        map: tasks.total,
        combine: (a: number, b: number) => a + b,
      });
      assert.equal(total, 5050);
    });

    it('empty sources give the initial value (or undefined without one)', async () => {
      const empty = file('empty', '');
      const headerOnly = file('header-only.csv', 'a,b\n');
      const options = { map: tasks.seen, combine: collect, initial: [] as Seen[] };
      assert.deepEqual(
        await pool.reduceChunks(chunks.matrix(empty, { columns: 3 }), { ...options, map: tasks.rows }),
        [],
      );
      assert.deepEqual(await pool.reduceChunks(chunks.ndjson(empty), options), []);
      assert.deepEqual(await pool.reduceChunks(chunks.csv(empty, { header: true }), options), []);
      assert.deepEqual(await pool.reduceChunks(chunks.csv(headerOnly, { header: true }), options), []);
      assert.deepEqual(await pool.reduceChunks(chunks.fromIterable([], { size: 3 }), options), []);
      assert.equal(
        await pool.reduceChunks(chunks.ndjson(empty), { map: tasks.seen, combine: keepFirst }),
        undefined,
      );
      const stats = await pool.reduceChunks(chunks.matrix(empty, { columns: 3 }), columnStats.moments);
      assert.equal(stats.count, 0);
    });

    it('a malformed line fails with ERR_CHUNK_PARSE naming the file and the byte offset', async () => {
      const good = range(30).map((i) => JSON.stringify({ i }));
      const bad = '{"i": 30,,}';
      const path = file('bad.ndjson', [...good, bad, '{"i":31}'].join('\n'));
      const offset = Buffer.byteLength(`${good.join('\n')}\n`);
      const error = await rejectsWith(
        pool.reduceChunks(chunks.ndjson(path), {
          map: tasks.seen,
          combine: collect,
          initial: [] as Seen[],
          chunkBytes: 64,
        }),
        'ERR_CHUNK_PARSE',
      );
      assert.ok(error instanceof ChunkParseError);
      assert.equal(error.name, 'ChunkParseError');
      assert.equal(error.path, path);
      assert.equal(error.byteOffset, offset);
      assert.ok(
        error.message.startsWith(`Cannot parse ${path} at byte ${offset}: invalid JSON`),
        error.message,
      );

      const csvPath = file('bad.csv', 'a,b\n1,2\n3\n');
      const csvError = await rejectsWith(
        pool.reduceChunks(chunks.csv(csvPath, { header: true }), {
          map: tasks.seen,
          combine: collect,
          initial: [] as Seen[],
        }),
        'ERR_CHUNK_PARSE',
      );
      assert.equal(csvError.byteOffset, 8);
      assert.match(csvError.message, /1 fields where the header has 2/);
    });

    it('ordered: true combines in chunk order; false in completion order, the same partials', async () => {
      const path = file('order.ndjson', range(50).join('\n'));
      const options = { map: tasks.seen, combine: collect<Seen>, initial: [] as Seen[], chunkBytes: 10 };
      const ordered = await pool.reduceChunks(chunks.ndjson(path), options);
      const firsts = ordered.map((s) => s.first);
      assert.deepEqual(
        firsts,
        [...firsts].sort((a, b) => a - b),
      );
      const unordered = await pool.reduceChunks(chunks.ndjson(path), { ...options, ordered: false });
      assert.deepEqual(
        unordered.map((s) => s.first).sort((a, b) => a - b),
        firsts,
      );
      assert.deepEqual(
        unordered.flatMap((s) => s.records).sort((a, b) => (a as number) - (b as number)),
        range(50),
      );
    });

    it('fromIterable holds at most workers + prefetch chunks between grouping and combining', async () => {
      for (const prefetch of [0, 1, 3]) {
        let pulled = 0;
        let combined = 0;
        let most = 0;
        function* records() {
          for (let i = 0; i < 200; i++) {
            pulled++;
            // Chunks grouped (the one being filled included) and not yet combined.
            most = Math.max(most, Math.ceil(pulled / 5) - combined);
            yield i;
          }
        }
        const total = await pool.reduceChunks(chunks.fromIterable(records(), { size: 5 }), {
          map: tasks.total,
          combine: (a: number, b: number) => {
            combined++;
            return a + b;
          },
          initial: 0,
          prefetch,
        });
        assert.equal(total, (199 * 200) / 2);
        assert.ok(
          most <= pool.workers + prefetch + 1,
          `prefetch ${prefetch}: ${most} chunks held, bound ${pool.workers + prefetch} + the one being filled`,
        );
      }
    });

    it('the map task error, a closed pool and an aborted signal fail the call as pool.map would', async () => {
      const path = file('words.ndjson', ['"a"', '"b"', '"bad"', '"c"'].join('\n'));
      const failed = await rejectsWith(
        pool.reduceChunks(chunks.ndjson<string>(path), {
          map: tasks.failOn,
          combine: (a: number, b: number) => a + b,
          chunkBytes: 4,
        }),
        'ERR_TASK_FAILED',
      );
      assert.match(failed.message, /Task "failOn" failed on item 2: Error: found "bad"/);
      const controller = new AbortController();
      controller.abort();
      await rejectsWith(
        pool.reduceChunks(chunks.ndjson(path), {
          map: tasks.seen,
          combine: keepFirst,
          signal: controller.signal,
        }),
        'ABORT_ERR',
      );
      const closed = backend.pool();
      await closed.close();
      await rejectsWith(
        closed.reduceChunks(chunks.ndjson(path), { map: tasks.seen, combine: keepFirst }),
        'ERR_POOL_CLOSED',
      );
    });
  });
}

describe('reduceChunks: file chunks are read by the workers', () => {
  it('threads: every chunk is read and mapped off the main thread', async () => {
    await using pool = new Pool({ backend: 'threads', workers: 2 });
    const path = file('where.ndjson', range(200).join('\n'));
    const seen = await pool.reduceChunks(chunks.ndjson(path), {
      map: tasks.seen,
      combine: collect,
      initial: [] as Seen[],
      chunkBytes: 50,
    });
    assert.ok(seen.length > 10);
    assert.ok(
      seen.every((s) => s.threadId !== 0 && s.pid === process.pid),
      'read in worker threads',
    );
  });

  it('processes: the main process reads a few bytes of metadata, never the chunks', async () => {
    // /proc/self/io counts every byte this process reads through read(2): file data included,
    // worker-process data excluded. A 4 MB file read here would add 4 MB.
    const readBytes = () => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);
    const values = new Float64Array(512 * 1024).map((_, i) => i % 1000);
    const path = file('where.f64', new Uint8Array(values.buffer));
    await using pool = new Pool({ backend: 'processes', workers: 2 });
    await pool.run(tasks.total, { records: [1] }); // start the workers and load the modules first
    const before = readBytes();
    const sums = await pool.reduceChunks(chunks.matrix(path, { columns: 8 }), {
      ...columnStats.sum,
      chunkBytes: 256 * 1024,
    });
    const readHere = readBytes() - before;
    assert.equal(sums.count, values.length / 8);
    assert.ok(
      readHere < values.byteLength / 8,
      `the main process read ${readHere} bytes of a ${values.byteLength}-byte file`,
    );
    const seen = await pool.reduceChunks(chunks.ndjson(file('pids.ndjson', range(100).join('\n'))), {
      map: tasks.seen,
      combine: collect,
      initial: [] as Seen[],
      chunkBytes: 32,
    });
    assert.ok(seen.every((s) => s.pid !== process.pid));
  });
});

describe('reduceChunks: options', () => {
  it('are checked, naming the option, before the file is looked at', async () => {
    await using pool = new Pool({ backend: 'inline' });
    const missing = join(dir, 'does-not-exist');
    const source = chunks.ndjson(missing);
    const base = { map: tasks.seen, combine: keepFirst };
    await rejectsWith(pool.reduceChunks(source, { ...base, chunkBytes: 0 }), 'ERR_INVALID_ARG_VALUE');
    await rejectsWith(
      pool.reduceChunks(source, { ...base, chunkBytes: '1MB' as never }),
      'ERR_INVALID_ARG_TYPE',
    );
    await rejectsWith(pool.reduceChunks(source, { ...base, prefetch: -1 }), 'ERR_INVALID_ARG_VALUE');
    await rejectsWith(
      pool.reduceChunks(source, { ...base, ordered: 'yes' as never }),
      'ERR_INVALID_ARG_TYPE',
    );
    await rejectsWith(pool.reduceChunks(source, { ...base, timeout: -5 }), 'ERR_INVALID_ARG_VALUE');
    const unknown = await rejectsWith(
      pool.reduceChunks(source, { ...base, chunksize: 5 } as never),
      'ERR_INVALID_ARG_VALUE',
    );
    assert.match(unknown.message, /Unknown option `chunksize`/);
    const combine = await rejectsWith(
      pool.reduceChunks(source, { map: tasks.seen } as never),
      'ERR_INVALID_ARG_TYPE',
    );
    assert.match(combine.message, /`combine`/);
    const inline = await rejectsWith(
      pool.reduceChunks(source, { map: (chunk: unknown) => chunk, combine: keepFirst }),
      'ERR_INVALID_ARG_TYPE',
    );
    assert.match(inline.message, /`map` to be a task reference from defineTasks/);
    await rejectsWith(pool.reduceChunks({} as never, base), 'ERR_INVALID_ARG_TYPE');
    const perRecords = await rejectsWith(
      pool.reduceChunks(chunks.fromIterable([1], { size: 1 }), { ...base, chunkBytes: 10 }),
      'ERR_INVALID_ARG_VALUE',
    );
    assert.match(perRecords.message, /`chunkBytes` does not apply to chunks.fromIterable/);
    // With valid options, the missing file is what fails: a coded error naming the file, with
    // Node's own error as the cause.
    const absent = await rejectsWith(pool.reduceChunks(source, base), 'ERR_INVALID_ARG_VALUE');
    assert.match(absent.message, /chunks\.ndjson, .*does-not-exist, cannot be used: there is no such file/);
    assert.equal((absent.cause as { code?: unknown }).code, 'ENOENT');
  });

  it('of the sources are checked when the source is made', () => {
    assert.throws(() => chunks.matrix('x', { columns: 0 }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /`columns`/,
    });
    assert.throws(() => chunks.matrix('x', { columns: 2, dtype: 'int8' as never }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /`dtype`/,
    });
    assert.throws(() => chunks.matrix('x', { columns: 2, offset: -1 }), { message: /`offset`/ });
    assert.throws(() => chunks.csv('x', { delimiter: ',,' }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /`delimiter`/,
    });
    assert.throws(() => chunks.csv('x', { header: 'yes' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => chunks.csv('x', { quote: "'" } as never), { message: /Unknown option `quote`/ });
    assert.throws(() => chunks.ndjson(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => chunks.fromIterable(5 as never, { size: 2 }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => chunks.fromIterable([], { size: 0 }), { message: /`size`/ });
  });

  it('an iterator source can be used once; a second call says so instead of seeing nothing', async () => {
    await using pool = new Pool({ backend: 'inline' });
    const source = chunks.fromIterable(range(5)[Symbol.iterator](), { size: 2 });
    const sum = { map: tasks.total, combine: (a: number, b: number) => a + b, initial: 0 };
    assert.equal(await pool.reduceChunks(source, sum), 10);
    await rejectsWith(pool.reduceChunks(source, sum), 'ERR_INVALID_ARG_VALUE');
  });

  it('close() waits for a reduceChunks in progress', async () => {
    const pool = new Pool({ backend: 'threads', workers: 1 });
    const path = file('close.ndjson', range(100).join('\n'));
    const running = pool.reduceChunks(chunks.ndjson(path), {
      map: tasks.seen,
      combine: collect,
      initial: [] as Seen[],
      chunkBytes: 16,
    });
    await pool.close();
    assert.equal((await running).flatMap((s) => s.records).length, 100);
  });
});
