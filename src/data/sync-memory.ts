/**
 * The algorithms of the synchronisation primitives on shared memory (Int32Array cells on a
 * SharedArrayBuffer, `Atomics` only). Each takes the holder's tag explicitly: a thread uses its
 * own (`OWN_TAG`), the caller's broker uses the tag of the process worker it acts for. A lock's
 * word holds its holder's tag, so when that holder's worker dies the pool can find and free it.
 */

import { threadId } from 'node:worker_threads';
import { BarrierBrokenError, InvalidArgValueError, LockNotHeldError, QueueClosedError } from '../errors.js';
import { decodeValue, scratchOf } from './sync-values.js';
import { type Deadline, waitChange } from './sync-wait.js';

/** This thread's tag: its thread id + 1 (the main thread, and the inline backend's tasks, are 1). */
export const OWN_TAG = threadId + 1;
/** Tags of process workers (their broker acts for them): above any thread id. */
export const PROCESS_TAG_BASE = 0x40000000;

// ---- Lock: [0] holder's tag (0: free), [1] waiters ----

export const LOCK_CELLS = 2;

export function lockTry(cells: Int32Array, tag: number): boolean {
  return Atomics.compareExchange(cells, 0, 0, tag) === 0;
}

export async function lockAcquire(cells: Int32Array, tag: number, deadline: Deadline): Promise<void> {
  Atomics.add(cells, 1, 1);
  try {
    for (;;) {
      if (Atomics.compareExchange(cells, 0, 0, tag) === 0) return;
      const holder = Atomics.load(cells, 0);
      if (holder !== 0) await waitChange(cells, 0, holder, deadline);
    }
  } finally {
    Atomics.sub(cells, 1, 1);
  }
}

export function lockRelease(cells: Int32Array, tag: number): void {
  const holder = Atomics.compareExchange(cells, 0, tag, 0);
  if (holder !== tag) {
    throw new LockNotHeldError(
      holder === 0
        ? 'lock.release(): the lock is not held'
        : 'lock.release(): the lock is held by another worker',
    );
  }
  if (Atomics.load(cells, 1) > 0) Atomics.notify(cells, 0, 1);
}

/** Free a lock whose holder's worker died; true when it held it. */
export function lockHolderGone(cells: Int32Array, tag: number): boolean {
  if (Atomics.compareExchange(cells, 0, tag, 0) !== tag) return false;
  Atomics.notify(cells, 0, 1);
  return true;
}

// ---- Semaphore: [0] permits free, [1] waiters, [2] permits in all, then HOLDER_SLOTS pairs
// (holder's tag, permits it holds): when a holder's worker dies its permits are given back.

/** Holders a semaphore keeps count of at once; permits of holders past them are not tracked. */
const HOLDER_SLOTS = 32;
const FIRST_SLOT = 3;
export const SEMAPHORE_CELLS = FIRST_SLOT + 2 * HOLDER_SLOTS;

/** The cell of `tag`'s permit count, claiming a free slot when `claim`; -1 when there is none. */
function holderCell(cells: Int32Array, tag: number, claim: boolean): number {
  for (let i = FIRST_SLOT; i < cells.length; i += 2) if (Atomics.load(cells, i) === tag) return i + 1;
  if (!claim) return -1;
  for (let i = FIRST_SLOT; i < cells.length; i += 2)
    if (Atomics.compareExchange(cells, i, 0, tag) === 0) return i + 1;
  return -1;
}

export function semaphoreTry(cells: Int32Array, tag: number): boolean {
  for (;;) {
    const free = Atomics.load(cells, 0);
    if (free === 0) return false;
    if (Atomics.compareExchange(cells, 0, free, free - 1) === free) break;
  }
  const held = holderCell(cells, tag, true);
  if (held >= 0) Atomics.add(cells, held, 1);
  return true;
}

export async function semaphoreAcquire(cells: Int32Array, tag: number, deadline: Deadline): Promise<void> {
  Atomics.add(cells, 1, 1);
  try {
    while (!semaphoreTry(cells, tag)) await waitChange(cells, 0, 0, deadline);
  } finally {
    Atomics.sub(cells, 1, 1);
  }
}

function givePermitBack(cells: Int32Array): boolean {
  for (;;) {
    const free = Atomics.load(cells, 0);
    if (free >= Atomics.load(cells, 2)) return false;
    if (Atomics.compareExchange(cells, 0, free, free + 1) === free) break;
  }
  if (Atomics.load(cells, 1) > 0) Atomics.notify(cells, 0, 1);
  return true;
}

