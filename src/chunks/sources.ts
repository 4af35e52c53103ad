/**
 * `chunks`: the sources `pool.reduceChunks` reads. Making a source only checks its options; the
 * file is looked at (its size, a CSV header) when a call starts, and only its metadata: the
 * chunks themselves are read by the workers (see read.ts), or for `fromIterable` grouped here
 * as the scheduler asks for them.
 */

import type { Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChunkParseError, describe, InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { boolean, nonNegativeInteger, oneOf, positiveInteger, show } from '../options/checks.js';
import { keysMatch, optionSet, resolveOptions } from '../options/option-set.js';
import { assertIterable } from '../scheduler/input.js';
import {
  type ArrayOf,
  type ByteRange,
  type ChunkPlan,
  type ChunkSource,
  type MatrixChunk,
  type MatrixDtype,
  planChunks,
  type RecordChunk,
  type TextChunk,
} from './types.js';

const BYTES_PER_ELEMENT: Record<MatrixDtype, number> = { float64: 8, float32: 4, int32: 4 };

/**
 * Default chunk sizes. A matrix chunk costs its bytes and one round trip: 16 MiB makes the trip
 * noise (2 × 16 MiB summed in parallel ran faster than 2 × 8 MiB on the development VM). A text
 * chunk becomes strings and objects several times its size, so it is smaller.
 */
const MATRIX_CHUNK_BYTES = 16 * 1024 * 1024;
const TEXT_CHUNK_BYTES = 4 * 1024 * 1024;

/** Options of `chunks.matrix`. */
export interface MatrixOptions<D extends MatrixDtype = MatrixDtype> {
  /** Values per row. */
  columns: number;
  /**
   * The element type, in the machine's native byte order (little-endian on x86-64 and arm64, as
   * numpy's `tofile` writes there).
   * @default 'float64'
   */
  dtype?: D;
  /**
   * Bytes to skip at the start of the file (a header, such as an `.npy` file's).
   * @default 0
   */
  offset?: number;
}

/** Options of `chunks.csv`. */
export interface CsvOptions {
  /**
   * The field separator, one character.
   * @default ','
   */
  delimiter?: string;
  /**
   * `false`: every line is a record, an array of fields. `true`: the first line names the
   * columns and records are objects keyed by those names. `'skip'`: the first line is a header
   * and records stay arrays. With a header, every record must have as many fields as it has.
   * @default false
   */
  header?: boolean | 'skip';
  /**
   * Parse every field as a number (an empty field is `NaN`; anything else that is not a number
   * is a `ChunkParseError`).
   * @default false
   */
  numeric?: boolean;
}

type CsvValue<O> = O extends { numeric: true } ? number : string;
/** The record type of a CSV source with options `O`. */
export type CsvRecord<O> = O extends { header: true } ? Record<string, CsvValue<O>> : CsvValue<O>[];

/** Options of `chunks.fromIterable`. */
export interface FromIterableOptions {
  /** Records per chunk. */
  size: number;
}

function filePath(path: unknown, what: string): string {
  if (path instanceof URL) return fileURLToPath(path);
  if (typeof path !== 'string' || path === '') {
    throw new InvalidArgTypeError(
      `Expected the path of ${what} to be a non-empty string or a file URL, got ${show(path)}`,
    );
  }
  return resolve(path);
}

/**
 * A file system error of a source's file (missing, unreadable) as a coded error naming the file
 * and the source; the system error is its `cause`.
 */
function fileProblem(path: string, what: string, error: unknown): InvalidArgValueError {
  const code = (error as { code?: unknown } | null)?.code;
  const reason =
    code === 'ENOENT'
      ? 'there is no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'it cannot be read (permission denied)'
        : code === 'EISDIR'
          ? 'it is a folder'
          : `it cannot be read (${describe(error)})`;
  return new InvalidArgValueError(`The file of ${what}, ${path}, cannot be used: ${reason}`, {
    cause: error,
  });
}

/** The file's size; it must be a regular file (a pipe has no byte ranges). */
async function fileSize(path: string, what: string): Promise<number> {
  let info: Stats;
  try {
    info = await stat(path);
  } catch (error) {
    throw fileProblem(path, what, error);
  }
  if (!info.isFile()) {
    throw new InvalidArgValueError(`${path} is not a regular file: chunked reading needs byte ranges`);
  }
  return info.size;
}

function* matrixRanges(
  dataStart: number,
  totalRows: number,
  rowBytes: number,
  chunkBytes: number,
): Generator<ByteRange> {
  // Whole rows only, at least one per chunk (a row wider than `chunkBytes` is a chunk alone).
  const rowsPerChunk = Math.max(1, Math.floor(chunkBytes / rowBytes));
  for (let row = 0; row < totalRows; row += rowsPerChunk) {
    const start = dataStart + row * rowBytes;
    yield { start, end: start + Math.min(rowsPerChunk, totalRows - row) * rowBytes, firstRow: row };
  }
}

function* textRanges(dataStart: number, size: number, chunkBytes: number): Generator<ByteRange> {
  for (let start = dataStart; start < size; start += chunkBytes) {
    yield { start, end: Math.min(size, start + chunkBytes) };
  }
}

/**
 * A binary file of a fixed-width numeric matrix, row-major, with no separators. Each chunk is a
 * run of whole rows, read by the worker that maps it.
 *
 * @example
 * ```ts
 * const source = chunks.matrix('data.f64', { columns: 16 });          // float64
 * const stats = await pool.reduceChunks(source, columnStats.sum);
 * const means = columnMeans(stats);
 * ```
 */
function matrix<D extends MatrixDtype = 'float64'>(
  path: string | URL,
  options: MatrixOptions<D>,
): ChunkSource<MatrixChunk<ArrayOf<D>>> {
  const file = filePath(path, 'chunks.matrix');
  const { columns, dtype, offset } = resolveOptions(MATRIX, options);
  const rowBytes = columns * BYTES_PER_ELEMENT[dtype];
  return {
    kind: 'matrix',
    path: file,
    async [planChunks](chunkBytes = MATRIX_CHUNK_BYTES): Promise<ChunkPlan> {
      const size = await fileSize(file, 'chunks.matrix');
      if (size < offset) {
        throw new ChunkParseError(
          file,
          size,
          `the file has ${size} bytes, fewer than the \`offset\` of ${offset}`,
        );
      }
      const totalRows = Math.floor((size - offset) / rowBytes);
      const partial = (size - offset) % rowBytes;
      if (partial !== 0) {
        throw new ChunkParseError(
          file,
          offset + totalRows * rowBytes,
          `${partial} bytes at the end are not a whole row (${columns} × ${dtype} = ${rowBytes} bytes per row); check \`columns\`, \`dtype\` and \`offset\``,
        );
      }
      return {
        items: matrixRanges(offset, totalRows, rowBytes, chunkBytes),
        reader: { kind: 'matrix', path: file, dtype, columns },
      };
    },
  };
}

/**
 * A text file of one JSON value per line (NDJSON, JSON Lines), split into byte ranges that
 * each worker resolves to whole records (blank lines are skipped). A chunk says where it starts
 * in bytes (`firstByte`), not its first record's number: that would take a pass over the whole
 * file first.
 *
 * @example
 * ```ts
 * const source = chunks.ndjson<{ user: string; ms: number }>('events.ndjson');
 * const slow = await pool.reduceChunks(source, {
 *   map: tasks.countSlow,                      // ({ records }) => records.filter((r) => r.ms > 500).length
 *   combine: (a: number, b: number) => a + b,
 *   initial: 0,
 * });
 * ```
 */
function ndjson<R = unknown>(path: string | URL): ChunkSource<TextChunk<R>> {
  const file = filePath(path, 'chunks.ndjson');
  return {
    kind: 'ndjson',
    path: file,
    async [planChunks](chunkBytes = TEXT_CHUNK_BYTES): Promise<ChunkPlan> {
      const size = await fileSize(file, 'chunks.ndjson');
      return { items: textRanges(0, size, chunkBytes), reader: { kind: 'ndjson', path: file, dataStart: 0 } };
    },
  };
}

/** The first line of a file (without its newline) and where the next one starts. */
async function firstLine(path: string): Promise<{ line: string; next: number }> {
  const handle = await open(path, 'r');
  try {
    const pieces: Buffer[] = [];
    let position = 0;
    for (;;) {
      const piece = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(piece, 0, piece.length, position);
      const newline = piece.subarray(0, bytesRead).indexOf(10);
      if (newline >= 0 || bytesRead === 0) {
        pieces.push(piece.subarray(0, newline >= 0 ? newline : bytesRead));
        const length = position + (newline >= 0 ? newline + 1 : bytesRead);
        let line = Buffer.concat(pieces).toString('utf8');
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
        return { line, next: length };
      }
      pieces.push(piece.subarray(0, bytesRead));
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/**
 * A CSV file, split into byte ranges that each worker resolves to whole lines. Quoted fields
 * (RFC 4180) may hold delimiters and `""`, but not newlines: a range boundary is found by looking
 * for a newline. With a header, the caller reads the first line when the call starts (only that
 * line). Like NDJSON chunks, a chunk gives its `firstByte`.
 *
 * The record type follows from the options (`string[]`; `number[]` with `numeric: true`; an
 * object keyed by column with `header: true`), or is given as the first type argument:
 * `chunks.csv<{ city: string; temp: string }>('weather.csv', { header: true })`.
 *
 * @example
 * ```ts
 * const source = chunks.csv('prices.csv', { header: 'skip', numeric: true }); // records: number[]
 * const stats = await pool.reduceChunks(source, columnStats.moments);
 * ```
 */
function csv<Row = never, const O extends CsvOptions = CsvOptions>(
  path: string | URL,
  options?: O,
): ChunkSource<TextChunk<[Row] extends [never] ? CsvRecord<O> : Row>> {
  const file = filePath(path, 'chunks.csv');
  const given: CsvOptions = options ?? {};
  const { delimiter, header, numeric } = resolveOptions(CSV, given);
  return {
    kind: 'csv',
    path: file,
    async [planChunks](chunkBytes = TEXT_CHUNK_BYTES): Promise<ChunkPlan> {
      const size = await fileSize(file, 'chunks.csv');
      let names: string[] | undefined;
      let dataStart = 0;
      if (header !== false && size > 0) {
        const first = await firstLine(file).catch((error: unknown) => {
          throw fileProblem(file, 'chunks.csv', error);
        });
        // The parser loads here, with the first CSV header read: a program that reads none never loads it.
        const { parseCsvHeader } = await import('./text.js');
        names = parseCsvHeader(first.line, delimiter, file);
        dataStart = first.next;
      }
      return {
        items: textRanges(dataStart, size, chunkBytes),
        reader: {
          kind: 'csv',
          path: file,
          dataStart,
          delimiter,
          names: header === true ? names : undefined,
          fields: names?.length,
          numeric,
        },
      };
    },
  };
}

async function* grouped<R>(
  records: Iterable<R> | AsyncIterable<R>,
  size: number,
): AsyncGenerator<RecordChunk<R>> {
  let chunk: R[] = [];
  let firstRecord = 0;
  for await (const record of records) {
    chunk.push(record);
    if (chunk.length === size) {
      yield { records: chunk, firstRecord };
      firstRecord += size;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield { records: chunk, firstRecord };
}

/**
 * Records from any iterable or async iterable (a database cursor, a line reader, a generator),
 * grouped into chunks of `size` records in the caller and sent to the workers. The iterable is
 * read only as fast as chunks are needed, so at most `workers + prefetch` chunks (plus the one
 * being filled) are held at a time. Each chunk knows its first record's number.
 *
 * @example
 * ```ts
 * import { createInterface } from 'node:readline';
 * const lines = createInterface({ input: process.stdin });
 * const words = await pool.reduceChunks(chunks.fromIterable(lines, { size: 10_000 }), {
 *   map: tasks.countWords,                     // ({ records }) => number
 *   combine: (a: number, b: number) => a + b,
 *   initial: 0,
 * });
 * ```
 */
function fromIterable<R>(
  records: Iterable<R> | AsyncIterable<R>,
  options: FromIterableOptions,
): ChunkSource<RecordChunk<R>> {
  assertIterable(records, 'records');
  const { size } = resolveOptions(FROM_ITERABLE, options);
  let planned = false;
  return {
    kind: 'iterable',
    path: undefined,
    async [planChunks](): Promise<ChunkPlan> {
      // An iterator can be read once: a second call would silently see only what is left.
      if (planned && !Array.isArray(records)) {
        throw new InvalidArgValueError(
          'This chunks.fromIterable source was already used: make a new one per call',
        );
      }
      planned = true;
      return { items: grouped(records, size), reader: undefined };
    },
  };
}

/**
 * Chunk sources for `pool.reduceChunks`: binary matrices, CSV and NDJSON files (read by the
 * workers, by byte range), and any iterable (grouped in the caller).
 *
 * @example
 * ```ts
 * import { chunks, columnMeans, columnStats, Pool } from 'fanout';
 *
 * await using pool = new Pool();
 * const sums = await pool.reduceChunks(chunks.matrix('big.f64', { columns: 8 }), columnStats.sum);
 * console.log(columnMeans(sums));
 * ```
 */
export const chunks = { matrix, csv, ndjson, fromIterable } as const;

// ---- the sources' options, declared once (see options/option-set.ts) ----------------------------

const MATRIX = optionSet('the chunks.matrix options', {
  columns: {
    check: (v: unknown, name: string) => positiveInteger(name, v),
    required: true as const,
    doc: 'values per row',
  },
  dtype: {
    check: (v: unknown, name: string) => oneOf<MatrixDtype>(name, v, ['float64', 'float32', 'int32']),
    default: 'float64' as MatrixDtype,
    doc: 'the type of each value',
  },
  offset: {
    check: (v: unknown, name: string) => nonNegativeInteger(name, v),
    default: 0,
    unit: 'bytes',
    doc: 'bytes to skip at the start of the file (a header)',
  },
});
keysMatch<typeof MATRIX.specs, MatrixOptions>(true);

const CSV = optionSet('the chunks.csv options', {
  delimiter: {
    check: (v: unknown, name: string) => {
      if (typeof v !== 'string')
        throw new InvalidArgTypeError(`Expected \`${name}\` to be a string, got ${show(v)}`);
      if (v.length !== 1 || v === '"' || v === '\n' || v === '\r') {
        throw new InvalidArgValueError(
          `Expected \`${name}\` to be one character other than a quote or a newline, got ${show(v)}`,
        );
      }
      return v;
    },
    default: ',',
    doc: 'the field separator',
  },
  header: {
    check: (v: unknown, name: string): boolean | 'skip' => {
      if (v !== 'skip' && typeof v !== 'boolean') {
        throw new InvalidArgTypeError(`Expected \`${name}\` to be true, false or 'skip', got ${show(v)}`);
      }
      return v;
    },
    default: false as boolean | 'skip',
    doc: "the first line names the columns (true), or is skipped ('skip')",
  },
  numeric: {
    check: (v: unknown, name: string) => boolean(name, v),
    default: false,
    doc: 'records are arrays of numbers',
  },
});
keysMatch<typeof CSV.specs, CsvOptions>(true);

const FROM_ITERABLE = optionSet('the chunks.fromIterable options', {
  size: {
    check: (v: unknown, name: string) => positiveInteger(name, v),
    required: true as const,
    doc: 'records per chunk',
  },
});
keysMatch<typeof FROM_ITERABLE.specs, FromIterableOptions>(true);
