/**
 * The check every benchmark runs on a library's results: the same values as the reference, in
 * the same order, element by element. A length and a sum cannot see two results swapped; this
 * can. Values compare with `Object.is`, so -0, NaN and every last bit of a double count: the
 * benchmarks' items draw from deterministic streams, so a correct run is bit-identical.
 */

/** Where `actual` first differs from `expected`, in words; undefined when they are the same. */
export function firstDifference(
  actual: ArrayLike<unknown>,
  expected: ArrayLike<unknown>,
): string | undefined {
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (!Object.is(actual[i], expected[i])) {
      return `result ${i} is ${show(actual[i])}, expected ${show(expected[i])}`;
    }
  }
  if (actual.length !== expected.length) {
    return `${actual.length} results, expected ${expected.length}`;
  }
  return undefined;
}

/** Throw (so the benchmark's process exits non-zero) unless `actual` equals `expected` element by element. */
export function assertSameResults(
  actual: ArrayLike<unknown>,
  expected: ArrayLike<unknown>,
  what: string,
): void {
  const difference = firstDifference(actual, expected);
  if (difference !== undefined) throw new Error(`${what} returned wrong results: ${difference}`);
}

/** A value for the message; -0 said as such (String(-0) is "0"). */
function show(value: unknown): string {
  return Object.is(value, -0) ? '-0' : String(value);
}
