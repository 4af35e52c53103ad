/**
 * What every command shares: exit codes, the failures that end a command with one line on stderr
 * (a file, exit code 3; a task module that does not load, exit code 4), reading the command line
 * (an unknown flag names the nearest known one), and loading a task from a module path given on
 * the command line. Flags that set options, and flag errors (exit code 2), are read by
 * options/flags.ts.
 */

import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '../options/flags.js';
import { nearest } from '../options/option-set.js';
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
  /** A task module could not be loaded (a syntax error, or it threw while loading). */
  module: 4,
} as const;

/**
 * The exit codes as every command's `--help` shows them (the README's CLI section says the
 * same); `test/cli.test.ts` checks each code on each command that can end with it.
 */
export const EXIT_HELP = `Exit codes: 0 done; 1 an item failed, or the work could not complete; 2 a bad flag or
argument (with the usage); 3 a file cannot be read or written; 4 a task module does not load
(a syntax error, or it throws while loading). Every error is one line on stderr.`;

/**
 * A failure that ends a command: its message (one line) is printed alone, without the usage,
 * and the command exits with `exitCode`.
 */
export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A file that cannot be read or written: the message names the file and the system's reason,
 * and the exit code is 3.
 */
export class IoFailure extends CommandFailure {
  constructor(verb: 'read' | 'write', name: string, cause: unknown) {
    const message = (cause as { message?: unknown } | undefined)?.message;
    // Node says "ENOSPC: no space left on device, write" or "..., open '/x'": the file is named already.
    const reason = typeof message === 'string' ? message.replace(/, [a-z]+( '.*')?$/, '') : String(cause);
    super(`cannot ${verb} ${name}: ${reason}`, EXIT.io, { cause });
  }
}

/**
 * The command line of one command, read by `parseArgs`. Its errors become usage errors (exit
 * code 2); an unknown flag names the nearest known one, by the options' own measure
 * (`nearest`): "unknown flag --wrokers: did you mean --workers?".
 */
export function readArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    const { code, message } = error as { code?: unknown; message: string };
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      // parseArgs names the flag as given: '--wrokers' (or '--wrokers=2', '-x').
      const given = /'(-[^'=]*)/.exec(message)?.[1] ?? message;
      const near = given.startsWith('--')
        ? nearest(given.slice(2), Object.keys(config.options ?? {}))
        : undefined;
      throw new UsageError(`unknown flag ${given}${near === undefined ? '' : `: did you mean --${near}?`}`, {
        cause: error,
      });
    }
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError(message.split('\n')[0] as string, { cause: error });
    }
    throw error;
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
 * Import the task module `path` (resolved: `file`). A module that does not load is a
 * `CommandFailure` with exit code 4, in one line naming the file and the line.
 */
export async function importTaskModule(path: string, file: string): Promise<void> {
  try {
    await import(pathToFileURL(file).href);
  } catch (error) {
    const { loadFailure } = await import('./module-error.js');
    throw new CommandFailure(await loadFailure(path, file, error), EXIT.module, { cause: error });
  }
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
  await importTaskModule(path, file);
  const fn = lookupTask(url, name);
  if (!fn) {
    if (!isRegistered(url)) {
      throw new UsageError(`${path} registers no tasks: it must call defineTasks(import.meta.url, { ... })`);
    }
    throw new UsageError(`${path} has no task "${name}" (it defines: ${registeredNames(url).join(', ')})`);
  }
  return makeRef(url, name, fn);
}
