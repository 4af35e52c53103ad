/**
 * A started call's results, as the facades hand them out: one array (`map`), or an async
 * iterable (`imap`) that starts when iterated.
 */

import { PoolClosedError } from '../errors.js';
import type { CallRun } from '../scheduler/call.js';

/** A call in progress; `finish()` must run when the caller is done with it (progress bar, trace file). */
export interface StartedCall {
  readonly run: CallRun;
  finish(): Promise<void>;
}

/**
 * A call's results as one array, copied chunk by chunk as they arrive (while workers still
 * compute). Preallocated: pushing cost the main thread ~2.5× more per item (48 vs 20 ms for
 * 2,000,000 numbers). The array is made once a sixteenth of the results have arrived, not at the
 * start: allocating 2,000,000 entries takes ~10 ms of the main thread, and while the first, small
 * batches run the workers wait on the main thread for their next ones; by a sixteenth, batches
 * are large and each worker has work queued.
 */
export async function collectResults(started: StartedCall): Promise<unknown[]> {
  try {
    const results = new ResultArray(started.run.total);
    for await (const chunk of started.run.chunks()) results.add(chunk);
    return results.finish();
  } finally {
    await started.finish();
  }
}

/** The results of one call, in input order (see collectResults for when the array is made). */
class ResultArray {
  private array: unknown[] | undefined;
  private readonly early: ArrayLike<unknown>[] = [];
  private arrived = 0;
  private filled = 0;

  constructor(private readonly total: number | undefined) {}

  add(chunk: ArrayLike<unknown>): void {
    if (this.array) {
      this.place(this.array, chunk);
      return;
    }
    this.early.push(chunk);
    this.arrived += chunk.length;
    if (this.total === undefined || this.arrived >= this.total / 16) this.allocate();
  }

  finish(): unknown[] {
    const array = this.array ?? this.allocate();
    array.length = this.filled;
    return array;
  }

  private allocate(): unknown[] {
    const array = resultArray(this.total, this.early[0]);
    this.array = array;
    for (const chunk of this.early) this.place(array, chunk);
    this.early.length = 0;
    return array;
  }

  private place(array: unknown[], chunk: ArrayLike<unknown>): void {
    if (chunk instanceof Float64Array) copyNumbers(array, this.filled, chunk);
    else copyValues(array, this.filled, chunk);
    this.filled += chunk.length;
  }
}

/**
 * An array for `total` results, shaped for the first chunk. When it holds numbers, the array is
 * made as an array of doubles from the start (a one-element double literal, lengthened): `new
 * Array(total)` would make an array of small integers and holes, and the first double written
 * would copy all of it into a double array, a second 16 MB allocation and ~12 ms more at
 * 2,000,000 items. V8 keeps both forms as a flat array up to 32 M entries.
 */
function resultArray(total: number | undefined, first: ArrayLike<unknown> | undefined): unknown[] {
  if (total === undefined) return [];
  if (!(first instanceof Float64Array)) return new Array(total);
  const results: unknown[] = [0.5];
  results.length = total;
  return results;
}

// Two copy loops, one per kind of chunk, so each indexes a single kind of array (one loop over
// both kinds cost ~1.5× as much per item).
function copyNumbers(results: unknown[], at: number, chunk: Float64Array): void {
  for (let i = 0; i < chunk.length; i++) results[at + i] = chunk[i];
}

function copyValues(results: unknown[], at: number, chunk: ArrayLike<unknown>): void {
  for (let i = 0; i < chunk.length; i++) results[at + i] = chunk[i];
}

/** What a stream tells its pool: it runs until `running` settles; `kill` ends it at once. */
export interface StreamTracker {
  track(running: Promise<unknown>, kill: () => Promise<void>): void;
}

/**
 * A prepared call as an async iterable that starts when iterated; its pool tracks it until it
 * ends (see StreamTracker).
 * Written by hand rather than as an async generator: a generator's `yield*` costs several
 * promises per item, and for a stream of cheap items that garbage is most of the memory.
 */
export function streamResults(start: () => StartedCall, tracker: StreamTracker): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]: (): AsyncIterator<unknown> => {
      let finished!: () => void;
      let started: StartedCall | undefined;
      let chunks: AsyncIterator<ArrayLike<unknown>> | undefined;
      let chunk: ArrayLike<unknown> = [];
      let at = 0;
      let ended = false;
      let killed: Error | undefined;
      const end = async () => {
        if (ended) return;
        ended = true;
        try {
          await chunks?.return?.();
        } finally {
          await started?.finish();
          finished();
        }
      };
      tracker.track(
        new Promise<void>((resolve) => {
          finished = resolve;
        }),
        // The pool was terminated: the stream is over even if nobody iterates it any more (an
        // abandoned iterator would otherwise hold terminate() forever); a later pull says why.
        () => {
          killed ??= new PoolClosedError('The pool was terminated');
          chunk = [];
          at = 0;
          return end();
        },
      );
      const pull = async (): Promise<IteratorResult<unknown>> => {
        if (killed) throw killed;
        try {
          if (!chunks) {
            started = start();
            chunks = started.run.chunks();
          }
          for (;;) {
            const step = await chunks.next();
            if (step.done) {
              await end();
              return { done: true, value: undefined };
            }
            chunk = step.value;
            at = 0;
            if (chunk.length > 0) return { done: false, value: chunk[at++] };
          }
        } catch (error) {
          await end();
          throw error;
        }
      };
      return {
        next: () => (at < chunk.length ? Promise.resolve({ done: false, value: chunk[at++] }) : pull()),
        return: async () => {
          chunk = [];
          at = 0;
          await end();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
