/**
 * The per-chunk half of the column statistics (column-stats.ts): what each reducer computes from
 * one chunk, in a worker. column-stat-tasks.ts registers these functions as tasks; the reducers
 * name them by that module's URL, so importing fanout does not load it.
 */

import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import type { MatrixArray, MatrixChunk } from './types.js';

/**
 * What the column statistics accept: rows of a matrix, or records that are arrays of numbers
 * (a CSV source with `numeric: true`, NDJSON arrays, iterable records).
 */
export type ColumnChunk = MatrixChunk<MatrixArray> | { readonly records: readonly (readonly number[])[] };

/** Column sums and the number of rows they add up. */
export interface ColumnSums {
  readonly count: number;
  readonly sum: Float64Array;
}

/** Column minima and maxima (NaN when the column holds a NaN, as numpy's min/max). */
export interface ColumnMinMax {
  readonly count: number;
  readonly min: Float64Array;
  readonly max: Float64Array;
}

/** Column means and sums of squared deviations from them (`m2`): what variance is made of. */
export interface ColumnMoments {
  readonly count: number;
  readonly mean: Float64Array;
  readonly m2: Float64Array;
}

interface Block {
  readonly data: ArrayLike<number>;
  readonly rows: number;
  readonly columns: number;
}

/** A chunk as row-major numbers (records are copied into a Float64Array, checked on the way). */
function blockOf(chunk: ColumnChunk): Block {
  if ('data' in chunk) return chunk;
  const { records } = chunk;
  const first = records[0];
  if (first === undefined) return { data: new Float64Array(0), rows: 0, columns: 0 };
  const columns = first.length;
  const data = new Float64Array(records.length * columns);
  for (let r = 0; r < records.length; r++) {
    const record = records[r];
    if (!Array.isArray(record) || record.length !== columns) {
      throw new InvalidArgValueError(
        `Column statistics need records that are arrays of ${columns} numbers, as the chunk's first; record ${r} of the chunk is ${Array.isArray(record) ? `an array of ${record.length}` : typeof record}`,
      );
    }
    for (let c = 0; c < columns; c++) {
      const value = record[c];
      if (typeof value !== 'number') {
        throw new InvalidArgTypeError(
          `Column statistics need numbers; record ${r} of the chunk has a ${typeof value} in column ${c}`,
        );
      }
      data[r * columns + c] = value;
    }
  }
  return { data, rows: records.length, columns };
}

function sumsOf({ data, rows, columns }: Block): Float64Array {
  const sum = new Float64Array(columns);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++, i++) sum[c] = (sum[c] as number) + (data[i] as number);
  }
  return sum;
}

function minMaxOf(block: Block): ColumnMinMax {
  const { data, rows, columns } = block;
  const min = new Float64Array(columns).fill(Number.POSITIVE_INFINITY);
  const max = new Float64Array(columns).fill(Number.NEGATIVE_INFINITY);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++, i++) {
      const v = data[i] as number;
      if (v < (min[c] as number)) min[c] = v;
      if (v > (max[c] as number)) max[c] = v;
      // A NaN sticks: no comparison with it is true afterwards.
      else if (Number.isNaN(v)) min[c] = max[c] = v;
    }
  }
  return { count: rows, min, max };
}

function momentsOf(block: Block): ColumnMoments {
  const { data, rows, columns } = block;
  const mean = sumsOf(block);
  for (let c = 0; c < columns; c++) mean[c] = (mean[c] as number) / rows;
  const m2 = new Float64Array(columns);
  const drift = new Float64Array(columns);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++, i++) {
      const d = (data[i] as number) - (mean[c] as number);
      m2[c] = (m2[c] as number) + d * d;
      drift[c] = (drift[c] as number) + d;
    }
  }
  // The deviations should sum to 0; what they sum to is the rounding error of the mean. (The
  // correction cannot exceed m2 in exact arithmetic; the clamp keeps rounding from going below 0.)
  for (let c = 0; c < columns; c++) {
    m2[c] = Math.max(0, (m2[c] as number) - (drift[c] as number) ** 2 / rows);
  }
  return { count: rows, mean, m2 };
}

export const EMPTY_SUMS: ColumnSums = Object.freeze({ count: 0, sum: new Float64Array(0) });
export const EMPTY_MIN_MAX: ColumnMinMax = Object.freeze({
  count: 0,
  min: new Float64Array(0),
  max: new Float64Array(0),
});
export const EMPTY_MOMENTS: ColumnMoments = Object.freeze({
  count: 0,
  mean: new Float64Array(0),
  m2: new Float64Array(0),
});

/** What each reducer does to one chunk, in a worker (column-stat-tasks.ts registers them). */
export const columnTasks = {
  /** Rows of a matrix chunk, or records of any other chunk. */
  count(chunk: { readonly rows: number } | { readonly records: readonly unknown[] }): number {
    return 'rows' in chunk ? chunk.rows : chunk.records.length;
  },
  sum(chunk: ColumnChunk): ColumnSums {
    const block = blockOf(chunk);
    return { count: block.rows, sum: sumsOf(block) };
  },
  minMax(chunk: ColumnChunk): ColumnMinMax {
    return minMaxOf(blockOf(chunk));
  },
  moments(chunk: ColumnChunk): ColumnMoments {
    const block = blockOf(chunk);
    return block.rows === 0 ? EMPTY_MOMENTS : momentsOf(block);
  },
};
