/**
 * The clock a worker times its batches and items on. The pool's clock is
 * `performance.timeOrigin + performance.now()` (ms since the epoch); a worker reads
 * process.hrtime instead (the monotonic clock every thread and process of the machine reads
 * alike), shifted onto the pool's. Not `performance` itself: a thread's first read of it loads
 * perf_hooks, ~0.6 ms of the first batch it runs. A local worker (thread or process) is given
 * the shift with its first message, `config` (`clockShift()`, measured by the pool against its
 * own clock, so both read the same time); anywhere else it is measured on first use.
 */

/** The monotonic clock, in ms: for durations. */
export function elapsed(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** What to add to `elapsed()` to read the pool's clock, measured here (this thread has `performance` loaded). */
export function clockShift(): number {
  return performance.timeOrigin + performance.now() - elapsed();
}

let shift: number | undefined;

/** Use the shift the pool measured (a local worker, from its `config` message). */
export function setClockShift(value: number): void {
  shift = value;
}

/** Now on the pool's clock (ms since the epoch): batch start times, which the pool compares with its own. */
export function now(): number {
  shift ??= clockShift();
  return elapsed() + shift;
}

/** A time on the pool's clock, as `elapsed()` read it then. */
export function elapsedAt(time: number): number {
  shift ??= clockShift();
  return time - shift;
}
