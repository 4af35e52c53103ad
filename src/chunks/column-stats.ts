/**
 * Ready reducers for the seed's question (the mean of each column of a matrix too big for
 * memory) and its relatives: counts, sums, min/max, and mean with variance. Each is a map task
 * (column-math.ts, registered by column-stat-tasks.ts, which workers import), plus a combine
 * function and an initial value, ready to pass to `pool.reduceChunks`.
 *
 * Variance uses per-chunk two-pass moments (mean, then squared deviations with the rounding
 * correction of the corrected two-pass algorithm), merged with the pairwise update of Chan,
 * Golub and LeVeque (1979): stable where the textbook sum-of-squares formula loses every digit
 * (a large mean, a small spread).
 */

import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { ownModule } from '../layout.js';
import { nonNegativeInteger, show } from '../options/checks.js';
import { optionSet, resolveOptions } from '../options/option-set.js';
import { makeRef } from '../tasks/tasks.js';
import type { TaskRef } from '../types.js';
import {
  type ColumnChunk,
  type ColumnMinMax,
  type ColumnMoments,
  type ColumnSums,
  columnTasks,
  EMPTY_MIN_MAX,
  EMPTY_MOMENTS,
  EMPTY_SUMS,
} from './column-math.js';

export type { ColumnChunk, ColumnMinMax, ColumnMoments, ColumnSums };

/** A map task, a combine function and an initial value: the options `pool.reduceChunks` needs. */
export interface ChunkReducer<C, P, A> {
  readonly map: TaskRef<(chunk: C) => P>;
  readonly combine: (accumulator: A, partial: P) => A;
  readonly initial: A;
}

function sameColumns(a: Float64Array, b: Float64Array): void {
  if (a.length !== b.length) {
    throw new InvalidArgValueError(
      `Cannot combine column statistics of ${a.length} and ${b.length} columns: do all the records have the same length?`,
    );
  }
}

/** Add two column sums (a new object; the arguments are left as they are). */
function combineSums(a: ColumnSums, b: ColumnSums): ColumnSums {
  if (a.count === 0) return b;
  if (b.count === 0) return a;
  sameColumns(a.sum, b.sum);
  const sum = new Float64Array(a.sum.length);
  for (let c = 0; c < sum.length; c++) sum[c] = (a.sum[c] as number) + (b.sum[c] as number);
  return { count: a.count + b.count, sum };
}

function combineMinMax(a: ColumnMinMax, b: ColumnMinMax): ColumnMinMax {
  if (a.count === 0) return b;
  if (b.count === 0) return a;
  sameColumns(a.min, b.min);
  const min = new Float64Array(a.min.length);
  const max = new Float64Array(a.max.length);
  // Math.min and Math.max give NaN when either side is NaN, as the per-chunk pass does.
  for (let c = 0; c < min.length; c++) {
    min[c] = Math.min(a.min[c] as number, b.min[c] as number);
    max[c] = Math.max(a.max[c] as number, b.max[c] as number);
  }
  return { count: a.count + b.count, min, max };
}

/** Merge the moments of two disjoint sets of rows (Chan, Golub & LeVeque's pairwise update). */
function combineMoments(a: ColumnMoments, b: ColumnMoments): ColumnMoments {
  if (a.count === 0) return b;
  if (b.count === 0) return a;
  sameColumns(a.mean, b.mean);
  const n = a.count + b.count;
  const mean = new Float64Array(a.mean.length);
  const m2 = new Float64Array(a.mean.length);
  for (let c = 0; c < mean.length; c++) {
    const delta = (b.mean[c] as number) - (a.mean[c] as number);
    mean[c] = (a.mean[c] as number) + (delta * b.count) / n;
    m2[c] = (a.m2[c] as number) + (b.m2[c] as number) + ((delta * delta * a.count) / n) * b.count;
  }
  return { count: n, mean, m2 };
}

/**
 * The per-chunk tasks, named by the URL of the module that registers them: the caller runs
 * them only when called locally, and does not load that module (a file of its own) at start-up.
 */
const STAT_TASKS = ownModule('chunks/column-stat-tasks').href;
const statTask = <K extends keyof typeof columnTasks>(name: K): TaskRef<(typeof columnTasks)[K]> =>
  makeRef(STAT_TASKS, name, columnTasks[name]);
const statTasks = {
  count: statTask('count'),
  sum: statTask('sum'),
  minMax: statTask('minMax'),
  moments: statTask('moments'),
};

