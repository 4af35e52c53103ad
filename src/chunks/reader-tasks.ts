/**
 * The worker side of file sources. `reduceChunks` runs the user's map task with a wrapper that
 * names this module and `chunkReader`, with the source's `ReaderSpec` as options; a worker
 * imports this module like a task module and builds, once per source, a function that reads an
 * item's byte range, parses it, and hands the chunk to the map task. So the reading happens
 * where the task runs, one chunk at a time per worker (`oneAtATime`: async items of other tasks
 * overlap in a worker; a reader's would each take a read buffer).
 */

import { defineTasks, oneAtATime } from '../tasks/tasks.js';
import type { AnyFunction } from '../types.js';
import { readBuffer } from './buffers.js';
import { readMatrixChunk, readTextRange } from './read.js';
import { parseCsv, parseNdjson } from './text.js';
import type { ByteRange, ReaderSpec } from './types.js';

export const readerTasks = defineTasks(import.meta.url, {
  /** `(map, spec) => (range) => map(chunk)`: the factory signature of the worker runtime's wrappers. */
  chunkReader(map: AnyFunction, spec: ReaderSpec): AnyFunction {
    switch (spec.kind) {
      case 'matrix':
        return oneAtATime(async (range: ByteRange) => {
          const buffer = readBuffer.take(range.end - range.start);
          const result = await map(await readMatrixChunk(spec, range, buffer));
          readBuffer.reclaim(buffer, result);
          return result;
        });
      case 'ndjson':
      case 'csv':
        return oneAtATime(async (range: ByteRange) => {
          // One byte more than the range: the byte before it tells whether a record starts there.
          const buffer = readBuffer.take(range.end - range.start + 1);
          const { bytes, firstByte } = await readTextRange(spec, range, buffer);
          const records =
            spec.kind === 'ndjson'
              ? parseNdjson(bytes, firstByte, spec.path)
              : parseCsv(bytes, firstByte, spec);
          readBuffer.reuse(buffer); // parsing copied everything out of it
          return map({ records, firstByte });
        });
    }
  },
});

/** The wrapper that makes a map task read file chunks in its worker. */
export const CHUNK_READER = { module: readerTasks.chunkReader.module, name: 'chunkReader' } as const;
