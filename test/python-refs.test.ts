/**
 * The Python references of the task-graph and heat rows (bench/python/graph_dask.py under Dask,
 * bench/python/heat_mpi.py under mpirun) compute what their headers say, checked against values
 * computed here independently: the graphs' sums by plain loops, the heat plate by a small Jacobi
 * loop in TypeScript that must match the Python grid bit for bit on 1, 2 and 3 ranks.
 *
 * They need Debian's python3-dask, and python3-mpi4py, python3-numpy and openmpi-bin; without
 * them the tests say SKIPPED loudly, and with FANOUT_REQUIRE_DASK=1 / FANOUT_REQUIRE_MPI=1 (CI)
 * they fail instead.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { it as plainIt } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DASK_INSTALL,
  daskMissing,
  findMpirun,
  findPythonWith,
  type HeatResult,
  MPI_INSTALL,
  mpiMissing,
  type Reference,
  runDaskGraphs,
  runHeatMpi,
} from '../bench/python-refs.js';
import { gate, requirement } from './requirements.js';

const FILE = 'test/python-refs.test.ts';
const dask = gate(
  requirement(FILE, { missing: daskMissing(), env: 'FANOUT_REQUIRE_DASK', install: DASK_INSTALL }),
);
const mpi = gate(
  requirement(FILE, { missing: mpiMissing(), env: 'FANOUT_REQUIRE_MPI', install: MPI_INSTALL }),
);

/** A reference's result; the requirement gates above make it a failure for one to be missing. */
function ran<T>(outcome: Reference<T>): T {
  if (outcome.missing !== undefined) assert.fail(outcome.missing);
  return outcome.result;
}

plainIt('a Python or an mpirun that is not there is reported missing, not run', () => {
  assert.equal(findPythonWith('import fanout_no_such_module_0c3e'), undefined);
  assert.equal(findMpirun('/nonexistent/fanout-mpirun'), undefined);
});

// ---------------------------------------------------------------------------------------------
// Dask: the graphs' values, from plain loops (not the script's formulas).

/** The number of nodes of graph_dask.py's tree over `leaves` leaves, by pairing level by level. */
function treeNodes(leaves: number): number {
  let nodes = leaves;
  for (let level = leaves; level > 1; level = Math.ceil(level / 2)) nodes += Math.floor(level / 2);
  return nodes;
}

function treeSum(leaves: number): number {
  let sum = 0;
  for (let i = 0; i < leaves; i++) sum += i;
  return sum;
}

function pipelineSum(items: number): number {
  let sum = 0;
  for (let i = 0; i < items; i++) sum += 2 * i + 1;
  return sum;
}

dask.describe('Dask reference (bench/python/graph_dask.py)', () => {
  dask.it(
    'sums a 1,000-leaf tree and a 1,000-item pipeline exactly on every scheduler',
    {
      timeout: 300_000,
    },
    async () => {
      const leaves = 1000;
      const items = 1000;
      const { rows, skipped } = ran(await runDaskGraphs({ leaves, items }));
      const distributed = findPythonWith('import distributed') !== undefined;
      const libraries = [
        'python-serial',
        'dask-threads',
        'dask-processes',
        ...(distributed ? ['dask-distributed'] : []),
      ];
      assert.deepEqual(
        rows.map((r) => [r.library, r.workload]),
        [
          ['python-serial', 'graph-tree'],
          ['python-serial', 'graph-pipeline'],
          ...libraries.slice(1).flatMap((l) => [
            [l, 'graph-tree'],
            [l, 'graph-pipeline'],
          ]),
        ],
      );
      assert.deepEqual(
        skipped.map((s) => s.library),
        distributed ? [] : ['dask-distributed'],
      );
      for (const row of rows) {
        const tree = row.workload === 'graph-tree';
        assert.equal(row.items, tree ? leaves : items, `${row.library} ${row.workload}: size`);
        assert.equal(
          row.nodes,
          tree ? treeNodes(leaves) : 2 * items + 1,
          `${row.library} ${row.workload}: nodes`,
        );
        assert.equal(
          row.check,
          tree ? treeSum(leaves) : pipelineSum(items),
          `${row.library} ${row.workload}: value`,
        );
        assert.ok(row.seconds > 0 && row.usPerNode > 0, `${row.library} ${row.workload}: timed`);
      }
    },
  );

  dask.it('exits non-zero when a graph computes a wrong value', { timeout: 120_000 }, () => {
    // The script loaded as a module, its `add` made wrong by one, then run as from the command line.
    const path = fileURLToPath(new URL('../bench/python/graph_dask.py', import.meta.url));
    const code = [
      'import importlib.util, sys',
      `spec = importlib.util.spec_from_file_location("graph_dask", ${JSON.stringify(path)})`,
      'module = importlib.util.module_from_spec(spec)',
      'spec.loader.exec_module(module)',
      'module.add = lambda a, b: a + b + 1',
      'sys.argv = ["graph_dask.py", "--schedulers", "threads", "--workloads", "graph-tree", "--leaves", "10"]',
      'module.cli()',
    ].join('\n');
    const run = spawnSync(findPythonWith('import dask') as string, ['-c', code], { encoding: 'utf8' });
    assert.equal(run.status, 1, run.stderr);
    const wrong = /wrong result: dask-threads graph-tree over (\d+): got (\d+), expected (\d+)/.exec(
      run.stderr,
    );
    assert.ok(wrong, run.stderr);
    const [n, got, expected] = wrong.slice(1).map(Number) as [number, number, number];
    assert.equal(expected, treeSum(n));
    assert.equal(got - expected, n - 1, 'one too many for each add');
  });
});

