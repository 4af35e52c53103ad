/**
 * `fanout demo heat`: the source documents' coupled case — the 2-D heat equation (Jacobi, a
 * 5-point stencil), where every step needs the neighbouring rows of the step before. The same
 * code runs as one block on the main thread (the serial loop) and as row blocks on `ranks`
 * workers with `pool.spmd`, which exchange their edge rows every step. The two grids must be
 * identical bit for bit (the same operations on the same values, whatever the split): the demo
 * prints both checksums, and the report draws the plate.
 */

import { Pool } from '../api/pool.js';
import { escapeXml } from '../observe/svg.js';
import { cores } from '../options/checks.js';
import { positiveIntegerFlag, UsageError } from '../options/flags.js';
import type { Demo } from './demo.js';
import { printTable, secondsText, timed } from './demo.js';
import { checksum, newPlate } from './heat-grid.js';
import tasks, { heatBlock, TOP } from './heat-tasks.js';

export const heatDemo: Demo = {
  name: 'heat',
  summary: 'the 2-D heat equation: serial vs row blocks on ranks that exchange halos (pool.spmd)',
  flags: { size: { type: 'string' }, steps: { type: 'string' } },
  help: '  --size N       the plate is N × N cells (default 2000)\n  --steps N      Jacobi steps (default 200)',
  async run(flags, { out, workers, quick }) {
    const size = positiveIntegerFlag('size', flags.size as string | undefined, quick ? 300 : 2000);
    const steps = positiveIntegerFlag('steps', flags.steps as string | undefined, quick ? 50 : 200);
    if (size < 3) throw new UsageError(`--size must be at least 3, got ${size}`);
    const ranks = Math.min(
      size - 2,
      workers === 'auto' ? cores() : workers < 0 ? Math.max(1, cores() + 1 + workers) : workers,
    );
    out(`Heat equation: ${size} × ${size} plate, top edge at ${TOP}, ${steps} Jacobi steps; ${ranks} ranks`);
    // Both write their rows into a plate: a plain array for the loop, shared memory for the
    // ranks, which then send nothing back.
    const serial = await timed(async () => {
      const plate = newPlate(size, size);
      await heatBlock(size, size, steps, undefined, plate);
      return plate;
    });
    await using pool = new Pool({ backend: 'threads', workers: ranks });
    await pool.spmd(tasks.heatRank, { ranks }, Math.min(size, 100), Math.min(size, 100), 2); // start the workers
    const spmd = await timed(async () => {
      const plate = newPlate(size, size, true);
      await pool.spmd(tasks.heatRank, { ranks }, size, size, steps, plate);
      return plate;
    });
    const sums = [checksum(serial.value, size, size), checksum(spmd.value, size, size)];
    const agree = sums[0]?.sha256 === sums[1]?.sha256;
    const columns = ['variant', 'seconds', 'speedup', 'sum of cells', 'sha256'];
    const rows = [
      [
        'serial loop (one block)',
        secondsText(serial.seconds),
        '1.00×',
        sums[0]?.sum ?? '',
        sums[0]?.sha256.slice(0, 16) ?? '',
      ],
      [
        `pool.spmd, ${ranks} ranks`,
        secondsText(spmd.seconds),
        `${(serial.seconds / spmd.seconds).toFixed(2)}×`,
        sums[1]?.sum ?? '',
        sums[1]?.sha256.slice(0, 16) ?? '',
      ],
    ];
    printTable(out, columns, rows);
    out(
      agree
        ? '  the grids are identical bit for bit (same SHA-256)'
        : '  WARNING: the grids differ between the serial loop and the ranks',
    );
    return {
      title: 'Heat equation (Jacobi, 5-point stencil)',
      subtitle: `${size} × ${size} plate, ${steps} steps: one block on the main thread vs ${ranks} ranks exchanging halo rows through pool.spmd`,
      tables: [{ caption: 'Serial vs ranks', columns, rows }],
      figures: [heatMap(spmd.value, size, steps)],
      notes: [
        agree
          ? 'Both grids have the same SHA-256: splitting the plate changed no bit.'
          : 'The grids differ: this is a bug.',
        'Each rank owns a block of rows; every step it computes and sends its edge rows first, then its other rows while they travel, and then takes its neighbours’ edge rows, worker to worker over MessagePorts.',
      ],
      computed: { agree, sums },
    };
  },
};

/**
 * The plate's hot band as an SVG heat map: heat spreads about one row a step, so only the top
 * rows are warm; they are drawn, each cell the mean of the cells it covers.
 */
function heatMap(grid: Float64Array, size: number, steps: number): string {
  const band = Math.min(size, Math.max(8, Math.ceil(2.5 * Math.sqrt(steps)) + 2));
  const cols = Math.min(size, 160);
  const rows = Math.min(band, 40);
  const cell = 4;
  const rects: string[] = [];
  for (let r = 0; r < rows; r++) {
    const y0 = Math.floor((r * band) / rows);
    const y1 = Math.max(y0 + 1, Math.floor(((r + 1) * band) / rows));
    for (let c = 0; c < cols; c++) {
      const x0 = Math.floor((c * size) / cols);
      const x1 = Math.max(x0 + 1, Math.floor(((c + 1) * size) / cols));
      let sum = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += grid[y * size + x] as number;
      const t = sum / ((y1 - y0) * (x1 - x0)) / TOP;
      rects.push(
        `<rect x="${c * cell}" y="${20 + r * cell}" width="${cell}" height="${cell}" fill="${colour(t)}"/>`,
      );
    }
  }
  const title = `Temperature in the top ${band} rows of ${size} after ${steps} steps (0 blue … ${TOP} red)`;
  return `<svg id="heat-map" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${cols * cell} ${20 + rows * cell}" role="img" aria-label="${escapeXml(title)}"><text x="0" y="14" font-size="12">${escapeXml(title)}</text>${rects.join('')}</svg>`;
}

/** 0 → blue, 0.5 → yellow, 1 → red. */
function colour(t: number): string {
  const v = Math.max(0, Math.min(1, t));
  const [r, g, b] = v < 0.5 ? [510 * v, 510 * v, 255 * (1 - 2 * v)] : [255, 255 * (2 - 2 * v), 0];
  return `rgb(${Math.round(r)},${Math.round(g)},${Math.round(b)})`;
}
