/**
 * Chunk sources without a pool: how ranges are cut, how a worker resolves record boundaries,
 * and how text is parsed. The boundary rule is checked exhaustively: for every chunk size, every
 * record is read exactly once, by the range its first byte falls in.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readMatrixChunk, readTextRange } from '../src/chunks/read.js';
import { chunks } from '../src/chunks/sources.js';
import { parseCsv, parseNdjson, splitCsvLine } from '../src/chunks/text.js';
import { type ByteRange, type ChunkSource, planChunks, type ReaderSpec } from '../src/chunks/types.js';
import { ChunkParseError } from '../src/index.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fanout-chunks-read-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | NodeJS.ArrayBufferView): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function plan(source: ChunkSource<unknown>, chunkBytes: number) {
  const planned = await source[planChunks](chunkBytes);
  return { ranges: [...(planned.items as Iterable<ByteRange>)], reader: planned.reader as ReaderSpec };
}

/** Read every range of a text source as a worker would; returns each range's records and first byte. */
async function readAll(source: ChunkSource<unknown>, chunkBytes: number) {
  const { ranges, reader } = await plan(source, chunkBytes);
  const out: { firstByte: number; records: unknown[] }[] = [];
  for (const range of ranges) {
    if (reader.kind === 'matrix') throw new Error('text only');
    const { bytes, firstByte } = await readTextRange(reader, range);
    const records =
      reader.kind === 'ndjson'
        ? parseNdjson(bytes, firstByte, reader.path)
        : parseCsv(bytes, firstByte, reader);
    out.push({ firstByte, records });
  }
  return out;
}

describe('text ranges: each record is read once, by the range its first byte is in', () => {
  // Records of many lengths, a blank line, CRLF, multi-byte UTF-8 (a newline byte never occurs
  // inside a UTF-8 sequence, so cutting at newlines never splits a character).
  const values = [
    { id: 0, s: 'a' },
    { id: 1, s: 'héllo wörld ✓' },
    { id: 2, s: '' },
    { id: 3, s: 'x'.repeat(40) },
    { id: 4, s: '日本語のテキスト' },
    { id: 5, s: 'b' },
    { id: 6, s: 'a longer record that spans several tiny ranges' },
    { id: 7, s: 'end' },
  ];
  const lines = values.map((v) => JSON.stringify(v));
  const text = `${lines[0]}\n${lines[1]}\r\n\n${lines.slice(2, 7).join('\n')}\n${lines[7]}`; // no final newline
  const bytes = Buffer.from(text);

  it('ndjson, for every chunk size from 1 byte to the whole file', async () => {
    const path = file('boundaries.ndjson', text);
    // Where each record starts, to check `firstByte` against.
    const starts: number[] = [];
    for (let at = 0; at < bytes.length; at = bytes.indexOf(10, at) + 1 || bytes.length) {
      if (bytes[at] !== 10 && bytes[at] !== 13) starts.push(at);
    }
    for (let chunkBytes = 1; chunkBytes <= bytes.length + 1; chunkBytes++) {
      const read = await readAll(chunks.ndjson(path), chunkBytes);
      assert.deepEqual(
        read.flatMap((r) => r.records),
        values,
        `chunkBytes ${chunkBytes}: every record once, in order`,
      );
      for (const [k, range] of read.entries()) {
        const start = k * chunkBytes;
        if (range.records.length === 0) continue;
        assert.ok(range.firstByte >= start && range.firstByte < start + chunkBytes, 'starts in its range');
        const id = (range.records[0] as { id: number }).id;
        // A blank line before a record belongs to the same range; firstByte is where the range's text starts.
        assert.ok(range.firstByte <= (starts[id] as number));
      }
    }
  });

  it('csv with a header line, for every chunk size', async () => {
    const rows = ['a,b', '1,2', '"x,y",3', '', '"say ""hi""",4', '5,6'];
    const path = file('boundaries.csv', `${rows.join('\r\n')}\r\n`);
    const expected = [
      { a: '1', b: '2' },
      { a: 'x,y', b: '3' },
      { a: 'say "hi"', b: '4' },
      { a: '5', b: '6' },
    ];
    const size = Buffer.byteLength(`${rows.join('\r\n')}\r\n`);
    for (let chunkBytes = 1; chunkBytes <= size; chunkBytes++) {
      const read = await readAll(chunks.csv(path, { header: true }), chunkBytes);
      assert.deepEqual(
        read.flatMap((r) => r.records),
        expected,
        `chunkBytes ${chunkBytes}`,
      );
    }
  });

  it('a record exactly at a range start belongs to that range, not the one before', async () => {
    const path = file('exact.ndjson', '[1]\n[2]\n[3]\n'); // records at bytes 0, 4, 8
    const read = await readAll(chunks.ndjson(path), 4);
    assert.deepEqual(read, [
      { firstByte: 0, records: [[1]] },
      { firstByte: 4, records: [[2]] },
      { firstByte: 8, records: [[3]] },
    ]);
  });

  it('a record longer than a range is read whole by its first range; the ranges inside it are empty', async () => {
    const long = JSON.stringify('z'.repeat(50));
    const path = file('long.ndjson', `1\n${long}\n2\n`);
    const read = await readAll(chunks.ndjson(path), 8);
    assert.deepEqual(
      read.flatMap((r) => r.records),
      [1, 'z'.repeat(50), 2],
    );
    assert.ok(read.some((r) => r.records.length === 0));
  });

  it('a byte-order mark at the start of the file is not part of the first record', async () => {
    const ndjsonPath = file('bom.ndjson', '\uFEFF{"a":1}\n');
    assert.deepEqual((await readAll(chunks.ndjson(ndjsonPath), 100))[0]?.records, [{ a: 1 }]);
    const csvPath = file('bom.csv', '\uFEFFname,n\nx,1\n');
    assert.deepEqual((await readAll(chunks.csv(csvPath, { header: true }), 100))[0]?.records, [
      { name: 'x', n: '1' },
    ]);
  });
});

