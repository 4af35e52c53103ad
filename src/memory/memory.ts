/**
 * `Memory`: joblib.Memory for fanout. The public facade: it checks its arguments, then builds
 * cached task references from the parts in this folder (key, layout, counters, maintenance).
 */

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeCrypto } from '../builtins.js';
import { CacheError, InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { ownTask } from '../layout.js';
import { optionSet, resolveOptions } from '../options/option-set.js';
import { isTaskRef, makeRef } from '../tasks/tasks.js';
import type { AnyFunction, TaskRef } from '../types.js';
import type { EntryMeta } from './cache-entry.js';
import { type CacheSpec, cachedFunction } from './cached.js';
import { codeHash } from './code.js';
import { emptyStats, type MemoryStats, readSessionStats, registerLocalSession } from './counters.js';
import type { MemoryInfo, ReduceSizeOptions, ReduceSizeResult } from './maintenance.js';
import { taskFolderName } from './store.js';
import { trustRoot } from './trust.js';

/** The cache's housekeeping (clear, reduceSize, info): loaded by the first of them, not with fanout. */
const maintenance = () => import('./maintenance.js');

/** The wrapper that makes a task reference cached in workers (memory/cache-wrapper.ts). */
export const CACHE_WRAPPER = ownTask('memory/cache-wrapper', 'cacheWrapper');

/**
 * Options of `memory.cache(task, options)`.
 *
 * @example
 * ```ts
 * const fit = memory.cache(tasks.fit, { ignore: [2, 'verbose'], validate: tasks.isFresh });
 * ```
 */
export interface CacheOptions {
  /**
   * Arguments left out of the key: numbers are argument positions (0-based), strings are keys
   * dropped from every plain-object argument (an options bag). Calls that differ only there
   * share an entry.
   *
   * @default []
   * @example
   * ```ts
   * // fit(data, seed, log) — the log callback's argument position is ignored
   * memory.cache(tasks.fit, { ignore: [2] });
   * // train(data, { epochs, verbose }) — `verbose` does not change the result
   * memory.cache(tasks.train, { ignore: ['verbose'] });
   * ```
   */
  ignore?: readonly (number | string)[];
  /**
   * Decides whether a stored entry may be used; returning false recomputes and replaces it.
   * Receives the entry's metadata, and runs where the lookup happens. Give a task of the
   * cached task's own module (from `defineTasks`) to have it work everywhere; a plain
   * function works for local calls only, and a pool run of such a reference fails with
   * `ERR_CACHE` (a function cannot cross to a worker).
   *
   * @example
   * ```ts
   * // tasks.ts, next to the task:
   * export default defineTasks(import.meta.url, {
   *   forecast(city: string) { ... },
   *   fresh(meta: EntryMeta) { return Date.now() - Date.parse(meta.created) < 3_600_000; },
   * });
   * // main.ts
   * const forecast = memory.cache(tasks.forecast, { validate: tasks.fresh });
   * ```
   */
  validate?: ((meta: EntryMeta) => boolean) | undefined;
}

/** What `new Memory(dir, options)` accepts: nothing yet (declared, so a key given is refused by name). */
const MEMORY_OPTIONS = optionSet('the Memory options', {});

/**
 * A disk cache of task results, like Python's `joblib.Memory`: a cached task returns the
 * stored result of a call it has seen with equal arguments and unchanged code, instead of
 * computing it again. The lookup and the write happen where the task runs, so a parallel run
 * fills the cache in parallel, and every process and thread shares one cache folder safely.
 * See the README for the layout on disk and the guarantees.
 *
 * @example
 * ```ts
 * import { Memory, Pool } from 'fanout';
 * import tasks from './tasks.js';
 *
 * const memory = new Memory('.fanout-cache');
 * const simulate = memory.cache(tasks.simulate);
 *
 * await using pool = new Pool({ workers: -1 });
 * await pool.starmap(simulate, runs);   // computes and stores, in parallel
 * await pool.starmap(simulate, runs);   // every result from the cache
 * simulate(75, 5, 10);                  // local calls use it too
 * ```
 */
export class Memory {
  /** The cache folder (absolute), or `null` for a cache that stores nothing. */
  readonly dir: string | null;
  readonly #session = nodeCrypto().randomUUID();
  readonly #stats: MemoryStats = emptyStats();

  /**
   * @param dir - the cache folder, created owner-only (0o700) on first write; a path or a
   *   `file:` URL. `null` gives a cache that does nothing: `cache(task)` returns the task itself.
   *   It must be yours alone: see the README's "Trust" passage.
   * @throws `CacheError` (`ERR_CACHE`) when the folder is not safe to use: another user owns it,
   *   group or others may write it, or someone else could swap it or a folder on the way to it
   *   (the same checks run again wherever the cache is used, workers included).
   * @param options - none yet: a key given here (joblib's `verbose`, say) is `ERR_INVALID_ARG_VALUE`.
   * @example
   * ```ts
   * const memory = new Memory('./cache');
   * const none = new Memory(null); // caching switched off, same code
   * ```
   */
  constructor(dir: string | URL | null, options: Record<string, never> = {}) {
    // No option is read yet: one given (a joblib habit, say `verbose`) is an error, not ignored.
    resolveOptions(MEMORY_OPTIONS, options);
    if (dir === null) {
      this.dir = null;
      return;
    }
    if (dir instanceof URL) {
      if (dir.protocol !== 'file:') {
        throw new InvalidArgValueError(`Expected \`dir\` of Memory to be a file: URL, got ${dir.href}`);
      }
      this.dir = resolve(fileURLToPath(dir));
    } else if (typeof dir === 'string') {
      if (dir === '') throw new InvalidArgValueError('Expected `dir` of Memory to be a folder path, got ""');
      this.dir = resolve(dir);
    } else {
      throw new InvalidArgTypeError(
        `Expected \`dir\` of Memory to be a folder path, a file: URL or null, got ${typeof dir}`,
      );
    }
    refuseUnsafeRoot(this.dir);
    registerLocalSession(this.#session, this.#stats);
  }

  /**
   * A cached version of `task`: a task reference that works wherever the task does (local
   * calls, `pool.run`, `pool.map`, every backend), typed as the task.
   *
   * The key of a call is the task (module URL and name), the hash of its module's source, and
   * a canonical hash of the arguments. Results are stored with the V8 serializer; an async
   * task is cached by its resolved value; a call that throws or rejects is not cached.
   *
   * @throws `CacheError` (`ERR_CACHE`) when the task module's source cannot be read. A call of
   *   the cached task throws it when the cache, or the entry it finds, is not safe to use.
   * @example
   * ```ts
   * const slowSquare = memory.cache(tasks.slowSquare);
   * await pool.map(slowSquare, [1, 2, 3]); // computed in workers, stored
   * await slowSquare(2);                   // 4, from the cache
   * ```
   */
  cache<F extends AnyFunction>(task: TaskRef<F>, options: CacheOptions = {}): TaskRef<F> {
    if (!isTaskRef(task)) {
      throw new InvalidArgTypeError(
        `Expected \`task\` of memory.cache to be a task reference from defineTasks(), got ${typeof task === 'function' ? 'a plain function' : typeof task}`,
      );
    }
    if (task.wrapper) {
      throw new InvalidArgValueError(
        `Expected \`task\` of memory.cache to be a plain task reference, got task "${task.taskName}" that is already cached or decorated`,
      );
    }
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgTypeError(`Expected the options of memory.cache to be an object, got ${options}`);
    }
    const ignore = checkIgnore(options.ignore);
    const validate = checkValidate(options.validate, task);
    if (this.dir === null) return task;

    const id = { module: task.module, name: task.taskName };
    codeHash(id.module); // fail now, not at the first call, if the source cannot be read
    const spec: CacheSpec = {
      dir: this.dir,
      session: this.#session,
      ignore,
      validate: validate === undefined ? undefined : isTaskRef(validate) ? taskId(validate) : 'local',
    };
    const stats = this.#stats;
    const local = cachedFunction({
      fn: task,
      task: id,
      spec,
      counter: { count: (field) => void stats[field]++ },
      validate,
    });
    return makeRef(task.module, task.taskName, local as F, { ...CACHE_WRAPPER, options: spec });
  }

  /**
   * Hit and miss counts of the tasks this `Memory` cached, over local calls and every worker
   * thread and process they ran in (workers keep their counts in small files under
   * `<dir>/.stats/`). Always zero for `new Memory(null)`.
   *
   * @throws `CacheError` (`ERR_CACHE`) when the cache folder or a counter file is not safe to use.
   * @example
   * ```ts
   * await pool.map(cached, items);
   * const { hits, misses } = await memory.stats();
   * ```
   */
  async stats(): Promise<MemoryStats> {
    if (this.dir === null) return emptyStats();
    return readSessionStats(this.dir, this.#session, { ...this.#stats });
  }

  /**
   * Remove every stored result, or only those of one task (a task reference, cached or not).
   * Hit and miss counts are kept. Links inside the cache are never followed.
   *
   * @throws `CacheError` (`ERR_CACHE`) when the cache folder is not safe to use.
   * @example
   * ```ts
   * await memory.clear(tasks.simulate); // one task
   * await memory.clear();               // everything
   * ```
   */
  async clear(task?: TaskRef): Promise<void> {
    if (task !== undefined && !isTaskRef(task)) {
      throw new InvalidArgTypeError(
        `Expected \`task\` of memory.clear to be a task reference or undefined, got ${typeof task}`,
      );
    }
    if (this.dir === null) return;
    const { clearFolders } = await maintenance();
    await clearFolders(this.dir, task ? [taskFolderName(taskId(task))] : undefined);
  }

  /**
   * Evict entries, least recently used first (a hit counts as a use), until the cache holds
   * at most `bytes` bytes and `items` entries and nothing unused for longer than `age` ms.
   * Also sweeps what crashed writers left behind.
   *
   * @throws `CacheError` (`ERR_CACHE`) when the cache folder is not safe to use.
   * @example
   * ```ts
   * const { removed } = await memory.reduceSize({ bytes: 500e6, age: 30 * 86_400_000 });
   * ```
   */
  async reduceSize(options: ReduceSizeOptions): Promise<ReduceSizeResult> {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgTypeError(
        `Expected the options of memory.reduceSize to be an object, got ${options}`,
      );
    }
    for (const name of ['bytes', 'items', 'age'] as const) {
      const value = options[name];
      if (value === undefined) continue;
      if (typeof value !== 'number') {
        throw new InvalidArgTypeError(
          `Expected \`${name}\` of memory.reduceSize to be a number, got ${typeof value}`,
        );
      }
      if (!(value >= 0) || (name === 'items' && !Number.isInteger(value))) {
        throw new InvalidArgValueError(
          `Expected \`${name}\` of memory.reduceSize to be a non-negative ${name === 'items' ? 'integer' : 'number'}, got ${value}`,
        );
      }
    }
    if (this.dir === null) return { removed: 0, removedBytes: 0, entries: 0, bytes: 0 };
    const { reduceSize } = await maintenance();
    return reduceSize(this.dir, options, this.#session);
  }

  /**
   * What the cache folder holds, task by task, read from disk (links inside are not followed).
   *
   * @throws `CacheError` (`ERR_CACHE`) when the cache folder is not safe to use.
   * @example
   * ```ts
   * const info = await memory.info();
   * console.log(`${info.entries} entries, ${info.bytes} bytes`);
   * ```
   */
  async info(): Promise<MemoryInfo> {
    if (this.dir === null) return { dir: null, entries: 0, bytes: 0, tasks: [] };
    const { describeCache } = await maintenance();
    return describeCache(this.dir);
  }
}

/**
 * Fail at construction, not at the first call, when the root or the path to it is not safe.
 * Other problems (a folder that cannot be read) surface where the cache is used, as before.
 */
function refuseUnsafeRoot(dir: string): void {
  try {
    trustRoot(dir, false);
  } catch (error) {
    if (error instanceof CacheError) throw error;
  }
}

function taskId(task: TaskRef): { module: string; name: string } {
  return { module: task.module, name: task.taskName };
}

function checkIgnore(ignore: unknown): (number | string)[] {
  if (ignore === undefined) return [];
  if (!Array.isArray(ignore)) {
    throw new InvalidArgTypeError(
      `Expected \`ignore\` of memory.cache to be an array of argument positions or keys, got ${typeof ignore}`,
    );
  }
  for (const item of ignore) {
    if (
      typeof item === 'number'
        ? !(Number.isInteger(item) && item >= 0)
        : typeof item !== 'string' || item === ''
    ) {
      throw new InvalidArgValueError(
        `Expected each item of \`ignore\` of memory.cache to be an argument position (an integer ≥ 0) or a key, got ${JSON.stringify(item)}`,
      );
    }
  }
  return [...ignore];
}

function checkValidate(validate: unknown, task: TaskRef): ((meta: EntryMeta) => boolean) | undefined {
  if (validate === undefined) return undefined;
  if (typeof validate !== 'function') {
    throw new InvalidArgTypeError(
      `Expected \`validate\` of memory.cache to be a function, got ${typeof validate}`,
    );
  }
  if (isTaskRef(validate) && validate.module !== task.module) {
    throw new InvalidArgValueError(
      `Expected \`validate\` of memory.cache to be a task of the cached task's module ${task.module} (so every worker has it), got "${validate.taskName}" of ${validate.module}`,
    );
  }
  return validate as (meta: EntryMeta) => boolean;
}