// ---------------------------------------------------------------------------------------------
// Heat: a TypeScript Jacobi loop written from heat_mpi.py's header.

/** The plate after `steps` steps, row-major (y outer): top row 100, other edges 0, interior 0 at start. */
function jacobi(nx: number, ny: number, steps: number): Float64Array {
  let u = new Float64Array(nx * ny);
  u.fill(100, 0, nx);
  let v = u.slice();
  for (let s = 0; s < steps; s++) {
    for (let y = 1; y < ny - 1; y++) {
      for (let x = 1; x < nx - 1; x++) {
        const i = y * nx + x;
        v[i] =
          0.25 *
          ((u[i - nx] as number) + (u[i + nx] as number) + ((u[i - 1] as number) + (u[i + 1] as number)));
      }
    }
    [u, v] = [v, u];
  }
  return u;
}

function sha256LittleEndian(grid: Float64Array): string {
  const bytes = new DataView(new ArrayBuffer(grid.length * 8));
  for (let i = 0; i < grid.length; i++) bytes.setFloat64(i * 8, grid[i] as number, true);
  return createHash('sha256').update(new Uint8Array(bytes.buffer)).digest('hex');
}

async function heat(ranks: number, nx: number, ny: number, steps: number): Promise<HeatResult> {
  return ran(await runHeatMpi({ ranks, nx, ny, steps }));
}

function assertMatches(result: HeatResult, grid: Float64Array, label: string): void {
  const { nx, ny } = result;
  assert.equal(result.checksum.sha256, sha256LittleEndian(grid), `${label}: every cell, bit for bit`);
  const sum = grid.reduce((a, b) => a + b, 0);
  assert.ok(
    Math.abs(result.checksum.sum - sum) <= 1e-9 * sum,
    `${label}: sum ${result.checksum.sum} vs ${sum}`,
  );
  const expected = [
    [1, 1],
    [1, Math.floor(nx / 2)],
    [4, Math.floor(nx / 3)],
    [9, Math.floor(nx / 2)],
    [Math.floor(ny / 2), Math.floor(nx / 2)],
  ].map(([y, x]) => ({ y: Math.min(y as number, ny - 1), x: x as number }));
  assert.deepEqual(
    result.checksum.points,
    expected.map(({ y, x }) => ({ y, x, value: grid[y * nx + x] })),
    `${label}: points`,
  );
}

mpi.describe('mpi4py heat reference (bench/python/heat_mpi.py)', () => {
  mpi.it(
    '64 × 64 for 10 steps: the same plate on 1 and 2 ranks as a TypeScript Jacobi loop',
    {
      timeout: 120_000,
    },
    async () => {
      const grid = jacobi(64, 64, 10);
      const one = await heat(1, 64, 64, 10);
      const two = await heat(2, 64, 64, 10);
      assert.equal(one.library, 'numpy-serial');
      assert.equal(two.library, 'mpi4py');
      assert.deepEqual(two.checksum, one.checksum);
      assert.equal(two.verified, true);
      assertMatches(one, grid, '1 rank');
      assertMatches(two, grid, '2 ranks');
      assert.ok(
        two.secondsByRank.length === 2 && two.exchangeMsPerStep > 0,
        '2 ranks: timed, with an exchange',
      );
    },
  );

  mpi.it(
    '48 × 21 for 40 steps, where heat crosses every block edge: 1, 2 and 3 ranks agree with it',
    {
      timeout: 120_000,
    },
    async () => {
      // Heat spreads one row a step, so after 40 steps every halo row carries it: a wrong
      // exchange (or an uneven split of 19 rows over 3 ranks done wrong) shows in the grid.
      const grid = jacobi(48, 21, 40);
      assert.ok((grid[19 * 48 + 24] as number) > 0, 'the bottom interior row is warm');
      for (const ranks of [1, 2, 3]) assertMatches(await heat(ranks, 48, 21, 40), grid, `${ranks} ranks`);
    },
  );
});