/**
 * Ready reducers for `pool.reduceChunks`: each is `{ map, combine, initial }`, where `map` is a
 * task of fanout's own (it runs in the workers) and `combine` merges partial results in the
 * caller. They accept matrix chunks and chunks of number-array records. An empty source gives
 * `count: 0` and empty arrays. NaN propagates, as in numpy.
 *
 * - `count`: rows or records, a number (works on every source).
 * - `sum`: `{ count, sum }`; `columnMeans(stats)` divides.
 * - `minMax`: `{ count, min, max }`.
 * - `moments`: `{ count, mean, m2 }`, merged with Chan et al.'s stable update;
 *   `columnVariance(stats, { ddof })`.
 *
 * The combines are pure and exact in the order given: with `ordered: true` (the default), a
 * file gives the same bits on every run, whatever the number of workers or the backend.
 *
 * @example
 * ```ts
 * const source = chunks.matrix('big.f64', { columns: 8 });
 * const sums = await pool.reduceChunks(source, columnStats.sum);
 * const stats = await pool.reduceChunks(source, { ...columnStats.moments, chunkBytes: 16 << 20 });
 * console.log(columnMeans(sums), columnVariance(stats, { ddof: 1 }));
 * ```
 */
export const columnStats: {
  readonly count: ChunkReducer<
    { readonly rows: number } | { readonly records: readonly unknown[] },
    number,
    number
  >;
  readonly sum: ChunkReducer<ColumnChunk, ColumnSums, ColumnSums>;
  readonly minMax: ChunkReducer<ColumnChunk, ColumnMinMax, ColumnMinMax>;
  readonly moments: ChunkReducer<ColumnChunk, ColumnMoments, ColumnMoments>;
} = Object.freeze({
  count: Object.freeze({ map: statTasks.count, combine: (a: number, b: number) => a + b, initial: 0 }),
  sum: Object.freeze({ map: statTasks.sum, combine: combineSums, initial: EMPTY_SUMS }),
  minMax: Object.freeze({ map: statTasks.minMax, combine: combineMinMax, initial: EMPTY_MIN_MAX }),
  moments: Object.freeze({ map: statTasks.moments, combine: combineMoments, initial: EMPTY_MOMENTS }),
});

/**
 * The mean of each column, from `columnStats.sum` or `columnStats.moments` results.
 *
 * @example
 * ```ts
 * const means = columnMeans(await pool.reduceChunks(chunks.matrix(path, { columns: 8 }), columnStats.sum));
 * ```
 */
export function columnMeans(stats: ColumnSums | ColumnMoments): Float64Array {
  if (isStats(stats, ['mean', 'm2'])) return Float64Array.from(stats.mean);
  if (isStats(stats, ['sum'])) return stats.sum.map((s) => s / stats.count);
  throw new InvalidArgTypeError(
    `Expected columnMeans() to be given the result of reduceChunks with columnStats.sum or columnStats.moments ({ count, sum } or { count, mean, m2 }), got ${describeStats(stats)}`,
  );
}

/** Whether `stats` is a column statistics record with these Float64Array fields and a `count`. */
function isStats<K extends string>(
  stats: unknown,
  fields: readonly K[],
): stats is { count: number } & Record<K, Float64Array> {
  if (typeof stats !== 'object' || stats === null) return false;
  const record = stats as Record<string, unknown>;
  return typeof record.count === 'number' && fields.every((f) => record[f] instanceof Float64Array);
}

function describeStats(stats: unknown): string {
  if (typeof stats !== 'object' || stats === null || Array.isArray(stats)) return show(stats);
  return `an object with ${Object.keys(stats).join(', ') || 'no properties'}`;
}

/**
 * The variance of each column, from `columnStats.moments` results: `m2 / (count - ddof)`
 * (`ddof: 0`, the default, is the population variance, numpy's default; `ddof: 1` the sample
 * variance). NaN where `count <= ddof`.
 *
 * @example
 * ```ts
 * const stats = await pool.reduceChunks(chunks.csv('x.csv', { header: 'skip', numeric: true }), columnStats.moments);
 * const sd = columnVariance(stats, { ddof: 1 }).map(Math.sqrt);
 * ```
 */
const VARIANCE = optionSet('the columnVariance options', {
  ddof: {
    check: (v: unknown, name: string) => nonNegativeInteger(name, v),
    default: 0,
    doc: 'delta degrees of freedom: the divisor is count − ddof',
  },
});

export function columnVariance(stats: ColumnMoments, options: { ddof?: number } = {}): Float64Array {
  if (!isStats(stats, ['mean', 'm2'])) {
    throw new InvalidArgTypeError(
      `Expected columnVariance() to be given the result of reduceChunks with columnStats.moments ({ count, mean, m2 }), got ${describeStats(stats)}`,
    );
  }
  const { ddof } = resolveOptions(VARIANCE, options);
  const dof = stats.count - ddof;
  return stats.m2.map((m) => (dof > 0 ? m / dof : Number.NaN));
}
