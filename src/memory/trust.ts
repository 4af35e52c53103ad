/**
 * Whom the cache trusts, and the checks that hold it to that. A stored result is V8-deserialized
 * and returned as the task's own, so whoever can write into a cache decides what its tasks
 * return. The cache therefore trusts exactly one user, the one running it (and, for the folders
 * above the cache, the system's own `root`):
 *
 * - The root must be a folder owned by the current user that neither group nor others may
 *   write, and the path to it must not let anyone else swap it: a folder on the way that anyone
 *   may write needs the sticky bit (as `/tmp` has), and what sits in such a folder must belong
 *   to the user or to `root` (else it may be a planted link or folder). The path is walked once
 *   per thread; the root itself is checked when a thread first reads from it, on every write
 *   and by every whole-cache operation (`clear`, `reduceSize`, `info`, `stats`).
 * - Everything inside is looked at without following links (`lstat`, `O_NOFOLLOW`): a link
 *   anywhere inside is refused, and so is a folder or file that another user owns or that
 *   group or others may write. A file's checks are made on the open descriptor, before a byte of
 *   it is read. The task folder, the entry and its file are checked on every read: an entry is
 *   known by its place (its key is its folder name), so whoever could rename inside a task
 *   folder could swap one call's result for another's.
 * - Folders are created 0o700 and files 0o600, so what one user writes, others cannot change.
 *
 * A refusal is a `CacheError` (`ERR_CACHE`) naming the path, why, and what to do about it. A
 * concurrent writer running as the same user makes only what these checks accept.
 *
 * Windows has no uids and no such permission bits (Node reports `process.geteuid` as undefined
 * and synthesizes modes): there only the "no links inside" rule applies; the folder's ACL is
 * what protects it.
 */

import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  readSync,
  type Stats,
  statSync,
} from 'node:fs';
import { dirname, isAbsolute, join, parse, sep } from 'node:path';
import { CacheError } from '../errors.js';

/** Mode of every folder the cache creates: only the owner may read or change cached results. */
export const DIR_MODE = 0o700;
/** Mode of every file the cache creates. */
export const FILE_MODE = 0o600;

const GROUP_OR_OTHERS_WRITE = 0o022;
const OTHERS_WRITE = 0o002;
const STICKY = 0o1000;
/** Links followed on the way to a root before giving up (Linux's own limit is 40). */
const MAX_LINKS = 40;

/** O_NOFOLLOW where the platform has it (0 on Windows, where `lstat` is checked first). */
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
/** O_NONBLOCK: opening a FIFO found in place of a cache file must not hang (no effect on files). */
const NONBLOCK = constants.O_NONBLOCK ?? 0;
const READ_FLAGS = constants.O_RDONLY | NOFOLLOW | NONBLOCK;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | NOFOLLOW | NONBLOCK;

export function isCode(error: unknown, ...codes: string[]): boolean {
  return codes.includes((error as { code?: unknown } | null)?.code as string);
}

/**
 * The user this process acts as, read once; undefined where there are no uids (Windows). A
 * process that changes its effective uid later fails closed: what the new uid writes is refused.
 */
const ME = process.geteuid?.();
const currentUser = () => ME;

/** The one rule for the root and everything in it: why `stats` cannot be trusted, if it cannot. */
function distrust(stats: Stats, me: number | undefined): string | undefined {
  if (stats.isSymbolicLink()) {
    return 'it is a symbolic link, and the cache never follows links inside it (one could send reads or writes elsewhere)';
  }
  if (me === undefined) return undefined; // Windows: no owners or permission bits to check
  if (stats.uid !== me) return `it belongs to uid ${stats.uid}, not to you (uid ${me})`;
  if ((stats.mode & GROUP_OR_OTHERS_WRITE) !== 0) {
    const who = (stats.mode & OTHERS_WRITE) !== 0 ? 'others' : 'its group';
    return `${who} may write it (mode 0o${(stats.mode & 0o7777).toString(8)})`;
  }
  return undefined;
}

const WHY = 'whoever can write into a cache decides what its tasks return';

function refuseRoot(root: string, reason: string, fix: string): CacheError {
  return new CacheError(`Refusing to use the cache folder ${root}: ${reason}, and ${WHY}. ${fix}`);
}

/** lstat, or undefined when nothing is there. */
function lstatIfAny(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if (isCode(error, 'ENOENT', 'ENOTDIR')) return undefined;
    throw error;
  }
}

function components(path: string): string[] {
  return path
    .slice(parse(path).root.length)
    .split(sep)
    .filter((name) => name !== '' && name !== '.');
}

/**
 * Walk the path to the root as the system resolves it (following links), and refuse one that
 * someone other than the user or `root` could redirect or swap. Folders above the root need not
 * be the user's: their owners and groups are trusted (they could move the cache anyway). Stops
 * at the first part that does not exist.
 */
