/**
 * The worker side of file sources. `reduceChunks` runs the user's map task with a wrapper that
 * names this module and `chunkReader`, with the source's `ReaderSpec` as options; a worker
 * imports this module like a task module and builds, once per source, a function that reads an
 * item's byte range, parses it, and hands the chunk to the map task. So the reading happens
 * where the task runs, one chunk at a time per worker.
 */

import { type AnyFunction, defineTasks } from '../tasks.js';
import { readMatrixChunk, readTextRange } from './read.js';
import { parseCsv, parseNdjson } from './text.js';
import type { ByteRange, ReaderSpec } from './types.js';

export const readerTasks = defineTasks(import.meta.url, {
  /** `(map, spec) => (range) => map(chunk)`: the factory signature of the worker runtime's wrappers. */
  chunkReader(map: AnyFunction, spec: ReaderSpec): AnyFunction {
    switch (spec.kind) {
      case 'matrix':
        return async (range: ByteRange) => map(await readMatrixChunk(spec, range));
      case 'ndjson':
        return async (range: ByteRange) => {
          const { bytes, firstByte } = await readTextRange(spec, range);
          return map({ records: parseNdjson(bytes, firstByte, spec.path), firstByte });
        };
      case 'csv':
        return async (range: ByteRange) => {
          const { bytes, firstByte } = await readTextRange(spec, range);
          return map({ records: parseCsv(bytes, firstByte, spec), firstByte });
        };
    }
  },
});

/** The wrapper that makes a map task read file chunks in its worker. */
export const CHUNK_READER = { module: readerTasks.chunkReader.module, name: 'chunkReader' } as const;
