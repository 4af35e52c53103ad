/** `fanout demo out-of-core` at a small size: the check passes, the numbers are there, nothing is left behind. */

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { outOfCoreCommand, outOfCoreDemo } from '../src/demos/out-of-core.js';
import { UsageError } from '../src/options/flags.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fanout-chunks-demo-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The column means of the demo's matrix, summed here in one serial pass (compensated sums). */
function exactColumnMeans(rows: number, columns: number): number[] {
  const sums = new Array<number>(columns).fill(0);
  const carries = new Array<number>(columns).fill(0);
  let x = 0x9e3779b9;
  for (let k = 0; k < rows * columns; k++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    const c = k % columns;
    // Kahan: the rounding error of each addition is carried into the next.
    const y = 10 * c + x / 4294967296 - (carries[c] as number);
    const t = (sums[c] as number) + y;
    carries[c] = t - (sums[c] as number) - y;
    sums[c] = t;
  }
  return sums.map((sum) => sum / rows);
}

describe('fanout demo out-of-core', () => {
  it('computes the column means in a capped child process, matches the exact pass, removes its file', async () => {
    const lines: string[] = [];
    const result = await outOfCoreDemo({
      sizeMb: 3,
      columns: 6,
      workers: 2,
      chunkMb: 1,
      heapMb: 256,
      dir,
      out: (line) => lines.push(line),
    });
    assert.ok(result.matches, lines.join('\n'));
    const rows = Math.floor((3 * 1024 * 1024) / 48);
    assert.equal(result.rows, rows);
    assert.equal(result.workers, 2);
    assert.ok(result.maxRelativeDifference < 1e-12);
    // Not the demo's own check: the means recomputed here from what the file holds, by its
    // definition (writeMatrixFile): row-major, column c is 10·c plus the next xorshift32 draw
    // (13, 17, 5; from 0x9e3779b9) over 2³², and the draws run on across rows.
    const expected = exactColumnMeans(rows, 6);
    for (const [c, mean] of result.means.entries()) {
      const exact = expected[c] as number;
      assert.ok(Math.abs(mean - exact) <= 1e-12 * exact, `column ${c}: ${mean} vs ${exact}`);
      // And a draw in [0, 1) averages ½: within 6 standard errors (√(1/12) / √rows).
      assert.ok(Math.abs(exact - (10 * c + 0.5)) < (6 * Math.sqrt(1 / 12)) / Math.sqrt(rows), `column ${c}`);
    }
    assert.ok(result.heapLimit < 512 * 1024 * 1024, 'the child ran with the heap cap');
    assert.ok(result.peakRss > 0 && result.mbPerSecond > 0);
    assert.match(lines.join('\n'), /MB\/s, peak RSS \d+ MB/);
    assert.deepEqual(readdirSync(dir), [], 'the matrix file and its folder are gone');
  });

  it('rejects bad flags with a usage error and prints its usage with --help', async () => {
    await assert.rejects(
      outOfCoreCommand(['--size-mb', '0'], () => {}),
      (error: Error) =>
        error instanceof UsageError && /--size-mb must be a positive integer/.test(error.message),
    );
    await assert.rejects(
      outOfCoreCommand(['--workers', '0'], () => {}),
      { message: /--workers/ },
    );
    await assert.rejects(
      outOfCoreCommand(['--size'], () => {}),
      { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' },
    );
    const lines: string[] = [];
    assert.equal(await outOfCoreCommand(['--help'], (line) => lines.push(line)), 0);
    assert.match(lines.join('\n'), /--size-mb N/);
  });
});