export function semaphoreRelease(cells: Int32Array, tag: number): void {
  if (!givePermitBack(cells)) {
    throw new LockNotHeldError('semaphore.release(): released more times than acquired');
  }
  // Another holder may release a permit it did not take (a hand-over): only a count above 0 drops.
  const held = holderCell(cells, tag, false);
  if (held >= 0 && Atomics.load(cells, held) > 0) Atomics.sub(cells, held, 1);
}

/** Give back the permits a dead holder held, and free its slot. */
export function semaphoreHolderGone(cells: Int32Array, tag: number): void {
  const held = holderCell(cells, tag, false);
  if (held < 0) return;
  const count = Atomics.exchange(cells, held, 0);
  Atomics.store(cells, held - 1, 0);
  for (let i = 0; i < count; i++) if (!givePermitBack(cells)) break;
}

// ---- Barrier: [0] parties arrived, [1] generation, [2] broken, [3] parties ----

export const BARRIER_CELLS = 4;

function brokenError(): BarrierBrokenError {
  return new BarrierBrokenError(
    'barrier.wait(): the barrier is broken (a party timed out, was aborted or died, or abort() was called)',
  );
}

/** Break the barrier: every party waiting now, and every later wait, gets ERR_BARRIER_BROKEN. */
export function barrierBreak(cells: Int32Array): void {
  Atomics.store(cells, 2, 1);
  // Waiters wait on the generation: moving it wakes them, and they see `broken` first.
  Atomics.add(cells, 1, 1);
  Atomics.notify(cells, 1);
}

/** Arrive and wait for the other parties; resolves to the arrival index (0 … parties − 1). */
export async function barrierWait(cells: Int32Array, deadline: Deadline): Promise<number> {
  if (Atomics.load(cells, 2) !== 0) throw brokenError();
  const generation = Atomics.load(cells, 1);
  const index = Atomics.add(cells, 0, 1);
  if (index + 1 === Atomics.load(cells, 3)) {
    // The last to arrive opens the barrier for this round and resets it for the next.
    Atomics.store(cells, 0, 0);
    Atomics.add(cells, 1, 1);
    Atomics.notify(cells, 1);
    return index;
  }
  for (;;) {
    if (Atomics.load(cells, 2) !== 0) throw brokenError();
    if (Atomics.load(cells, 1) !== generation) return index;
    try {
      await waitChange(cells, 1, generation, deadline);
    } catch (error) {
      // A party that gives up leaves the others one short forever: break the barrier for them.
      barrierBreak(cells);
      throw error;
    }
  }
}

// ---- Counter: one BigInt64 ----

export function counterAdd(cell: BigInt64Array, amount: number): number {
  return Number(Atomics.add(cell, 0, BigInt(amount))) + amount;
}

export function counterGet(cell: BigInt64Array): number {
  return Number(Atomics.load(cell, 0));
}

// ---- Queue: a ring of length-prefixed, v8-serialised values behind a spin lock ----
// Header cells: [0] ring lock, [1] items, [2] head (byte), [3] tail (byte), [4] bytes used,
// [5] closed, [6] puts (moves on each put: getters wait on it), [7] gets (putters wait on it),
// [8] getters waiting, [9] putters waiting (a notify costs ~130 ns: made only when one waits).

export const QUEUE_HEADER_CELLS = 10;
const Q_LOCK = 0;
const Q_ITEMS = 1;
const Q_HEAD = 2;
const Q_TAIL = 3;
const Q_USED = 4;
const Q_CLOSED = 5;
const Q_PUTS = 6;
const Q_GETS = 7;
const Q_GETTERS = 8;
const Q_PUTTERS = 9;

/** Move `cell` on and wake its waiters, if any are counted in `waiting`. */
function signal(header: Int32Array, cell: number, waiting: number): void {
  Atomics.add(header, cell, 1);
  if (Atomics.load(header, waiting) > 0) Atomics.notify(header, cell);
}

/** Wait for `cell` to move from `seen`, counted in `waiting` meanwhile. */
async function waitCounted(
  header: Int32Array,
  cell: number,
  seen: number,
  waiting: number,
  deadline: Deadline,
): Promise<void> {
  Atomics.add(header, waiting, 1);
  try {
    await waitChange(header, cell, seen, deadline);
  } finally {
    Atomics.sub(header, waiting, 1);
  }
}

/** Views of one queue's memory. */
export interface QueueMemory {
  readonly header: Int32Array;
  readonly ring: Uint8Array;
  readonly capacity: number;
}

export function queueMemory(buffer: SharedArrayBuffer, capacity: number): QueueMemory {
  return {
    header: new Int32Array(buffer, 0, QUEUE_HEADER_CELLS),
    ring: new Uint8Array(buffer, 4 * QUEUE_HEADER_CELLS),
    capacity,
  };
}

/**
 * The ring's lock guards a few copies only, so it spins rather than waits: on the main thread
 * nothing else is allowed, and a holder is only ever descheduled, never waiting itself.
 */
