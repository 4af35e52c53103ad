/**
 * Types a user writes against, checked by the compiler (`npm run typecheck` covers test/): each
 * `same<A, B>(true)` line compiles only when A and B are the same type. The calls also run, so
 * the values match what the types say.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  type ChunkSource,
  chunks,
  type Delayed,
  delayed,
  Pool,
  parallel,
  type TextChunk,
} from '../src/index.js';
import chunkTasks from './fixtures/chunk-tasks.js';

/** Whether A and B are the same type (not merely assignable one way). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when `Same<A, B>` is true; returns its argument, for a runtime check too. */
const same = <A, B>(ok: Same<A, B>): boolean => ok;

/** The record type of a chunk source. */
type RecordOf<S> = S extends ChunkSource<TextChunk<infer R>> ? R : never;

describe('types', () => {
  it('parallel() over calls of several tasks returns the union of their results', async () => {
    const pool = new Pool({ backend: 'inline' });
    try {
      const calls: (Delayed<string> | Delayed<number>)[] = [
        delayed((x: number) => `#${x}`)(1),
        delayed((x: number) => x * 2)(2),
      ];
      const results = await parallel({ pool })(calls);
      assert.ok(same<typeof results, (string | number)[]>(true));
      assert.deepEqual(results, ['#1', 4]);

      // One task: its result type, as before.
      const squares = await parallel({ pool })([1, 2].map((x) => delayed((y: number) => y * y)(x)));
      assert.ok(same<typeof squares, number[]>(true));
      assert.deepEqual(squares, [1, 4]);

      const streamed: (string | number)[] = [];
      for await (const r of parallel({ pool, returnAs: 'generator' })(calls)) {
        assert.ok(same<typeof r, string | number>(true));
        streamed.push(r);
      }
      assert.deepEqual(streamed, ['#1', 4]);
    } finally {
      await pool.close();
    }
  });

  it('chunks.csv: the record type follows the options, or is given as the first type argument', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-types-'));
    const file = join(dir, 'weather.csv');
    writeFileSync(file, 'city,temp\nOslo,4\nLima,19\n');
    const pool = new Pool({ backend: 'inline' });
    try {
      const plain = chunks.csv(file);
      assert.ok(same<RecordOf<typeof plain>, string[]>(true));
      const numeric = chunks.csv(file, { header: 'skip', numeric: true });
      assert.ok(same<RecordOf<typeof numeric>, number[]>(true));
      const keyed = chunks.csv(file, { header: true });
      assert.ok(same<RecordOf<typeof keyed>, Record<string, string>>(true));

      interface Row {
        city: string;
        temp: string;
      }
      const typed = chunks.csv<Row>(file, { header: true });
      assert.ok(same<RecordOf<typeof typed>, Row>(true));
      const rows = await pool.reduceChunks(typed, {
        map: chunkTasks.seen,
        combine: (all: unknown[], seen: { records: unknown[] }) => [...all, ...seen.records],
        initial: [] as unknown[],
      });
      assert.deepEqual(rows, [
        { city: 'Oslo', temp: '4' },
        { city: 'Lima', temp: '19' },
      ]);
      // The options are still checked when the row type is given.
      // @ts-expect-error: `header` is a boolean or 'skip'
      assert.throws(() => chunks.csv<Row>(file, { header: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' });
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
