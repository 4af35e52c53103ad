/**
 * The worker side of `Memory.cache`: a task reference made by `cache()` carries a wrapper that
 * names this module and `cacheWrapper`, with a `CacheSpec` as its options. A worker imports
 * this module like a task module, and its runtime calls the factory with the task's function
 * to get the cached function, once per worker. Lookups and writes therefore happen where the
 * task runs, and a parallel run fills the cache in parallel. The trust checks (trust.ts) live in
 * the store that both sides use, so they hold in every worker as in the caller, against the
 * user the worker runs as.
 */

import { CacheError } from '../errors.js';
import { defineTasks, lookupTask } from '../tasks/tasks.js';
import type { AnyFunction } from '../types.js';
import type { EntryMeta } from './cache-entry.js';
import { type CachedParts, type CacheSpec, cachedFunction } from './cached.js';
import { counterFor } from './counters.js';
import type { TaskId } from './store.js';

export const factories = defineTasks(import.meta.url, {
  /** `(fn, spec, task) => cached fn`: the factory signature of the worker runtime's wrappers. */
  cacheWrapper(fn: AnyFunction, spec: CacheSpec, task: TaskId): AnyFunction {
    const parts: CachedParts = { fn, task, spec, counter: counterFor(spec.dir, spec.session) };
    const { validate } = spec;
    if (validate === undefined || validate === 'local') return cachedFunction(parts);
    // The validate task lives in the cached task's module, which this worker has just loaded.
    const found = lookupTask(validate.module, validate.name) as ((meta: EntryMeta) => unknown) | undefined;
    if (found) return cachedFunction({ ...parts, validate: found });
    // The runtime does not expect a factory to throw: fail each call instead, saying why.
    return () => {
      throw new CacheError(
        `The \`validate\` task "${validate.name}" of cached task "${task.name}" is not registered in ${validate.module}`,
      );
    };
  },
});
