/**
 * How a task is named across machines.
 *
 * A caller's task reference carries its module's URL, which is meaningless on another machine
 * (another checkout, `src/tasks.ts` under tsx here and `dist/tasks.js` there). On the redis
 * backend a module is therefore named by its file name without extension: the *module id*.
 * `file:///home/ana/app/src/tasks.ts` and `/srv/app/dist/tasks.js` are both `tasks`. A job
 * carries `tasks#simulate`; a worker maps `tasks` to the module it was started with, and refuses
 * every other name. No path and no URL ever travels in a job.
 */

import { basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InvalidArgValueError } from '../errors.js';

/** Extensions dropped from a file name to get its module id. */
const EXTENSIONS = /\.(?:[cm]?[jt]s|[jt]sx)$/i;
/** What a module id may look like: a file name, nothing that could be a path. */
const ID_PATTERN = /^[\w.@+-]{1,200}$/;

/** The module id of a module URL or file path: its file name without the extension. */
export function moduleIdOf(moduleUrlOrPath: string): string {
  let path = moduleUrlOrPath;
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) && !/^[a-z]:[\\/]/i.test(path)) {
    const url = new URL(path);
    path = url.protocol === 'file:' ? fileURLToPath(url) : url.pathname;
  }
  return basename(path).replace(EXTENSIONS, '');
}

/** Whether a string from a job can be a module id (plain file-name characters only). */
export function isModuleId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value) && value !== '.' && value !== '..';
}

/** Whether a string from a job can be a task name. */
export function isTaskName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 200;
}

/**
 * The caller's side: module URL → id, remembering which URL took each id, so two different
 * modules with the same file name are an error instead of a silent mix-up on the workers.
 */
export class ModuleIds {
  private readonly byUrl = new Map<string, string>();
  private readonly urlOf = new Map<string, string>();

  /** The id of `moduleUrl`; throws (ERR_INVALID_ARG_VALUE) when another module of this pool has that id. */
  idOf(moduleUrl: string): string {
    const known = this.byUrl.get(moduleUrl);
    if (known !== undefined) return known;
    const id = moduleIdOf(moduleUrl);
    const other = this.urlOf.get(id);
    if (other !== undefined && other !== moduleUrl) {
      throw new InvalidArgValueError(
        `Two task modules are both named "${id}" (${other} and ${moduleUrl}): redis workers know a ` +
          'task module by its file name, so rename one of them',
      );
    }
    this.urlOf.set(id, moduleUrl);
    this.byUrl.set(moduleUrl, id);
    return id;
  }
}

/**
 * The worker's side: the task modules it was started with, by id. Only these can run; a job
 * naming anything else is refused.
 */
export class TaskDirectory {
  private readonly urls = new Map<string, string>();

  /**
   * @param files - the `--tasks` files, as given (resolved against the working directory).
   * @throws Error when two files have the same id.
   */
  constructor(files: readonly string[]) {
    for (const file of files) {
      const url = pathToFileURL(file).href;
      const id = moduleIdOf(file);
      const other = this.urls.get(id);
      if (other !== undefined && other !== url) {
        throw new Error(
          `${fileURLToPath(other)} and ${file} are both task module "${id}": callers name a module by its ` +
            'file name, so each module a worker runs needs a different one',
        );
      }
      this.urls.set(id, url);
    }
  }

  /** The ids this worker serves, for logs and messages. */
  get ids(): string[] {
    return [...this.urls.keys()];
  }

  /** The URL of module `id`, or undefined when this worker does not run it. */
  urlOf(id: string): string | undefined {
    return this.urls.get(id);
  }
}
