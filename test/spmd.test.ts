/**
 * `pool.spmd`'s argument checks and the comm's misuse errors (the behaviour is in the conformance
 * suite), and the heat demo's ranks against a plain Jacobi loop.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assemble, newPlate } from '../src/demos/heat-grid.js';
import heat, { heatBlock } from '../src/demos/heat-tasks.js';
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

describe('the heat demo on ranks (src/demos/heat-tasks.ts)', () => {
  /** The plate after `steps` Jacobi steps by the plainest loop: top row 100, other edges 0. */
  function jacobi(nx: number, ny: number, steps: number): Float64Array {
    let u = new Float64Array(nx * ny).fill(100, 0, nx);
    let v = u.slice();
    for (let s = 0; s < steps; s++) {
      for (let i = nx + 1; i < nx * (ny - 1) - 1; i++) {
        if (i % nx === 0 || i % nx === nx - 1) continue;
        v[i] =
          0.25 *
          ((u[i - nx] as number) + (u[i + nx] as number) + ((u[i - 1] as number) + (u[i + 1] as number)));
      }
      [u, v] = [v, u];
    }
    return u;
  }

  it('every cell as the plainest loop has it: the serial loop, and 1–3 ranks with rows sent back or written to a shared plate', async () => {
    // Heat spreads one row a step: after 40 steps it crosses every block edge of 19 rows on 3
    // ranks, so a halo sent a step late, or a row missed by the compute-edges-first order, shows.
    const [nx, ny, steps] = [48, 21, 40];
    const expected = jacobi(nx, ny, steps);
    assert.ok((expected[19 * nx + 24] as number) > 0, 'the bottom interior row is warm');
    const serial = newPlate(nx, ny);
    await heatBlock(nx, ny, steps, undefined, serial);
    assert.deepEqual(serial, expected, 'the serial loop');
    for (const backend of ['threads', 'processes'] as const) {
      await using pool = new Pool({ backend, workers: 3 });
      for (const ranks of [1, 2, 3]) {
        const sent = assemble(nx, ny, await pool.spmd(heat.heatRank, { ranks }, nx, ny, steps));
        assert.deepEqual(sent, expected, `${backend}, ${ranks} ranks, rows sent back`);
        if (backend === 'processes') continue; // no memory to share
        const plate = newPlate(nx, ny, true);
        const results = await pool.spmd(heat.heatRank, { ranks }, nx, ny, steps, plate);
        assert.ok(results.every((r) => r.rows.length === 0));
        assert.deepEqual(new Float64Array(plate), expected, `${backend}, ${ranks} ranks, shared plate`);
      }
    }
  });
});