describe('matrix ranges', () => {
  it('are whole rows (at least one), and the last one holds the rest', async () => {
    const path = file(
      'm.f64',
      new Float64Array(3 * 10).map((_, i) => i),
    );
    const { ranges } = await plan(chunks.matrix(path, { columns: 3 }), 50); // 24-byte rows: 2 per chunk
    assert.deepEqual(
      ranges.map((r) => [r.start, r.end, r.firstRow]),
      [
        [0, 48, 0],
        [48, 96, 2],
        [96, 144, 4],
        [144, 192, 6],
        [192, 240, 8],
      ],
    );
    const tiny = await plan(chunks.matrix(path, { columns: 3 }), 1);
    assert.equal(tiny.ranges.length, 10, 'a row wider than chunkBytes is a chunk alone');
  });

  it('skip `offset` bytes and read each dtype in native byte order', async () => {
    const header = new Uint8Array(16).fill(7);
    const values = new Int32Array([1, -2, 3, 2147483647, -2147483648, 0]);
    const path = file('m.i32', Buffer.concat([header, new Uint8Array(values.buffer)]));
    const { ranges, reader } = await plan(
      chunks.matrix(path, { columns: 2, dtype: 'int32', offset: 16 }),
      16,
    );
    assert.equal(ranges.length, 2);
    const buffer = new ArrayBuffer(64); // larger than the chunk: the view covers the chunk only
    const first = await readMatrixChunk(
      reader as Extract<ReaderSpec, { kind: 'matrix' }>,
      ranges[1] as ByteRange,
      buffer,
    );
    assert.ok(first.data instanceof Int32Array);
    assert.equal(first.data.buffer, buffer);
    assert.deepEqual([...first.data], [-2147483648, 0]);
    assert.deepEqual([first.rows, first.columns, first.firstRow], [1, 2, 2]);
  });

  it('a file that is not a whole number of rows is an ERR_CHUNK_PARSE naming the partial row', async () => {
    const path = file('ragged.f32', new Uint8Array(4 * 5 + 3));
    await assert.rejects(
      plan(chunks.matrix(path, { columns: 5, dtype: 'float32' }), 1024),
      (error: unknown) => {
        assert.ok(error instanceof ChunkParseError);
        assert.equal(error.code, 'ERR_CHUNK_PARSE');
        assert.equal(error.path, path);
        assert.equal(error.byteOffset, 20);
        assert.match(error.message, /at byte 20: 3 bytes at the end are not a whole row/);
        return true;
      },
    );
  });
});

describe('text parsing', () => {
  it('splits CSV lines with RFC 4180 quoting on one line', () => {
    assert.deepEqual(splitCsvLine('a,b,,c,', ','), ['a', 'b', '', 'c', '']);
    assert.deepEqual(splitCsvLine('"a,b","c""d",e', ','), ['a,b', 'c"d', 'e']);
    assert.deepEqual(splitCsvLine('5\'11",x', ','), ['5\'11"', 'x']);
    assert.deepEqual(splitCsvLine('a;"b;c"', ';'), ['a', 'b;c']);
    assert.deepEqual(splitCsvLine('""', ','), ['']);
    assert.throws(() => splitCsvLine('"open,b', ','), /unterminated quoted field 1/);
    assert.throws(() => splitCsvLine('"a"b,c', ','), /after the closing quote of field 1/);
  });

  it('a malformed NDJSON line names the file and the byte offset where the line starts', () => {
    const bytes = Buffer.from('{"ok":1}\n{"é":2}\n{"broken":\n');
    assert.throws(
      () => parseNdjson(bytes, 1000, '/data/x.ndjson'),
      (error: unknown) => {
        assert.ok(error instanceof ChunkParseError);
        assert.equal(error.byteOffset, 1000 + 9 + Buffer.byteLength('{"é":2}\n'));
        assert.match(error.message, /^Cannot parse \/data\/x\.ndjson at byte 1018: invalid JSON/);
        assert.match(error.message, /"\{\\"broken\\":"/);
        return true;
      },
    );
  });

  it('CSV: numeric fields, missing values, field counts', () => {
    const format = { path: '/d.csv', delimiter: ',', names: undefined, fields: 2, numeric: true };
    assert.deepEqual(parseCsv(Buffer.from('1,2.5\n-3e2, \n'), 0, format), [
      [1, 2.5],
      [-300, Number.NaN],
    ]);
    assert.throws(
      () => parseCsv(Buffer.from('1,2\n3,x\n'), 10, format),
      /at byte 14: field 2 \("x"\) is not a number/,
    );
    assert.throws(
      () => parseCsv(Buffer.from('1,2\n1,2,3\n'), 0, format),
      /at byte 4: 3 fields where the header has 2/,
    );
  });

  it('CSV: a column named __proto__ is an ordinary property', () => {
    const format = { path: '/d.csv', delimiter: ',', names: ['__proto__', 'b'], fields: 2, numeric: false };
    const [record] = parseCsv(Buffer.from('x,y\n'), 0, format) as Record<string, string>[];
    assert.equal(Object.getPrototypeOf(record), Object.prototype);
    assert.deepEqual(Object.keys(record as object), ['__proto__', 'b']);
  });
});
