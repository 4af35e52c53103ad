/**
 * What every command shares: exit codes, file errors (exit code 3), and loading a task from a
 * module path given on the command line. Flags that set options, and flag errors (exit code 2),
 * are read by options/flags.ts.
 */

import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from '../options/flags.js';
import { isRegistered, lookupTask, makeRef, registeredNames } from '../tasks/tasks.js';
import type { TaskRef } from '../types.js';

/** Exit codes of every command (`fanout run --help` and the README's CLI section list them). */
export const EXIT = {
  /** Everything succeeded. */
  ok: 0,
  /** Some items failed, or the run could not complete. */
  failed: 1,
  /** A bad flag or argument. */
  usage: 2,
  /** An input or output file could not be read or written. */
  io: 3,
} as const;

/**
 * A file that cannot be read or written: the message (one line, naming the file and the system's
 * reason) is printed alone, and the exit code is 3.
 */
export class IoFailure extends Error {
  constructor(verb: 'read' | 'write', name: string, cause: unknown) {
    const message = (cause as { message?: unknown } | undefined)?.message;
    // Node says "ENOSPC: no space left on device, write" or "..., open '/x'": the file is named already.
    const reason = typeof message === 'string' ? message.replace(/, [a-z]+( '.*')?$/, '') : String(cause);
    super(`cannot ${verb} ${name}: ${reason}`, { cause });
  }
}

const TS_EXTENSION = /\.[mc]?ts$/;

/** Whether this process can import TypeScript (it runs under a loader such as tsx). */
export function canImportTypeScript(): boolean {
  return [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((arg) => /tsx/.test(arg));
}

/** Whether a module path needs a TypeScript loader. */
export function isTypeScript(path: string): boolean {
  return TS_EXTENSION.test(path);
}

/**
 * The task `name` of the module at `path` (relative to the working directory), as a task
 * reference. The module registers its tasks as it loads, under its own URL.
 */
export async function loadTask(path: string, name: string): Promise<TaskRef> {
  let file: string;
  try {
    file = realpathSync(resolve(path));
  } catch {
    throw new UsageError(`task module ${JSON.stringify(path)} not found`);
  }
  const url = pathToFileURL(file).href;
  await import(url);
  const fn = lookupTask(url, name);
  if (!fn) {
    if (!isRegistered(url)) {
      throw new UsageError(`${path} registers no tasks: it must call defineTasks(import.meta.url, { ... })`);
    }
    throw new UsageError(`${path} has no task "${name}" (it defines: ${registeredNames(url).join(', ')})`);
  }
  return makeRef(url, name, fn);
}
