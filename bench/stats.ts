/** Small numeric helpers for timings. */

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Round to `digits` significant digits, so the JSON stays readable. */
export function round(value: number, digits = 4): number {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(digits));
}

/** Run the garbage collector when node was started with --expose-gc, so one run's garbage is not the next one's pause. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
