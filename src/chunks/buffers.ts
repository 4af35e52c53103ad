/**
 * A worker's read buffer, reused from chunk to chunk. A fresh 8 MiB buffer per chunk costs about
 * 2 ms of page faults and kernel zeroing, more than reading it from the page cache (measured on
 * the 2-core development VM); one buffer per worker costs that once, and keeps memory at one
 * chunk per worker.
 *
 * A matrix chunk's `data` is a view of the buffer, handed to the map task, so it is valid until
 * the task returns: the next chunk is read into the same memory (as with Go's `bufio.Scanner`).
 * A task that keeps data copies it (`data.slice()`). A result that holds a view of the buffer
 * keeps the buffer, which is then not reused. (Detaching the task's views by transferring the
 * buffer back would catch a kept view, but on Node 20 the transfer makes the next read and sum
 * of the buffer fault its pages in again: +35% CPU per chunk, measured.)
 */

/** A spare buffer unused this long is dropped, so an idle worker does not keep a chunk's memory. */
const IDLE_RELEASE_MS = 1000;

/** Past this many values, a result is assumed to hold the buffer (not worth scanning it all). */
const SCAN_LIMIT = 10_000;

/** Whether `value` holds `buffer` or a view of it, looking through arrays, objects, maps and sets. */
function holds(value: unknown, buffer: ArrayBuffer): boolean {
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const next = stack.pop();
    if (typeof next !== 'object' || next === null || seen.has(next)) continue;
    if (seen.size >= SCAN_LIMIT) return true;
    seen.add(next);
    if (next === buffer) return true;
    if (ArrayBuffer.isView(next)) {
      if (next.buffer === buffer) return true;
      continue;
    }
    if (next instanceof ArrayBuffer) continue;
    if (next instanceof Map) {
      for (const [k, v] of next) stack.push(k, v);
    } else if (next instanceof Set) {
      for (const v of next) stack.push(v);
    } else if (Array.isArray(next)) {
      if (next.length > SCAN_LIMIT) return true;
      for (const v of next) if (typeof v === 'object') stack.push(v);
    } else {
      for (const v of Object.values(next)) stack.push(v);
    }
  }
  return false;
}

export class ReadBuffer {
  private spare: ArrayBuffer | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** A buffer of at least `length` bytes, not zero-filled: the spare one if it is large enough. */
  take(length: number): ArrayBuffer {
    const spare = this.spare;
    if (spare && spare.byteLength >= length) {
      this.spare = undefined;
      return spare;
    }
    // allocUnsafeSlow: an ArrayBuffer of its own (not Buffer's shared pool), from offset 0, so
    // any typed array can view it.
    return Buffer.allocUnsafeSlow(length).buffer as ArrayBuffer;
  }

  /** Keep a buffer nothing outside the reader has seen (text chunks: only strings left it). */
  reuse(buffer: ArrayBuffer): void {
    this.keep(buffer);
  }

  /** Take back a buffer the map task has seen, unless its result holds it (see above). */
  reclaim(buffer: ArrayBuffer, result: unknown): void {
    if (!holds(result, buffer)) this.keep(buffer);
  }

  private keep(buffer: ArrayBuffer): void {
    this.spare = buffer;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.spare = undefined;
    }, IDLE_RELEASE_MS);
    this.timer.unref();
  }
}

/**
 * The read buffer of this thread. A worker runs one chunk at a time, so one spare serves every
 * source; on the inline backend, chunks running at once each take their own (`take` hands the
 * spare to one of them only).
 */
export const readBuffer = new ReadBuffer();
