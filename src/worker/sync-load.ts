/**
 * What a worker thread's bootstrap could not load with `require()` (see `threadBootstrap` in
 * local/preload.ts). Where it may, a thread requires its entry and its first task modules, which
 * spares it the asynchronous module loader's start (~2 ms of a small job's start-up); a module
 * that require() cannot load is imported later, as without it. One case needs this record: on
 * Node 20–22, importing a module whose require() failed to link (an import of a name its
 * target does not export) fails with an internal assertion instead of the module's own error.
 * A global symbol, as the bootstrap has no imports.
 */

/** The symbol's key (`Symbol.for`) under which the bootstrap keeps a Map of module URL → error. */
export const SYNC_LOAD_FAILURES_KEY = 'fanout.syncLoadFailures';

/** The error to report for `module`, whose import failed with `error`. */
export function importFailure(module: string, error: unknown): unknown {
  if ((error as { code?: unknown } | null)?.code !== 'ERR_INTERNAL_ASSERTION') return error;
  const failures = (globalThis as Record<symbol, unknown>)[Symbol.for(SYNC_LOAD_FAILURES_KEY)];
  return (failures instanceof Map ? failures.get(module) : undefined) ?? error;
}
