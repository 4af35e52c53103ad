/**
 * The ready column statistics against serial computations: exact where float64 is exact
 * (integers), and Chan's parallel variance against the two-pass formula on data where the
 * textbook one-pass formula loses every digit.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type ColumnMoments,
  chunks,
  columnMeans,
  columnStats,
  columnVariance,
  Pool,
  randomStream,
} from '../src/index.js';
import { backends, rejectsWith } from './helpers.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fanout-chunks-stats-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const ROWS = 3000;
const COLUMNS = 5;

/** Row-major values: column c is centred on `offset * (c + 1)` with a spread of about `spread`. */
function matrix(seed: number, offset: number, spread: number): Float64Array {
  const rng = randomStream(seed, 0);
  const data = new Float64Array(ROWS * COLUMNS);
  for (let i = 0; i < data.length; i++) data[i] = offset * ((i % COLUMNS) + 1) + rng.normal(0, spread);
  return data;
}

function write(name: string, data: Float64Array): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

/** Serial reference: the two-pass variance, column by column. */
function twoPass(data: Float64Array, column: number): { mean: number; variance: number } {
  let sum = 0;
  for (let r = 0; r < ROWS; r++) sum += data[r * COLUMNS + column] as number;
  const mean = sum / ROWS;
  let squares = 0;
  for (let r = 0; r < ROWS; r++) squares += ((data[r * COLUMNS + column] as number) - mean) ** 2;
  return { mean, variance: squares / ROWS };
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('column statistics', () => {
  it('integers: sums, counts, means, min and max equal the serial values exactly', async () => {
    const data = new Float64Array(ROWS * COLUMNS).map((_, i) => ((i * 7919) % 2001) - 1000);
    const path = write('ints.f64', data);
    await using pool = new Pool({ workers: 2 });
    const source = chunks.matrix(path, { columns: COLUMNS });
    const sums = await pool.reduceChunks(source, { ...columnStats.sum, chunkBytes: 4096 });
    const range = await pool.reduceChunks(source, {
      ...columnStats.minMax,
      chunkBytes: 4096,
      ordered: false,
    });
    const count = await pool.reduceChunks(source, { ...columnStats.count, chunkBytes: 4096, ordered: false });
    for (let c = 0; c < COLUMNS; c++) {
      const column = Array.from({ length: ROWS }, (_, r) => data[r * COLUMNS + c] as number);
      const sum = column.reduce((a, b) => a + b, 0);
      assert.equal(sums.sum[c], sum);
      assert.equal(columnMeans(sums)[c], sum / ROWS);
      assert.equal(range.min[c], Math.min(...column));
      assert.equal(range.max[c], Math.max(...column));
    }
    assert.equal(sums.count, ROWS);
    assert.equal(count, ROWS);
  });

  it("Chan's combine matches the two-pass variance where the one-pass formula fails", async () => {
    // Means of 1e7 to 5e7 with a spread of 1: x² is ~1e14, so Σx² − n·mean² cancels nearly every
    // digit. Merging chunk moments is limited by how finely the means are stored (an ulp of
    // ~4e-9 here, against a spread of 1): a few parts in 1e10, where the naive formula is off
    // by more than 1e-3.
    const data = matrix(11, 1e7, 1);
    const path = write('offset.f64', data);
    await using pool = new Pool({ workers: 2 });
    const stats = await pool.reduceChunks(chunks.matrix(path, { columns: COLUMNS }), {
      ...columnStats.moments,
      chunkBytes: 1000, // 25 rows per chunk: 120 partial results to merge
    });
    const variance = columnVariance(stats);
    const means = columnMeans(stats);
    for (let c = 0; c < COLUMNS; c++) {
      const reference = twoPass(data, c);
      assert.ok(relative(means[c] as number, reference.mean) < 1e-14, `column ${c} mean`);
      assert.ok(
        relative(variance[c] as number, reference.variance) < 1e-8,
        `column ${c}: ${variance[c]} vs ${reference.variance}`,
      );
      let sum = 0;
      let squares = 0;
      for (let r = 0; r < ROWS; r++) {
        const x = data[r * COLUMNS + c] as number;
        sum += x;
        squares += x * x;
      }
      const onePass = squares / ROWS - (sum / ROWS) ** 2;
      assert.ok(
        relative(onePass, reference.variance) > 1e-3,
        `the test data defeats the naive formula (${onePass} vs ${reference.variance})`,
      );
    }
    assert.deepEqual(
      [...columnVariance(stats, { ddof: 1 })],
      [...stats.m2].map((m) => m / (ROWS - 1)),
    );
  });

  it('combined in order, the result is the same to the bit on every backend and number of workers', async () => {
    const data = matrix(5, 3, 2);
    const path = write('bits.f64', data);
    const results: ColumnMoments[] = [];
    for (const backend of backends) {
      for (const workers of [1, 2]) {
        await using pool = backend.pool({ workers });
        results.push(
          await pool.reduceChunks(chunks.matrix(path, { columns: COLUMNS }), {
            ...columnStats.moments,
            chunkBytes: 2000,
          }),
        );
      }
    }
    for (const other of results.slice(1)) {
      assert.deepEqual([...other.mean], [...(results[0] as ColumnMoments).mean]);
      assert.deepEqual([...other.m2], [...(results[0] as ColumnMoments).m2]);
    }
  });

  it('the combines merge partial results of any split like one pass over the whole', () => {
    const data = matrix(3, 100, 10);
    const whole = columnStats.moments.map({ data, rows: ROWS, columns: COLUMNS, firstRow: 0 });
    for (const cut of [1, 7, 1500, 2999]) {
      const part = (from: number, to: number) =>
        columnStats.moments.map({
          data: data.subarray(from * COLUMNS, to * COLUMNS),
          rows: to - from,
          columns: COLUMNS,
          firstRow: from,
        });
      const merged = columnStats.moments.combine(
        columnStats.moments.combine(columnStats.moments.initial, part(0, cut)),
        part(cut, ROWS),
      );
      assert.equal(merged.count, ROWS);
      for (let c = 0; c < COLUMNS; c++) {
        assert.ok(relative(merged.mean[c] as number, whole.mean[c] as number) < 1e-14);
        assert.ok(relative(merged.m2[c] as number, whole.m2[c] as number) < 1e-12);
      }
    }
  });

  it('number-array records (CSV with numeric: true) give the same statistics as the matrix', async () => {
    const data = new Float64Array(200 * 3).map((_, i) => (i * 37) % 101);
    const rows = Array.from({ length: 200 }, (_, r) => Array.from(data.subarray(r * 3, r * 3 + 3)).join(','));
    const csvPath = join(dir, 'same.csv');
    writeFileSync(csvPath, `a,b,c\n${rows.join('\n')}\n`);
    const matrixPath = write('same.f64', data);
    await using pool = new Pool({ workers: 2 });
    const fromCsv = await pool.reduceChunks(chunks.csv(csvPath, { header: 'skip', numeric: true }), {
      ...columnStats.sum,
      chunkBytes: 100,
    });
    const fromMatrix = await pool.reduceChunks(chunks.matrix(matrixPath, { columns: 3 }), columnStats.sum);
    assert.deepEqual([...fromCsv.sum], [...fromMatrix.sum]);
    assert.equal(fromCsv.count, 200);
  });

  it('NaN propagates; ragged records are an error that says why', async () => {
    const nan = columnStats.minMax.map({
      records: [
        [1, 2],
        [Number.NaN, 0],
        [3, -1],
      ],
    });
    assert.deepEqual([...nan.min], [Number.NaN, -1]);
    assert.deepEqual([...nan.max], [Number.NaN, 2]);
    assert.throws(() => columnStats.sum.map({ records: [[1, 2], [3]] }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /arrays of 2 numbers.*record 1 of the chunk is an array of 1/,
    });
    assert.throws(
      () =>
        columnStats.moments.combine(
          columnStats.moments.map({ records: [[1, 2]] }),
          columnStats.moments.map({ records: [[1]] }),
        ),
      {
        message: /2 and 1 columns/,
      },
    );
    await using pool = new Pool({ backend: 'inline' });
    const error = await rejectsWith(
      pool.reduceChunks(
        chunks.fromIterable(
          [
            [1, 2],
            ['x', 3],
          ],
          { size: 5 },
        ),
        columnStats.sum as never,
      ),
      'ERR_TASK_FAILED',
    );
    assert.match(error.message, /need numbers; record 1 of the chunk has a string in column 0/);
  });

  it('are ready tasks: pool.map runs them in workers on chunks made by hand', async () => {
    await using pool = new Pool({ workers: 2 });
    const part = (from: number) => ({ records: [[from], [from + 1]] });
    const partials = await pool.map(columnStats.sum.map, [part(0), part(10)]);
    const total = partials.reduce(columnStats.sum.combine, columnStats.sum.initial);
    assert.deepEqual([...total.sum], [22]);
  });
});
