/**
 * The cache reports trouble it recovers from as process warnings, never as failures of the
 * task: a damaged entry is recomputed, a result that cannot be stored is still returned.
 * Listen with `process.on('warning', ...)` and check `warning.code`.
 * Write and uncacheable warnings are emitted once per task and thread (they tend to repeat for
 * every call); each damaged entry is reported.
 */

/** Codes of the warnings the cache emits (type `FanoutCacheWarning`). */
export type CacheWarningCode =
  /** An entry could not be read back (truncated, damaged, unreadable): it was discarded and recomputed. */
  | 'FANOUT_CACHE_CORRUPT'
  /** A result could not be written to the cache (disk full, permissions): it was returned uncached. */
  | 'FANOUT_CACHE_WRITE'
  /** A result is not plain data (a class instance, a function), so it is not cached. */
  | 'FANOUT_CACHE_UNCACHEABLE';

const once = new Set<string>();

/** Emit a cache warning; with `dedupe`, only the first of that key in this thread. */
export function warn(code: CacheWarningCode, message: string, dedupe?: string): void {
  if (dedupe !== undefined) {
    const key = `${code}\0${dedupe}`;
    if (once.has(key)) return;
    once.add(key);
  }
  process.emitWarning(message, { type: 'FanoutCacheWarning', code });
}
