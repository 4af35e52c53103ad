/** `pool.spmd`'s argument checks and the comm's misuse errors (the behaviour is in the conformance suite). */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Pool } from '../src/index.js';
import spmdTasks from './fixtures/spmd-tasks.js';
import { rejectsWith } from './helpers.js';

describe('pool.spmd: arguments', () => {
  let pool: Pool;
  before(() => {
    pool = new Pool({ backend: 'inline', concurrency: 2 });
  });
  after(() => pool.close());

  it('refuses a task that is not a task reference', async () => {
    const error = await rejectsWith(
      pool.spmd((() => 1) as unknown as typeof spmdTasks.ring, {}, 1),
      'ERR_INVALID_ARG_TYPE',
    );
    assert.match(error.message, /pool\.spmd needs a task reference from defineTasks\(\)/);
  });

  it('refuses bad options, naming them', async () => {
    assert.match(
      (await rejectsWith(pool.spmd(spmdTasks.ring, { ranks: 0 }, 1), 'ERR_INVALID_ARG_VALUE')).message,
      /ranks/,
    );
    const unknown = await rejectsWith(
      pool.spmd(spmdTasks.ring, { rank: 2 } as never, 1),
      'ERR_INVALID_ARG_VALUE',
    );
    assert.match(unknown.message, /did you mean `ranks`/);
  });

  it('a misused comm fails its rank with a coded cause: a rank out of range, an unknown op, a short scatter', async () => {
    for (const [kind, pattern] of [
      ['dest', /`dest` to be a rank from 0 to 1 \(the group has 2 ranks\), got 2/],
      ['op', /'sum', 'prod', 'min', 'max' or a function, got "mean"/],
      ['scatter', /one value per rank \(2\)/],
    ] as const) {
      const error = await rejectsWith(pool.spmd(spmdTasks.misuse, {}, kind), 'ERR_TASK_FAILED');
      const cause = error.cause as Error & { code?: string };
      assert.equal(cause.code, 'ERR_INVALID_ARG_VALUE', kind);
      assert.match(cause.message, pattern);
    }
  });

  it('ranks default to the pool size; one rank alone works', async () => {
    assert.deepEqual(await pool.spmd(spmdTasks.ring, {}, 1), [[1], [0]]);
    assert.deepEqual(await pool.spmd(spmdTasks.ring, { ranks: 1 }, 2), [[0, 0]]);
  });
});