function checkPathTo(root: string, me: number): void {
  let real = parse(root).root;
  let parent = lstatSync(real);
  const pending = components(root);
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift() as string;
    if (name === '..') {
      real = dirname(real);
      parent = lstatSync(real);
      continue;
    }
    const path = join(real, name);
    const shared = (parent.mode & OTHERS_WRITE) !== 0;
    if (shared && (parent.mode & STICKY) === 0) {
      throw refuseRoot(
        root,
        `anyone may write ${real} on the way to it, which has no sticky bit, so anyone could replace what is below`,
        'Put the cache in a folder others cannot write.',
      );
    }
    const stats = lstatIfAny(path);
    if (stats === undefined) return; // the rest is missing: trustRoot makes it, then walks again
    if (shared && stats.uid !== me && stats.uid !== 0) {
      throw refuseRoot(
        root,
        `${path} on the way to it belongs to uid ${stats.uid} and sits in ${real}, where anyone may create files (it could be a planted link or folder)`,
        'Use a path of your own.',
      );
    }
    if (stats.isSymbolicLink()) {
      if (++links > MAX_LINKS)
        throw refuseRoot(root, `more than ${MAX_LINKS} links lead to it`, 'Use a direct path.');
      const target = readlinkSync(path);
      if (isAbsolute(target)) {
        real = parse(target).root;
        parent = lstatSync(real);
      }
      pending.unshift(...components(target));
      continue;
    }
    real = path;
    parent = stats;
  }
}

/** Roots whose path this thread has walked: the folders above a cache rarely change. */
const walked = new Set<string>();

/**
 * Check the cache root before any use of it; with `create`, make it (0o700) when missing.
 * Returns false when it does not exist and `create` is false.
 *
 * @throws `CacheError` when the root, or the path to it, is not safe to use.
 */
export function trustRoot(root: string, create: boolean): boolean {
  const me = currentUser();
  // Walk first, with lstat: a planted link is refused here, before anything follows it.
  if (me !== undefined && !walked.has(root)) checkPathTo(root, me);
  let stats: Stats | undefined;
  try {
    stats = statSync(root); // follows a link at the root itself, which the walk has vetted
  } catch (error) {
    if (!isCode(error, 'ENOENT')) throw error;
    walked.delete(root);
    if (!create) return false;
    mkdirSync(root, { recursive: true, mode: DIR_MODE });
    if (me !== undefined) checkPathTo(root, me); // what was missing, now made (by us, or first by someone else)
    stats = statSync(root);
  }
  if (me === undefined) return true;
  walked.add(root);
  const reason = distrust(stats, me);
  if (reason !== undefined) {
    const fix =
      stats.uid === me
        ? `If no one else should write it, make it private (\`chmod go-w ${root}\`; fanout creates a missing cache folder 0o700), or use another folder.`
        : 'Use a folder of your own (fanout creates a missing cache folder owner-only).';
    throw refuseRoot(root, reason, fix);
  }
  return true;
}

function refuse(path: string, what: string, reason: string): CacheError {
  return new CacheError(
    `Refusing to use the ${what} ${path}: ${reason}, and ${WHY}. Remove it (fanout writes what it needs again).`,
  );
}

/**
 * Look at a folder or file inside the cache without following a link; refuse it when it is not
 * safe. Undefined when nothing is there.
 */
export function inspectPath(path: string, what: string): Stats | undefined {
  const stats = lstatIfAny(path);
  if (stats === undefined) return undefined;
  const reason = distrust(stats, currentUser());
  if (reason !== undefined) throw refuse(path, what, reason);
  return stats;
}

/** Make an owner-only folder inside the cache unless one is there, and check what is there. */
export function ensureFolder(path: string, what: string): void {
  try {
    mkdirSync(path, { mode: DIR_MODE });
  } catch (error) {
    if (!isCode(error, 'EEXIST')) throw error;
  }
  if (!inspectPath(path, what)?.isDirectory()) throw new Error(`${path} is not a folder`);
}

/**
 * Open without following a final link, then check the open file itself (so what is read is
 * what was checked). A link found there is refused with that reason. Undefined when missing.
 */
function openInside(
  path: string,
  flags: number,
  what: string,
  mode?: number,
): { fd: number; size: number } | undefined {
  if (NOFOLLOW === 0) {
    // No O_NOFOLLOW (Windows): look before opening.
    if (inspectPath(path, what) === undefined && (flags & constants.O_CREAT) === 0) return undefined;
  }
  let fd: number;
  try {
    fd = openSync(path, flags, mode);
  } catch (error) {
    if (isCode(error, 'ENOENT', 'ENOTDIR')) return undefined;
    // ELOOP (EMLINK on some BSDs) is O_NOFOLLOW meeting a link: refuse it with that reason.
    if (isCode(error, 'ELOOP', 'EMLINK')) inspectPath(path, what);
    throw error;
  }
  try {
    const stats = fstatSync(fd);
    const reason = distrust(stats, currentUser());
    if (reason !== undefined) throw refuse(path, what, reason);
    if (!stats.isFile()) throw new Error(`${path} is not a file`);
    return { fd, size: stats.size };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * Read a whole file inside the cache: never through a link, and never one that is not safe (the
 * checks are made on the open file, before it is read). Undefined when it does not exist.
 */
export function readInside(path: string, what: string): Buffer | undefined {
  const opened = openInside(path, READ_FLAGS, what);
  if (opened === undefined) return undefined;
  const { fd, size } = opened;
  try {
    // The size from the check above (readFileSync(fd) would stat the file once more). Cache
    // files are never written in place, so it does not change while it is read.
    const bytes = Buffer.allocUnsafe(size);
    let read = 0;
    while (read < size) {
      const n = readSync(fd, bytes, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
    return read === size ? bytes : bytes.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/** Open (create or truncate) a file inside the cache for writing, never through a link. */
export function openForWriting(path: string, what: string): number {
  const opened = openInside(path, WRITE_FLAGS, what, FILE_MODE);
  if (opened === undefined) throw new Error(`${path} cannot be created`);
  return opened.fd;
}