function lockRing(header: Int32Array): void {
  while (Atomics.compareExchange(header, Q_LOCK, 0, 1) !== 0) {
    // Spin.
  }
}

function unlockRing(header: Int32Array): void {
  Atomics.store(header, Q_LOCK, 0);
}

function copyIn(ring: Uint8Array, at: number, bytes: Uint8Array): number {
  const first = Math.min(bytes.length, ring.length - at);
  ring.set(bytes.subarray(0, first), at);
  if (first < bytes.length) ring.set(bytes.subarray(first), 0);
  return (at + bytes.length) % ring.length;
}

function copyOut(ring: Uint8Array, at: number, into: Uint8Array): number {
  const first = Math.min(into.length, ring.length - at);
  into.set(ring.subarray(at, at + first), 0);
  if (first < into.length) into.set(ring.subarray(0, into.length - first), first);
  return (at + into.length) % ring.length;
}

function closedError(what: string): QueueClosedError {
  return new QueueClosedError(`${what}: the queue is closed`);
}

/** Put serialised bytes, waiting for room (`bytes` may be the scratch buffer's: copied before any wait). */
export async function queuePut(memory: QueueMemory, encoded: Uint8Array, deadline: Deadline): Promise<void> {
  let bytes = encoded;
  const { header, ring, capacity } = memory;
  const need = 4 + bytes.length;
  if (need > ring.length) {
    throw new InvalidArgValueError(
      `queue.put(): the value takes ${bytes.length} bytes serialised, more than the queue's ${ring.length - 4} (raise its \`bytes\` option)`,
    );
  }
  for (;;) {
    lockRing(header);
    if (header[Q_CLOSED] !== 0) {
      unlockRing(header);
      throw closedError('queue.put()');
    }
    if ((header[Q_ITEMS] as number) < capacity && (header[Q_USED] as number) + need <= ring.length) {
      lengthView.setUint32(0, bytes.length, true);
      let tail = copyIn(ring, header[Q_TAIL] as number, lengthBytes);
      tail = copyIn(ring, tail, bytes);
      header[Q_TAIL] = tail;
      header[Q_USED] = (header[Q_USED] as number) + need;
      header[Q_ITEMS] = (header[Q_ITEMS] as number) + 1;
      unlockRing(header);
      signal(header, Q_PUTS, Q_GETTERS);
      return;
    }
    const gets = Atomics.load(header, Q_GETS);
    unlockRing(header);
    // Other code runs during the wait and may encode into the scratch buffer.
    if (bytes === encoded) bytes = encoded.slice();
    await waitCounted(header, Q_GETS, gets, Q_PUTTERS, deadline);
  }
}

/** A value's length, on its way in or out of the ring (one per thread: no allocation per value). */
const lengthBytes = new Uint8Array(4);
const lengthView = new DataView(lengthBytes.buffer);

/**
 * Take the oldest value, waiting for one (a closed, empty queue throws ERR_QUEUE_CLOSED). Its
 * bytes pass through this thread's scratch buffer and are decoded before anything else runs.
 */
export async function queueGet(memory: QueueMemory, deadline: Deadline): Promise<unknown> {
  const { header, ring } = memory;
  for (;;) {
    lockRing(header);
    if ((header[Q_ITEMS] as number) > 0) {
      let head = copyOut(ring, header[Q_HEAD] as number, lengthBytes);
      const size = lengthView.getUint32(0, true);
      const bytes = scratchOf(size).bytes.subarray(0, size);
      head = copyOut(ring, head, bytes);
      header[Q_HEAD] = head;
      header[Q_USED] = (header[Q_USED] as number) - 4 - size;
      header[Q_ITEMS] = (header[Q_ITEMS] as number) - 1;
      unlockRing(header);
      signal(header, Q_GETS, Q_PUTTERS);
      return decodeValue(bytes);
    }
    const closed = header[Q_CLOSED] !== 0;
    const puts = Atomics.load(header, Q_PUTS);
    unlockRing(header);
    if (closed) throw closedError('queue.get()');
    await waitCounted(header, Q_PUTS, puts, Q_GETTERS, deadline);
  }
}

/** Close: puts fail from now on, gets drain what is left, then fail; every waiter wakes. */
export function queueClose(memory: QueueMemory): void {
  const { header } = memory;
  lockRing(header);
  header[Q_CLOSED] = 1;
  unlockRing(header);
  Atomics.add(header, Q_PUTS, 1);
  Atomics.add(header, Q_GETS, 1);
  Atomics.notify(header, Q_PUTS);
  Atomics.notify(header, Q_GETS);
}

export function queueSize(memory: QueueMemory): number {
  return Atomics.load(memory.header, Q_ITEMS);
}
