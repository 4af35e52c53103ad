/**
 * The cache's layout on disk, and the only code that writes it:
 *
 * ```
 * <dir>/                          created owner-only (0o700)
 *   <name>-<12 hex>/              one folder per task: its name and a hash of (module URL, name)
 *     task.json                   { module, name }: which task this folder holds
 *     <32 hex>/                   one folder per entry, named by its key
 *       output.bin                the result (see entry.ts)
 *       meta.json                 time, duration, readable arguments (EntryMeta)
 *     .tmp-XXXXXX/                an entry being written
 *     .trash-<uuid>/              an entry being removed
 *   .stats/<session>/…            hit and miss counters (see counters.ts)
 * ```
 *
 * An entry is written whole in a temporary folder beside its final place, then renamed into
 * place: a reader sees a complete entry or none. When two writers race on one key, the first
 * rename wins and the second finds the place taken, drops its copy and still returns its own
 * result. An entry is removed by renaming it aside first, so it disappears at once.
 *
 * An entry's last use (for least-recently-used eviction) is its folder's modification time,
 * set when it is written and again on every hit. File access times are not used: most
 * systems mount with `relatime` or `noatime`, which keeps them from being updated.
 *
 * Everything here is synchronous: the lookup runs inside the task's call (a sync task stays
 * sync), in a worker where blocking only that worker is what should happen.
 */

import { createHash, randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { decodeOutput, type EntryMeta, parseMeta } from './entry.js';

/** Mode of every folder the cache creates: only the owner may read cached results. */
export const DIR_MODE = 0o700;
/** Mode of every file the cache creates. */
export const FILE_MODE = 0o600;

export const OUTPUT_FILE = 'output.bin';
export const META_FILE = 'meta.json';
export const TASK_FILE = 'task.json';
export const STATS_DIR = '.stats';
export const TMP_PREFIX = '.tmp-';
export const TRASH_PREFIX = '.trash-';

export interface TaskId {
  readonly module: string;
  readonly name: string;
}

/** The folder name of a task: readable, and unique per (module URL, name). */
export function taskFolderName(task: TaskId): string {
  const readable = task.name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40) || 'task';
  const id = createHash('sha256').update(`${task.module}#${task.name}`).digest('hex').slice(0, 12);
  return `${readable}-${id}`;
}

export type Lookup =
  | { readonly kind: 'miss' }
  | { readonly kind: 'hit'; readonly value: unknown; readonly async: boolean }
  | { readonly kind: 'corrupt'; readonly reason: string };

function isCode(error: unknown, ...codes: string[]): boolean {
  return codes.includes((error as { code?: unknown } | null)?.code as string);
}

/** One task's folder in one cache. */
export class TaskFolder {
  readonly path: string;

  constructor(
    readonly root: string,
    readonly task: TaskId,
  ) {
    this.path = join(root, taskFolderName(task));
  }

  entryPath(key: string): string {
    return join(this.path, key);
  }

  /** Read an entry's result. A missing entry is a miss; anything unreadable is `corrupt`. */
  read(key: string): Lookup {
    const entry = this.entryPath(key);
    const output = join(entry, OUTPUT_FILE);
    let bytes: Buffer;
    try {
      bytes = readFileSync(output);
    } catch (error) {
      if (!isCode(error, 'ENOENT', 'ENOTDIR')) return { kind: 'corrupt', reason: String(error) };
      // The usual miss. But an entry folder without its output is damaged; and a writer may
      // have renamed the entry in between our two looks, in which case read it again.
      if (!existsSync(entry)) return { kind: 'miss' };
      if (!existsSync(output)) return { kind: 'corrupt', reason: `${OUTPUT_FILE} is missing` };
      try {
        bytes = readFileSync(output);
      } catch (again) {
        return { kind: 'corrupt', reason: String(again) };
      }
    }
    try {
      const { value, async } = decodeOutput(bytes);
      return { kind: 'hit', value, async };
    } catch (error) {
      return { kind: 'corrupt', reason: (error as Error).message };
    }
  }

  /** An entry's metadata; throws when it is missing or damaged. */
  readMeta(key: string): EntryMeta {
    return parseMeta(readFileSync(join(this.entryPath(key), META_FILE), 'utf8'));
  }

  /** Record a use of the entry (its folder's mtime); a vanished entry is not an error. */
  touch(key: string): void {
    const now = new Date();
    try {
      utimesSync(this.entryPath(key), now, now);
    } catch {
      // Removed meanwhile by eviction or by another process replacing it: nothing to record.
    }
  }

  /**
   * Write an entry atomically. Returns `'exists'` when another writer put the same key in
   * place first (its entry stays; this copy is dropped).
   */
  write(key: string, output: Buffer, meta: EntryMeta): 'written' | 'exists' {
    const tmp = this.makeTemp();
    try {
      writeFileSync(join(tmp, OUTPUT_FILE), output, { mode: FILE_MODE });
      writeFileSync(join(tmp, META_FILE), `${JSON.stringify(meta, null, 2)}\n`, { mode: FILE_MODE });
      try {
        renameSync(tmp, this.entryPath(key));
        return 'written';
      } catch (error) {
        // Linux says ENOTEMPTY or EEXIST when the target folder exists, Windows EPERM.
        if (isCode(error, 'ENOTEMPTY', 'EEXIST', 'EPERM', 'EACCES') && existsSync(this.entryPath(key))) {
          return 'exists';
        }
        throw error;
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** Remove an entry: renamed aside first, so no reader sees it half deleted. */
  remove(key: string): void {
    const aside = join(this.path, `${TRASH_PREFIX}${randomUUID()}`);
    try {
      renameSync(this.entryPath(key), aside);
    } catch (error) {
      if (isCode(error, 'ENOENT')) return; // someone else removed it
      throw error;
    }
    rmSync(aside, { recursive: true, force: true });
  }

  /** A fresh temporary folder in the task folder, creating the folders on first use. */
  private makeTemp(): string {
    try {
      return mkdtempSync(join(this.path, TMP_PREFIX));
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error;
    }
    mkdirSync(this.path, { recursive: true, mode: DIR_MODE });
    this.describeTask();
    return mkdtempSync(join(this.path, TMP_PREFIX));
  }

  /** Write task.json (atomically, since another process may be writing it too). */
  private describeTask(): void {
    const target = join(this.path, TASK_FILE);
    if (existsSync(target)) return;
    const tmp = join(this.path, `${TMP_PREFIX}${randomUUID()}.json`);
    writeFileSync(tmp, `${JSON.stringify(this.task, null, 2)}\n`, { mode: FILE_MODE });
    renameSync(tmp, target);
  }
}
