/**
 * Whole-cache operations: listing entries, clearing, and eviction by size, count and age.
 * They walk the layout described in store.ts and never read results, only file metadata, so
 * they are cheap even for a large cache. Everything is removed by renaming it aside first,
 * so a concurrent reader sees an entry whole or not at all.
 *
 * Each first checks the root (trust.ts): a root someone else controls could be a link to a folder
 * of the user's, whose contents `clear()` would then delete. Inside, nothing is followed: the
 * listing skips links (a `Dirent` describes the link, not its target), sizes come from `lstat`,
 * and renaming or removing a link acts on the link.
 */

import type { Dirent } from 'node:fs';
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeCrypto } from '../builtins.js';
import { STATS_DIR, TASK_FILE, TMP_PREFIX, TRASH_PREFIX } from './store.js';
import { readInside, trustRoot } from './trust.js';

const ENTRY_NAME = /^[0-9a-f]{32}$/;
/** Temporary folders older than this belong to a writer that died: safe to sweep. */
const STALE_TEMP_MS = 60 * 60 * 1000;
/** Counter files of sessions idle this long are swept (their `Memory` is long gone). */
const STALE_SESSION_MS = 7 * 24 * 60 * 60 * 1000;

/** One stored entry, as eviction sees it. */
export interface EntryRecord {
  readonly path: string;
  readonly bytes: number;
  /** Last use, ms since the epoch (the entry folder's mtime). */
  readonly lastUsed: number;
}

/**
 * What one task holds in the cache.
 *
 * @example
 * ```ts
 * for (const t of (await memory.info()).tasks) console.log(t.name, t.entries, t.bytes);
 * ```
 */
export interface TaskCacheInfo {
  /** The task module's URL (from the folder's task.json; undefined if that is unreadable). */
  readonly module: string | undefined;
  readonly name: string | undefined;
  /** The task's folder. */
  readonly folder: string;
  readonly entries: number;
  readonly bytes: number;
  /** When an entry of this task was last written or read. */
  readonly lastUsed: Date | undefined;
}

/**
 * What a cache folder holds, read from disk: every task, whichever process filled it.
 *
 * @example
 * ```ts
 * const { entries, bytes } = await memory.info();
 * ```
 */
export interface MemoryInfo {
  /** The cache folder; `null` for `new Memory(null)`. */
  readonly dir: string | null;
  readonly entries: number;
  readonly bytes: number;
  readonly tasks: TaskCacheInfo[];
}

/**
 * Limits for `memory.reduceSize`; entries are evicted least recently used first until every
 * limit given holds.
 *
 * @example
 * ```ts
 * await memory.reduceSize({ bytes: 1e9, items: 10_000, age: 7 * 86_400_000 });
 * ```
 */
export interface ReduceSizeOptions {
  /** Keep at most this many bytes of entries. */
  bytes?: number;
  /** Keep at most this many entries. */
  items?: number;
  /** Evict entries not used for this many ms. */
  age?: number;
}

/**
 * What `memory.reduceSize` did.
 *
 * @example
 * ```ts
 * const { removed, entries } = await memory.reduceSize({ items: 100 });
 * ```
 */
export interface ReduceSizeResult {
  /** Entries evicted. */
  readonly removed: number;
  /** Bytes evicted. */
  readonly removedBytes: number;
  /** Entries left. */
  readonly entries: number;
  /** Bytes left. */
  readonly bytes: number;
}

async function children(path: string): Promise<Dirent[]> {
  try {
    return await readdir(path, { withFileTypes: true });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return [];
    throw error;
  }
}

/** The task folders of a cache (every folder not starting with a dot). */
async function taskFolders(root: string): Promise<string[]> {
  return (await children(root)).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name);
}

async function entryRecord(path: string): Promise<EntryRecord | undefined> {
  try {
    const folder = await lstat(path);
    let bytes = 0;
    for (const file of await children(path)) bytes += (await lstat(join(path, file.name))).size;
    return { path, bytes, lastUsed: folder.mtimeMs };
  } catch {
    return undefined; // removed while we looked
  }
}

async function entriesOf(folder: string): Promise<EntryRecord[]> {
  const records: EntryRecord[] = [];
  for (const d of await children(folder)) {
    if (!d.isDirectory() || !ENTRY_NAME.test(d.name)) continue;
    const record = await entryRecord(join(folder, d.name));
    if (record) records.push(record);
  }
  return records;
}

/** Remove a folder: renamed aside, then deleted. A folder already gone is fine. */
async function removeFolder(path: string, besideIn: string): Promise<void> {
  const aside = join(besideIn, `${TRASH_PREFIX}${nodeCrypto().randomUUID()}`);
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return;
    throw error;
  }
  await rm(aside, { recursive: true, force: true });
}

