/**
 * What chunk sources are made of: the chunks a map task receives (public), and the plan a
 * source hands to `reduceChunks` (internal): the items to schedule and, for files, how a worker
 * turns an item (a byte range) into a chunk.
 */

/** Element types of a binary matrix file. */
export type MatrixDtype = 'float64' | 'float32' | 'int32';

/** The typed array of a dtype. */
export type ArrayOf<D extends MatrixDtype> = D extends 'float32'
  ? Float32Array
  : D extends 'int32'
    ? Int32Array
    : Float64Array;

/** Any typed array a matrix chunk may hold. */
export type MatrixArray = Float64Array | Float32Array | Int32Array;

/**
 * A run of whole rows of a binary matrix, read by the worker that maps it. `data` is row-major:
 * the value at (row r, column c) of the chunk is `data[r * columns + c]`.
 */
export interface MatrixChunk<A extends MatrixArray = Float64Array> {
  readonly data: A;
  readonly rows: number;
  readonly columns: number;
  /** The file's row number of this chunk's first row (0-based). */
  readonly firstRow: number;
}

/**
 * The records of one byte range of a text file (CSV, NDJSON), read and parsed by the worker that
 * maps it. Record numbers are not known without reading the whole file first, so a text chunk
 * says where it starts in bytes. It may be empty (when one record is longer than `chunkBytes`).
 */
export interface TextChunk<R> {
  readonly records: R[];
  /** The byte offset in the file of the first record's first byte (the range's start when empty). */
  readonly firstByte: number;
}

/** Records grouped in the caller (`chunks.fromIterable`): their numbers are known exactly. */
export interface RecordChunk<R> {
  readonly records: R[];
  /** The index of `records[0]` among all the records of the iterable (0-based). */
  readonly firstRecord: number;
}

/** How a worker reads the chunks of a file source. Plain data: it travels to the worker. */
export type ReaderSpec =
  | {
      readonly kind: 'matrix';
      readonly path: string;
      readonly dtype: MatrixDtype;
      readonly columns: number;
    }
  | {
      readonly kind: 'ndjson';
      readonly path: string;
      /** Where the first record starts (a range starting here owns the record at its start). */
      readonly dataStart: number;
    }
  | {
      readonly kind: 'csv';
      readonly path: string;
      readonly dataStart: number;
      readonly delimiter: string;
      /** Column names: records become objects keyed by them. */
      readonly names: readonly string[] | undefined;
      /** Fields every record must have (known from the header), or undefined. */
      readonly fields: number | undefined;
      readonly numeric: boolean;
    };

/** One item of a file source: a byte range `[start, end)` of the file. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
  /** Matrix sources: the row number of the range's first row. */
  readonly firstRow?: number;
}

/** What a source gives `reduceChunks` when the call starts. */
export interface ChunkPlan {
  /** One item per chunk, produced lazily. */
  readonly items: Iterable<unknown> | AsyncIterable<unknown>;
  /** File sources: how a worker reads an item before the map task sees it. */
  readonly reader: ReaderSpec | undefined;
}

/** @internal How `reduceChunks` asks a source for its plan. */
export const planChunks: unique symbol = Symbol('fanout.planChunks');

/**
 * A source of chunks for `pool.reduceChunks`, made by `chunks.matrix`, `chunks.csv`,
 * `chunks.ndjson` or `chunks.fromIterable`. `C` is what the map task receives.
 */
export interface ChunkSource<C> {
  readonly kind: 'matrix' | 'csv' | 'ndjson' | 'iterable';
  /** The file (an absolute path), or undefined for an iterable source. */
  readonly path: string | undefined;
  /** @internal Plan the chunks (file sources cut ranges of about `chunkBytes`, or their own default). */
  readonly [planChunks]: (chunkBytes: number | undefined) => Promise<ChunkPlan>;
  /** @internal Type marker only: the chunk type. */
  readonly __chunk?: C;
}
