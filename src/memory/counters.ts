/**
 * Hit and miss counts of one `Memory` object, wherever its cached tasks run.
 *
 * Every `Memory` has a random session id that travels with its cached task references. Calls
 * on the thread that owns the `Memory` (local calls, and the inline backend) count straight
 * into the object. A worker thread or process counts into its own small file,
 * `<dir>/.stats/<session>/<host>-<pid>-<thread>`, rewritten in place with one positioned write
 * per call, before the task returns: by the time a pool call has resolved, every count of it
 * is on disk, and `memory.stats()` adds the files to the local counts. Each file has one
 * writer, so no locking is needed.
 */

import { closeSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { nodeOs } from '../builtins.js';
import { CacheError } from '../errors.js';
import { STATS_DIR } from './store.js';
import { ensureFolder, inspectPath, openForWriting, readInside, trustRoot } from './trust.js';

/**
 * Hit and miss counts of a `Memory`, over every thread and process its tasks ran in.
 *
 * @example
 * ```ts
 * const { hits, misses } = await memory.stats();
 * console.log(`${hits} of ${hits + misses} calls came from the cache`);
 * ```
 */
export interface MemoryStats {
  /** Calls answered from the cache. */
  hits: number;
  /** Calls that ran the task (including those that found a corrupt or rejected entry). */
  misses: number;
  /** Entries found damaged, discarded and recomputed (each also counted as a miss). */
  corrupt: number;
  /** Entries rejected by `validate` and recomputed (each also counted as a miss). */
  rejected: number;
}

export interface Counter {
  count(field: keyof MemoryStats): void;
}

const FIELDS = ['hits', 'misses', 'corrupt', 'rejected'] as const;
const RECORD_BYTES = FIELDS.length * 8;

export function emptyStats(): MemoryStats {
  return { hits: 0, misses: 0, corrupt: 0, rejected: 0 };
}

/** Sessions whose `Memory` lives on this thread, held weakly so an unused `Memory` can go. */
const localSessions = new Map<string, WeakRef<MemoryStats>>();
const forget = new FinalizationRegistry<string>((session) => {
  if (localSessions.get(session)?.deref() === undefined) localSessions.delete(session);
});

/** Count this session's calls on this thread straight into `stats`. */
export function registerLocalSession(session: string, stats: MemoryStats): void {
  localSessions.set(session, new WeakRef(stats));
  forget.register(stats, session);
}

const fileCounters = new Map<string, Counter>();

/** The counter of a session on this thread: in memory when its `Memory` is here, else a file. */
export function counterFor(dir: string, session: string): Counter {
  const local = localSessions.get(session)?.deref();
  if (local) {
    return {
      count: (field) => {
        local[field]++;
      },
    };
  }
  let counter = fileCounters.get(`${dir}\0${session}`);
  if (!counter) {
    counter = new FileCounter(dir, session);
    fileCounters.set(`${dir}\0${session}`, counter);
  }
  return counter;
}

class FileCounter implements Counter {
  private readonly stats = emptyStats();
  private readonly record = new Float64Array(FIELDS.length);
  private fd: number | undefined;
  private broken = false;

  constructor(
    private readonly dir: string,
    private readonly session: string,
  ) {}

  count(field: keyof MemoryStats): void {
    this.stats[field]++;
    if (this.broken) return;
    try {
      // Opened once and left open: the file belongs to this thread, which closes it by exiting.
      // An unsafe cache (trust.ts) loses counts here; the lookup that counts has refused it.
      if (this.fd === undefined) {
        trustRoot(this.dir, true);
        const stats = join(this.dir, STATS_DIR);
        ensureFolder(stats, 'counter folder');
        const folder = join(stats, this.session);
        ensureFolder(folder, 'counter folder');
        const host = nodeOs()
          .hostname()
          .replace(/[^\w.-]/g, '_');
        const name = `${host}-${process.pid}-${threadId}`;
        this.fd = openForWriting(join(folder, name), 'counter file');
      }
      FIELDS.forEach((f, i) => {
        this.record[i] = this.stats[f];
      });
      writeSync(this.fd, new Uint8Array(this.record.buffer), 0, RECORD_BYTES, 0);
    } catch {
      // Counting must never fail a task: a full disk loses counts, not results.
      this.broken = true;
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/**
 * Add up a session's counter files (unreadable or partial ones count as zero).
 *
 * @throws `CacheError` when the cache or a counter file in it is not safe to read (trust.ts).
 */
export function readSessionStats(dir: string, session: string, into: MemoryStats): MemoryStats {
  const stats = join(dir, STATS_DIR);
  const folder = join(stats, session);
  if (
    !trustRoot(dir, false) ||
    !inspectPath(stats, 'counter folder') ||
    !inspectPath(folder, 'counter folder')
  ) {
    return into;
  }
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return into;
  }
  for (const name of names) {
    let bytes: Buffer | undefined;
    try {
      bytes = readInside(join(folder, name), 'counter file');
    } catch (error) {
      if (error instanceof CacheError) throw error;
      continue;
    }
    if (bytes === undefined || bytes.byteLength !== RECORD_BYTES) continue;
    FIELDS.forEach((f, i) => {
      into[f] += bytes.readDoubleLE(i * 8);
    });
  }
  return into;
}