/** Remove the given task folders, or all of them; hit and miss counts are kept. */
export async function clearFolders(root: string, folders?: readonly string[]): Promise<void> {
  if (!trustRoot(root, false)) return;
  for (const name of folders ?? (await taskFolders(root))) await removeFolder(join(root, name), root);
}

/** Evict least recently used entries until every limit holds. */
export async function reduceSize(
  root: string,
  limits: ReduceSizeOptions,
  keepSession: string,
): Promise<ReduceSizeResult> {
  if (!trustRoot(root, false)) return { removed: 0, removedBytes: 0, entries: 0, bytes: 0 };
  const now = Date.now();
  const all: EntryRecord[] = [];
  for (const name of await taskFolders(root)) {
    const folder = join(root, name);
    all.push(...(await entriesOf(folder)));
    await sweepTemporaries(folder, now);
  }
  await sweepTemporaries(root, now); // task folders that clear() renamed aside
  await sweepSessions(root, keepSession, now);
  // Oldest first; the path breaks ties so the order is the same on every run.
  all.sort((a, b) => a.lastUsed - b.lastUsed || (a.path < b.path ? -1 : 1));
  let bytes = all.reduce((sum, e) => sum + e.bytes, 0);
  let count = all.length;
  let removed = 0;
  let removedBytes = 0;
  for (const entry of all) {
    const tooOld = limits.age !== undefined && now - entry.lastUsed > limits.age;
    const tooMany = limits.items !== undefined && count > limits.items;
    const tooBig = limits.bytes !== undefined && bytes > limits.bytes;
    if (!tooOld && !tooMany && !tooBig) continue;
    await removeFolder(entry.path, join(entry.path, '..'));
    count--;
    bytes -= entry.bytes;
    removed++;
    removedBytes += entry.bytes;
  }
  return { removed, removedBytes, entries: count, bytes };
}

/** Temporary and trash folders left by writers that died. */
async function sweepTemporaries(folder: string, now: number): Promise<void> {
  for (const d of await children(folder)) {
    if (!d.name.startsWith(TMP_PREFIX) && !d.name.startsWith(TRASH_PREFIX)) continue;
    const path = join(folder, d.name);
    try {
      if (now - (await lstat(path)).mtimeMs > STALE_TEMP_MS) await rm(path, { recursive: true, force: true });
    } catch {
      // Gone already.
    }
  }
}

/** Counter folders of sessions that have not counted anything for a week. */
async function sweepSessions(root: string, keep: string, now: number): Promise<void> {
  const stats = join(root, STATS_DIR);
  for (const d of await children(stats)) {
    if (!d.isDirectory() || d.name === keep) continue;
    const path = join(stats, d.name);
    let newest = 0;
    try {
      newest = (await lstat(path)).mtimeMs;
      for (const f of await children(path))
        newest = Math.max(newest, (await lstat(join(path, f.name))).mtimeMs);
    } catch {
      continue;
    }
    if (now - newest > STALE_SESSION_MS) await rm(path, { recursive: true, force: true });
  }
}

/** Describe every task folder of the cache. */
export async function describeCache(root: string): Promise<MemoryInfo> {
  const tasks: TaskCacheInfo[] = [];
  if (!trustRoot(root, false)) return { dir: root, entries: 0, bytes: 0, tasks };
  for (const name of await taskFolders(root)) {
    const folder = join(root, name);
    const records = await entriesOf(folder);
    let module: string | undefined;
    let taskName: string | undefined;
    try {
      const described = JSON.parse(readInside(join(folder, TASK_FILE), 'cache file')?.toString('utf8') ?? '');
      if (typeof described.module === 'string') module = described.module;
      if (typeof described.name === 'string') taskName = described.name;
    } catch {
      // task.json is for people (and never read through a link); the folder counts without it.
    }
    const newest = records.reduce((m, r) => Math.max(m, r.lastUsed), Number.NEGATIVE_INFINITY);
    tasks.push({
      module,
      name: taskName,
      folder,
      entries: records.length,
      bytes: records.reduce((sum, r) => sum + r.bytes, 0),
      lastUsed: records.length > 0 ? new Date(newest) : undefined,
    });
  }
  tasks.sort((a, b) => (a.folder < b.folder ? -1 : 1));
  return {
    dir: root,
    entries: tasks.reduce((n, t) => n + t.entries, 0),
    bytes: tasks.reduce((n, t) => n + t.bytes, 0),
    tasks,
  };
}
