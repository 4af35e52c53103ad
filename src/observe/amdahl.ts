/**
 * Amdahl's law (seed 002): with a parallel fraction p of the work, n workers give at most
 * S(n) = 1 / ((1 − p) + p / n), and never more than 1 / (1 − p) however many cores.
 */

/** The speedup Amdahl's law predicts on `workers` for a parallel fraction `p`. */
export function amdahlSpeedup(p: number, workers: number): number {
  return 1 / (1 - p + p / workers);
}

/**
 * The parallel fraction that best explains measured speedups. Written as 1/S − 1 = −p (1 − 1/n),
 * the law is linear in p, so least squares has a closed form; the result is clamped to [0, 1].
 * Measurements at one worker carry no information about p and are ignored.
 */
export function fitParallelFraction(points: readonly { workers: number; speedup: number }[]): number {
  let xy = 0;
  let xx = 0;
  for (const { workers, speedup } of points) {
    if (workers <= 1 || !(speedup > 0)) continue;
    const x = 1 - 1 / workers;
    const y = 1 / speedup - 1;
    xy += x * y;
    xx += x * x;
  }
  if (xx === 0) return Number.NaN;
  return Math.min(1, Math.max(0, -xy / xx));
}
