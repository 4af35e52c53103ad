/**
 * The heat plate's checksum (`fanout demo heat`, the `heat` bench row), as bench/python/heat_mpi.py defines it: the correctly rounded sum
 * of every cell (Python's math.fsum), the SHA-256 of the cells as little-endian float64 row by
 * row, and the values at five points. Equal checksums mean the same grid bit for bit.
 */

import { createHash } from 'node:crypto';
import { shared as sharedArrays } from '../data/shared.js';
import { TOP } from './heat-tasks.js';

export interface HeatChecksum {
  readonly sum: number;
  readonly sha256: string;
  readonly points: readonly { readonly y: number; readonly x: number; readonly value: number }[];
}

/**
 * An NY × NX plate with its fixed edges (the hot top row), for the blocks to write their rows
 * into; `shared` puts it in shared memory, where thread workers write it in place.
 */
export function newPlate(nx: number, ny: number, shared = false): Float64Array {
  const grid = shared ? sharedArrays.float64(nx * ny) : new Float64Array(nx * ny);
  grid.fill(TOP, 0, nx);
  return grid;
}

/** The whole plate from each block's rows: the fixed edges, then every block at its row. */
export function assemble(
  nx: number,
  ny: number,
  blocks: readonly { lo: number; rows: Float64Array }[],
): Float64Array {
  const grid = newPlate(nx, ny);
  for (const b of blocks) grid.set(b.rows, b.lo * nx);
  return grid;
}

export function checksum(grid: Float64Array, nx: number, ny: number): HeatChecksum {
  if (new Uint8Array(new Float64Array([1]).buffer)[7] !== 0x3f)
    throw new Error('heat checksum: a little-endian machine is assumed');
  const at = [
    [1, 1],
    [1, Math.floor(nx / 2)],
    [4, Math.floor(nx / 3)],
    [9, Math.floor(nx / 2)],
    [Math.floor(ny / 2), Math.floor(nx / 2)],
  ].map(([y, x]) => [Math.min(y as number, ny - 1), x as number] as const);
  return {
    sum: fsum(grid),
    sha256: createHash('sha256')
      .update(new Uint8Array(grid.buffer, grid.byteOffset, grid.byteLength))
      .digest('hex'),
    points: at.map(([y, x]) => ({ y, x, value: grid[y * nx + x] as number })),
  };
}

/**
 * The correctly rounded sum of finite values (Shewchuk's exact partial sums, then rounding the
 * way math.fsum does, half-way cases included).
 */
export function fsum(values: ArrayLike<number>): number {
  const partials: number[] = [];
  for (let k = 0; k < values.length; k++) {
    let x = values[k] as number;
    let i = 0;
    for (let j = 0; j < partials.length; j++) {
      let y = partials[j] as number;
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n] as number;
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n] as number;
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  // Half-way between two floats: the partials below decide which way it rounds.
  const next = partials[n - 1];
  if (n > 0 && next !== undefined && ((lo < 0 && next < 0) || (lo > 0 && next > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}
