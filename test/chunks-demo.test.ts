/** `fanout demo out-of-core` at a small size: the check passes, the numbers are there, nothing is left behind. */

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UsageError } from '../src/cli/flags.js';
import { outOfCoreCommand, outOfCoreDemo } from '../src/demos/out-of-core.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fanout-chunks-demo-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

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
    assert.equal(result.rows, Math.floor((3 * 1024 * 1024) / 48));
    assert.equal(result.workers, 2);
    assert.ok(result.maxRelativeDifference < 1e-12);
    // Column c holds 10·c plus a uniform draw: its mean is near 10·c + 0.5.
    for (const [c, mean] of result.means.entries()) {
      assert.ok(Math.abs(mean - (10 * c + 0.5)) < 0.05, `column ${c}: ${mean}`);
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
