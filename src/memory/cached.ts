/**
 * The cached version of a task: look the call up, return the stored result on a hit, run the
 * task and store its result on a miss. The same function runs for a local call (built by
 * `Memory.cache`) and in a worker (built by the wrapper factory), so both read and fill the
 * same entries.
 */

import { CacheError, describe } from '../errors.js';
import type { AnyFunction } from '../types.js';
import { type EntryMeta, encodeOutput, summarizeArguments } from './cache-entry.js';
import { codeHash } from './code.js';
import type { Counter } from './counters.js';
import { hashArguments, IGNORED } from './hash.js';
import { META_FILE, TaskFolder, type TaskId } from './store.js';
import { warn } from './warnings.js';

/**
 * What a cached task reference carries to workers (plain data: it travels as the wrapper's
 * options, and the worker runtime keys its built functions by its JSON).
 */
export interface CacheSpec {
  /** The cache folder, absolute. */
  readonly dir: string;
  /** The `Memory` object's id, for its hit and miss counts. */
  readonly session: string;
  /** Argument positions (numbers) and option keys (strings) left out of the key. */
  readonly ignore: readonly (number | string)[];
  /**
   * The `validate` task, by module and name (a task of the cached task's own module, so it is
   * loaded wherever the task is); `'local'` when it was a plain function, which a worker
   * cannot receive.
   */
  readonly validate?: { readonly module: string; readonly name: string } | 'local' | undefined;
}

/** Versioned, so a change in how keys are made can never collide with old entries. */
const KEY_PREFIX = 'fanout.memory/1';
/** Key length in hex characters (128 bits). */
const KEY_CHARS = 32;

const now = () => performance.timeOrigin + performance.now();

/** The arguments as they enter the key: ignored ones marked, trailing `undefined`s dropped. */
export function keyArguments(args: readonly unknown[], ignore: readonly (number | string)[]): unknown[] {
  const out = args.slice();
  if (ignore.length > 0) {
    for (const item of ignore) {
      if (typeof item === 'number') {
        if (item < out.length) out[item] = IGNORED;
        continue;
      }
      // A key name: dropped from every plain-object argument (an options bag, typically).
      for (let i = 0; i < out.length; i++) {
        const arg = out[i];
        if (isPlainRecord(arg) && Object.hasOwn(arg, item)) {
          const { [item]: _, ...rest } = arg;
          out[i] = rest;
        }
      }
    }
  }
  // `f(1)` and `f(1, undefined)` are the same call for a function with default parameters.
  while (out.length > 0 && (out[out.length - 1] === undefined || out[out.length - 1] === IGNORED)) out.pop();
  return out;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

export interface CachedParts {
  /** The task's own function. */
  readonly fn: AnyFunction;
  readonly task: TaskId;
  readonly spec: CacheSpec;
  readonly counter: Counter;
  /** Decides whether a found entry may be used; absent: every entry may. */
  readonly validate?: ((meta: EntryMeta) => unknown) | undefined;
}

/** Build the cached function. Never throws: problems surface when it is called. */
export function cachedFunction(parts: CachedParts): AnyFunction {
  const { fn, task, spec, counter, validate } = parts;
  const folder = new TaskFolder(spec.dir, task);
  let prefix: string | undefined;

  function keyOf(args: unknown[]): string {
    prefix ??= `${KEY_PREFIX}\0${task.module}#${task.name}\0${codeHash(task.module)}\0`;
    return hashArguments(prefix, args).slice(0, KEY_CHARS);
  }

  /** Whether `validate` accepts a found entry; a damaged meta.json makes the entry corrupt. */
  function judge(key: string): 'accepted' | 'rejected' | { corrupt: string } {
    if (!validate) return 'accepted';
    let meta: EntryMeta;
    try {
      meta = folder.readMeta(key);
    } catch (error) {
      if (error instanceof CacheError) throw error; // not damage: a forged or redirected file
      return { corrupt: `${META_FILE}: ${(error as Error).message}` };
    }
    const verdict = validate(meta);
    if (typeof verdict !== 'boolean') {
      throw new CacheError(
        `The \`validate\` of cached task "${task.name}" must return true or false, got ${describe(verdict)}`,
      );
    }
    return verdict ? 'accepted' : 'rejected';
  }

  function store(key: string, args: unknown[], value: unknown, async: boolean, started: number): void {
    const duration = now() - started;
    const encoded = encodeOutput(value, async);
    if ('problem' in encoded) {
      warn(
        'FANOUT_CACHE_UNCACHEABLE',
        `Results of task "${task.name}" are not cached: ${encoded.problem}`,
        `${task.module}#${task.name}`,
      );
      return;
    }
    const meta: EntryMeta = {
      version: 1,
      module: task.module,
      name: task.name,
      key,
      code: codeHash(task.module),
      created: new Date(started).toISOString(),
      duration,
      args: summarizeArguments(args),
      size: encoded.bytes.byteLength,
      async,
    };
    try {
      folder.write(key, encoded.bytes, meta);
    } catch (error) {
      // A cache found unsafe is refused, loudly; any other failure to store costs only the entry.
      if (error instanceof CacheError) throw error;
      warn(
        'FANOUT_CACHE_WRITE',
        `A result of task "${task.name}" could not be written to the cache in ${spec.dir}: ${describe(error)}`,
        `${task.module}#${task.name}`,
      );
    }
  }

  const cached = function (this: unknown, ...args: unknown[]): unknown {
    if (spec.validate === 'local' && !validate) {
      throw new CacheError(
        `Cached task "${task.name}" was given \`validate\` as a plain function, which cannot reach a worker. Define it with defineTasks in the task's own module and pass that reference`,
      );
    }
    const marked = keyArguments(args, spec.ignore);
    const key = keyOf(marked);
    const found = folder.read(key);
    let corrupt = found.kind === 'corrupt' ? found.reason : undefined;
    if (found.kind === 'hit') {
      const verdict = judge(key);
      if (verdict === 'accepted') {
        counter.count('hits');
        folder.touch(key);
        return found.async ? Promise.resolve(found.value) : found.value;
      }
      if (verdict === 'rejected') {
        counter.count('rejected');
        removeQuietly(folder, key);
      } else {
        corrupt = verdict.corrupt;
      }
    }
    if (corrupt !== undefined) {
      counter.count('corrupt');
      warn(
        'FANOUT_CACHE_CORRUPT',
        `Cache entry ${folder.entryPath(key)} of task "${task.name}" is damaged (${corrupt}); recomputing it`,
      );
      removeQuietly(folder, key);
    }
    counter.count('misses');
    const started = now();
    const result = fn.apply(this, args);
    if (!isPromiseLike(result)) {
      store(key, marked, result, false, started);
      return result;
    }
    // An async task is cached by its resolved value; a rejection is passed on, not stored.
    return Promise.resolve(result).then((value) => {
      store(key, marked, value, true, started);
      return value;
    });
  };
  Object.defineProperty(cached, 'name', { value: task.name });
  return cached;
}

function removeQuietly(folder: TaskFolder, key: string): void {
  try {
    folder.remove(key);
  } catch {
    // The new result replaces it anyway if this one cannot be moved; a write then reports it.
  }
}
