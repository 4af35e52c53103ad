/**
 * The heat equation of `fanout demo heat` and the `heat` bench row (bench/python/heat_mpi.py's
 * header defines the problem; this reproduces it bit for bit): Jacobi steps of the 2-D heat equation on an NY × NX float64 plate, the top row at
 * 100, the other edges at 0, interior rows split in contiguous blocks with a halo row above and
 * below. One code path serves both sides of the comparison: `heatBlock` with one block is the
 * serial loop; `heatRank` runs it as one rank of `pool.spmd`, exchanging halos with its
 * neighbours at every step.
 */

import { readFileSync } from 'node:fs';
import { taskContext } from '../tasks/context.js';
import { defineTasks } from '../tasks/tasks.js';
import type { Comm } from '../types.js';

export const TOP = 100;

/** The interior rows [lo, hi) that `rank` of `size` owns (heat_mpi.py's `block`). */
export function block(ny: number, size: number, rank: number): [number, number] {
  const interior = ny - 2;
  return [1 + Math.floor((rank * interior) / size), 1 + Math.floor(((rank + 1) * interior) / size)];
}

/** One rank's part of the run: its rows of the final grid and how long the steps took. */
export interface BlockResult {
  readonly lo: number;
  /** Rows lo … hi − 1 of the final grid, row-major; empty when they were written to `plate`. */
  readonly rows: Float64Array;
  /** From the start barrier to the end of the last step. */
  readonly seconds: number;
  /** Time spent waiting for the neighbours' halo rows (after the block's own work of the step). */
  readonly exchangeSeconds: number;
  /**
   * Of `seconds`, the CPU time of the thread that ran the steps, and the time it was ready to
   * run but waited for a core (taken by other processes): Linux's per-thread schedstat,
   * undefined where there is none. They tell the work from the machine's load in a benchmark.
   */
  readonly cpuSeconds: number | undefined;
  readonly runQueueSeconds: number | undefined;
}

/** This thread's CPU time and run-queue wait so far, in seconds (Linux), or undefined. */
function threadTimes(): readonly [number, number] | undefined {
  try {
    const [cpu, wait] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ');
    return [Number(cpu) / 1e9, Number(wait) / 1e9];
  } catch {
    return undefined;
  }
}

/**
 * Rows lo − 1 … hi of the plate (the owned rows and the two rows around them), `steps` Jacobi
 * steps; with `comm`, halo rows come from the neighbouring ranks after every step.
 *
 * Each step computes the block's first and last owned rows, sends them, then computes the
 * rows between while the messages travel, and only then waits for the neighbours' rows (MPI's
 * overlap of communication with computation): a neighbour's rows have a whole block of work's
 * time to arrive. The serial loop takes the same steps in the same order without the messages;
 * no cell's arithmetic depends on the order rows are computed in, so every grid is the same.
 * No exchange comes before the first step: every rank's halo rows start as the plate does
 * there (0, or the hot edge for rank 0), as its neighbours would send.
 */
export async function heatBlock(
  nx: number,
  ny: number,
  steps: number,
  comm?: Comm,
  plate?: Float64Array,
): Promise<BlockResult> {
  if (plate !== undefined && plate.length !== nx * ny)
    throw new RangeError(`heat: the plate has ${plate.length} cells, not ${nx} × ${ny}`);
  const rank = comm?.rank ?? 0;
  const size = comm?.size ?? 1;
  const [lo, hi] = block(ny, size, rank);
  const height = hi - lo + 2;
  const first = 1;
  const last = height - 2;
  let u = new Float64Array(height * nx);
  // Local row i is global row lo − 1 + i; global row 0 is the hot edge.
  if (lo === 1) u.fill(TOP, 0, nx);
  let v = u.slice();
  const up = comm && rank > 0 ? rank - 1 : -1;
  const down = comm && rank < size - 1 ? rank + 1 : -1;
  let exchange = 0;
  if (comm) await comm.barrier();
  const start = performance.now();
  const times = threadTimes();
  for (let s = 0; s < steps; s++) {
    // The rows the neighbours need first (one row when the block has one)…
    if (last >= first) rows(u, v, nx, first, first + 1);
    if (last > first) rows(u, v, nx, last, last + 1);
    // …sent (copied, not moved: one detached buffer would make every typed-array access of this
    // thread check for detachment from then on, and the stencil ran ~20% slower; see README)…
    const more = comm !== undefined && s < steps - 1;
    if (more && up >= 0) comm.send(up, v.slice(first * nx, (first + 1) * nx), { tag: 0 });
    if (more && down >= 0) comm.send(down, v.slice(last * nx, (last + 1) * nx), { tag: 1 });
    // …then the rows between, while they travel; then the neighbours' rows into the halos.
    rows(u, v, nx, first + 1, last);
    if (more) {
      const t = performance.now();
      if (down >= 0) v.set(await comm.recv<Float64Array>(down, { tag: 0 }), (height - 1) * nx);
      if (up >= 0) v.set(await comm.recv<Float64Array>(up, { tag: 1 }), 0);
      exchange += performance.now() - t;
    }
    const w = u;
    u = v;
    v = w;
  }
  const seconds = (performance.now() - start) / 1000;
  const end = times && threadTimes();
  const owned = u.subarray(nx, (height - 1) * nx);
  plate?.set(owned, lo * nx);
  return {
    lo,
    rows: plate ? new Float64Array(0) : owned.slice(),
    seconds,
    exchangeSeconds: exchange / 1000,
    cpuSeconds: end && times ? end[0] - times[0] : undefined,
    runQueueSeconds: end && times ? end[1] - times[1] : undefined,
  };
}

/** v's rows [from, to) from u, in heat_mpi.py's order of operations. */
function rows(u: Float64Array, v: Float64Array, nx: number, from: number, to: number): void {
  for (let y = from; y < to; y++) {
    const row = y * nx;
    for (let x = 1; x < nx - 1; x++) {
      const i = row + x;
      v[i] =
        0.25 *
        ((u[i - nx] as number) + (u[i + nx] as number) + ((u[i - 1] as number) + (u[i + 1] as number)));
    }
  }
}

export default defineTasks(import.meta.url, {
  /**
   * One rank of the plate (run by `pool.spmd`). Given a shared `plate` (threads: see
   * `newPlate`), each rank writes its final rows into it instead of sending them back.
   */
  heatRank(nx: number, ny: number, steps: number, plate?: Float64Array): Promise<BlockResult> {
    return heatBlock(nx, ny, steps, taskContext().comm, plate);
  },
});
