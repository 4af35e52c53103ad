/**
 * The task wrappers a redis job may ask for, and the only ones a worker applies.
 *
 * A wrapper decorates a task where it runs (`TaskWrapper`): a factory `(fn, options, task)`
 * registered like a task, in its module. Named by module and name, as a task is, a job could
 * therefore make any task a worker serves act as a factory, on a function and options of the
 * job's choosing. So a job names a wrapper by an id from this list, never by module; a worker
 * maps the id to its own copy of fanout's factory, and applies it only if its operator allowed
 * it (`fanout worker --allow`): both of fanout's wrappers act on a path the job names, which
 * reaches further into the worker's machine than running a served task does.
 */

import { CHUNK_READER } from '../chunks/reader-tasks.js';
import { CACHE_WRAPPER } from '../memory/memory.js';

export interface WrapperEntry {
  /** The factory: a registered task of one of fanout's own modules. */
  readonly module: string;
  readonly name: string;
  /** The feature that decorates tasks with it, for messages. */
  readonly feature: string;
  /** What a job using it can make the worker do beyond running a task, for messages and --help. */
  readonly reach: string;
}

export const WRAPPERS = {
  cache: {
    ...CACHE_WRAPPER,
    feature: 'memory.cache',
    reach: 'reads and writes cache entries under the folder the job names',
  },
  files: {
    ...CHUNK_READER,
    feature: 'a file source of pool.reduceChunks',
    reach: 'reads the file the job names',
  },
} as const satisfies Record<string, WrapperEntry>;

export type WrapperId = keyof typeof WRAPPERS;

export const WRAPPER_IDS = Object.keys(WRAPPERS) as WrapperId[];

/** Whether a value (from a job, or a flag) is the id of one of fanout's wrappers. */
export function isWrapperId(value: unknown): value is WrapperId {
  return typeof value === 'string' && Object.hasOwn(WRAPPERS, value);
}

/** The id of a task reference's wrapper (the caller's side), or undefined when it is not one of fanout's. */
export function wrapperIdOf(wrapper: {
  readonly module: string;
  readonly name: string;
}): WrapperId | undefined {
  return WRAPPER_IDS.find(
    (id) => WRAPPERS[id].module === wrapper.module && WRAPPERS[id].name === wrapper.name,
  );
}
