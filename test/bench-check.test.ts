/**
 * The benchmarks' result check (bench/check.ts): a library's results must equal the reference
 * element by element. A length and a sum, the check it replaced, pass two swapped results.
 */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { assertSameResults, firstDifference } from '../bench/check.js';

it('passes the same values in the same order, arrays and Float64Arrays alike', () => {
  assert.equal(firstDifference([1.5, -2, Number.NaN], Float64Array.of(1.5, -2, Number.NaN)), undefined);
  assertSameResults([], [], 'empty');
});

it('fails misordered results, which a length and a sum cannot see', () => {
  const expected = [0.25, 1.5, 3];
  const misordered = [1.5, 0.25, 3];
  assert.equal(
    misordered.reduce((a, b) => a + b),
    expected.reduce((a, b) => a + b),
  );
  assert.equal(firstDifference(misordered, expected), 'result 0 is 1.5, expected 0.25');
  assert.throws(() => assertSameResults(misordered, expected, 'lib'), {
    message: 'lib returned wrong results: result 0 is 1.5, expected 0.25',
  });
});

it('fails a missing or extra result, a changed bit and a sign of zero', () => {
  assert.equal(firstDifference([1, 2], [1, 2, 3]), '2 results, expected 3');
  assert.equal(firstDifference([1, 2, 3], [1, 2]), '3 results, expected 2');
  assert.equal(firstDifference([0.1 + 0.2], [0.3]), 'result 0 is 0.30000000000000004, expected 0.3');
  assert.equal(firstDifference([-0], [0]), 'result 0 is -0, expected 0');
  assert.equal(firstDifference([undefined], [null]), 'result 0 is undefined, expected null');
});
