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
 * Nothing is read, written or followed before trust.ts has vetted it: the cache uses only a
 * root and entries of the current user that nobody else may write, and never follows a link
 * inside the cache.
 *
 * Everything here is synchronous: the lookup runs inside the task's call (a sync task stays
 * sync), in a worker where blocking only that worker is what should happen.
 */

import { existsSync, lutimesSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeCrypto } from '../builtins.js';
import { CacheError } from '../errors.js';
import { decodeOutput, type EntryMeta, parseMeta } from './cache-entry.js';
import { ensureFolder, FILE_MODE, inspectPath, isCode, readInside, trustRoot } from './trust.js';

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
  const id = nodeCrypto()
    .createHash('sha256')
    .update(`${task.module}#${task.name}`)
    .digest('hex')
    .slice(0, 12);
  return `${readable}-${id}`;
}

export type Lookup =
  | { readonly kind: 'miss' }
  | { readonly kind: 'hit'; readonly value: unknown; readonly async: boolean }
  | { readonly kind: 'corrupt'; readonly reason: string };

const MISS: Lookup = { kind: 'miss' };

/** One task's folder in one cache. */
export class TaskFolder {
  readonly path: string;
  /**
   * Whether this thread has vetted the root (trust.ts). Reads then vet the task folder, the
   * entry and its file on every call: an entry is known by its place (its key is its folder
   * name), so anyone who could rename things inside a task folder could swap one result for
   * another. The root holds only task folders, and whatever someone put there instead of one
   * shows at that folder's own check (its owner, or a link). Writes vet the root every time.
   */
  private rootVetted = false;

  constructor(
    readonly root: string,
    readonly task: TaskId,
  ) {
    this.path = join(root, taskFolderName(task));
  }

  entryPath(key: string): string {
    return join(this.path, key);
  }

  /**
   * Read an entry's result. A missing entry is a miss; anything unreadable is `corrupt`.
   * Every step is checked against the trust rules (trust.ts) before it is taken: the root (once
   * per thread, see `rootVetted`), the task folder and the entry without following a link, and
   * `output.bin` on its open descriptor, so a forged or redirected entry is refused
   * (`CacheError`) before a byte of it is deserialized.
   */
  read(key: string): Lookup {
    const entry = this.entryPath(key);
    const output = join(entry, OUTPUT_FILE);
    let bytes: Buffer | undefined;
    try {
      if (!this.rootVetted) {
        if (!trustRoot(this.root, false)) return MISS;
        this.rootVetted = true;
      }
      if (!inspectPath(this.path, 'task folder')) return MISS;
      if (!inspectPath(entry, 'cache entry')) return MISS;
      bytes = readInside(output, 'cache file');
      if (bytes === undefined) {
        // A complete entry is renamed into place whole, so its output should be there. It may
        // have been removed (and perhaps written again) between our two looks: look again.
        if (!inspectPath(entry, 'cache entry')) return MISS;
        bytes = readInside(output, 'cache file');
        if (bytes === undefined) return { kind: 'corrupt', reason: `${OUTPUT_FILE} is missing` };
      }
    } catch (error) {
      if (error instanceof CacheError) throw error;
      return { kind: 'corrupt', reason: String(error) };
    }
    try {
      const { value, async } = decodeOutput(bytes);
      return { kind: 'hit', value, async };
    } catch (error) {
      return { kind: 'corrupt', reason: (error as Error).message };
    }
  }

  /** An entry's metadata; throws when it is missing or damaged, `CacheError` when not safe. */
  readMeta(key: string): EntryMeta {
    const bytes = readInside(join(this.entryPath(key), META_FILE), 'cache file');
    if (bytes === undefined) throw new Error(`${META_FILE} is missing`);
    return parseMeta(bytes.toString('utf8'));
  }

  /** Record a use of the entry (its folder's mtime); a vanished entry is not an error. */
  touch(key: string): void {
    const now = new Date();
    try {
      lutimesSync(this.entryPath(key), now, now); // never through a link
    } catch {
      // Removed meanwhile by eviction or by another process replacing it: nothing to record.
    }
  }

  /**
   * Write an entry atomically. Returns `'exists'` when another writer put the same key in
   * place first (its entry stays; this copy is dropped).
   */
  write(key: string, output: Buffer, meta: EntryMeta): 'written' | 'exists' {
    // Checked again, not trusted from the lookup: the root may have been made (or swapped)
    // since, and a task folder that is a link would send the write outside the cache.
    trustRoot(this.root, true);
    this.rootVetted = true;
    ensureFolder(this.path, 'task folder');
    this.describeTask();
    const tmp = mkdtempSync(join(this.path, TMP_PREFIX));
    try {
      // 'wx': a fresh file in a fresh owner-only folder; never through anything already there.
      writeFileSync(join(tmp, OUTPUT_FILE), output, { mode: FILE_MODE, flag: 'wx' });
      writeFileSync(join(tmp, META_FILE), `${JSON.stringify(meta, null, 2)}\n`, {
        mode: FILE_MODE,
        flag: 'wx',
      });
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
    const aside = join(this.path, `${TRASH_PREFIX}${nodeCrypto().randomUUID()}`);
    try {
      renameSync(this.entryPath(key), aside);
    } catch (error) {
      if (isCode(error, 'ENOENT')) return; // someone else removed it
      throw error;
    }
    rmSync(aside, { recursive: true, force: true });
  }

  /** Write task.json (atomically, since another process may be writing it too). */
  private describeTask(): void {
    const target = join(this.path, TASK_FILE);
    if (existsSync(target)) return;
    const tmp = join(this.path, `${TMP_PREFIX}${nodeCrypto().randomUUID()}.json`);
    writeFileSync(tmp, `${JSON.stringify(this.task, null, 2)}\n`, { mode: FILE_MODE, flag: 'wx' });
    renameSync(tmp, target);
  }
}
