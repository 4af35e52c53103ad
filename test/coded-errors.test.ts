/**
 * Bad input to any public function is a coded error (`error.code`), thrown where the input was
 * given, never a raw TypeError, RangeError or system error from deeper down.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  asCompleted,
  chunks,
  columnMeans,
  columnStats,
  columnVariance,
  Memory,
  Pool,
  parallel,
  parallelConfig,
  randomStream,
  shared,
  taskContext,
  waitFor,
} from '../src/index.js';
import tasks from './fixtures/tasks.js';
import { rejectsWith } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'fanout-coded-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('coded errors where raw ones used to escape', () => {
  it('thrown at once: futures, random streams, shared arrays, statistics, settings, Memory', () => {
    const cases: [string, () => unknown, string][] = [
      ['asCompleted(5)', () => asCompleted(5 as never), 'ERR_INVALID_ARG_TYPE'],
      ['randomStream(NaN, NaN)', () => randomStream(Number.NaN, Number.NaN), 'ERR_INVALID_ARG_VALUE'],
      ['shared.float64(1e15)', () => shared.float64(1e15), 'ERR_INVALID_ARG_VALUE'],
      ['shared.float64(-1)', () => shared.float64(-1), 'ERR_INVALID_ARG_VALUE'],
      ['shared.isShared(null)', () => shared.isShared(null as never), 'ERR_INVALID_ARG_TYPE'],
      ['columnMeans(null)', () => columnMeans(null as never), 'ERR_INVALID_ARG_TYPE'],
      ['columnMeans(minMax)', () => columnMeans(columnStats.minMax.initial as never), 'ERR_INVALID_ARG_TYPE'],
      [
        'columnVariance(sums)',
        () => columnVariance(columnStats.sum.initial as never),
        'ERR_INVALID_ARG_TYPE',
      ],
      ['taskContext() outside a task', () => taskContext(), 'ERR_NO_TASK_CONTEXT'],
      [
        "parallel({ backend: 'unit-testing' })",
        () => parallel({ backend: 'unit-testing' as never }),
        'ERR_INVALID_ARG_VALUE',
      ],
      [
        'parallelConfig with a bad backend',
        () => parallelConfig({ backend: 'gpu' as never }, () => 0),
        'ERR_INVALID_ARG_VALUE',
      ],
      [
        'new Memory(dir, { bogus: 1 })',
        () => new Memory(dir, { bogus: 1 } as never),
        'ERR_INVALID_ARG_VALUE',
      ],
      [
        'resourceLimits.stackSizeMb with processes',
        () => new Pool({ backend: 'processes', resourceLimits: { stackSizeMb: 4 } }),
        'ERR_INVALID_ARG_VALUE',
      ],
    ];
    for (const [what, run, code] of cases) assert.throws(run, { code }, what);
    assert.throws(() => new Pool({ maxWorkerMemory: -1 }), { message: /megabytes/ });
  });

  it('rejected by the call: waitFor, parallel calls that are not iterable', async () => {
    await rejectsWith(waitFor(null as never), 'ERR_INVALID_ARG_TYPE');
    await rejectsWith((async () => parallel({ backend: 'inline' })(5 as never))(), 'ERR_INVALID_ARG_TYPE');
  });

  it('a chunked file that does not exist: ERR_INVALID_ARG_VALUE naming it, ENOENT as the cause', async () => {
    await using pool = new Pool({ backend: 'inline' });
    const missing = join(dir, 'missing.f64');
    const sources = [
      chunks.matrix(missing, { columns: 2 }),
      chunks.csv(missing, { header: true }),
      chunks.ndjson(missing),
    ];
    for (const source of sources) {
      const error = await rejectsWith(
        pool.reduceChunks(source as never, columnStats.count as never),
        'ERR_INVALID_ARG_VALUE',
      );
      assert.match(error.message, /missing\.f64, cannot be used: there is no such file/);
      assert.equal((error.cause as { code?: unknown }).code, 'ENOENT');
    }
  });
});

describe('trace paths', () => {
  it('are checked when the call is made: a missing folder is refused before any work runs', async () => {
    await using pool = new Pool({ backend: 'inline' });
    let batches = 0;
    const error = await rejectsWith(
      pool.map(tasks.square, [1, 2], {
        trace: join(dir, 'no-such-folder', 'trace.json'),
        onBatch: () => batches++,
      }),
      'ERR_INVALID_ARG_VALUE',
    );
    assert.match(error.message, /`trace` is .*no-such-folder.*, but its folder .* does not exist/);
    assert.equal(batches, 0);
    await rejectsWith(pool.map(tasks.square, [1], { trace: dir }), 'ERR_INVALID_ARG_VALUE');
  });

  it('a trace that cannot be written at the end is a warning; the results are kept', async () => {
    const folder = mkdtempSync(join(dir, 'trace-'));
    const file = join(folder, 'trace.json');
    writeFileSync(join(folder, 'placeholder'), '');
    const warnings: (Error & { code?: string })[] = [];
    const listen = (warning: Error & { code?: string }) => warnings.push(warning);
    process.on('warning', listen);
    try {
      await using pool = new Pool({ backend: 'inline' });
      const out = await pool.map(tasks.square, [1, 2, 3], {
        trace: file,
        // The folder goes away while the call runs.
        onBatch: () => rmSync(folder, { recursive: true, force: true }),
      });
      assert.deepEqual(out, [1, 4, 9]);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listen);
    }
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.code, 'FANOUT_TRACE_WRITE');
    assert.match(warnings[0]?.message ?? '', /could not be written to .*trace\.json/);
  });
});
