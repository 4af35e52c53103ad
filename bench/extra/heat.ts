/**
 * The `heat` row (issue 18): the 2-D heat equation, Jacobi with a 5-point stencil, on a
 * 2000 × 2000 plate for 200 steps — row blocks with halo exchange through `pool.spmd` on 2
 * ranks (threads: the halo rows go worker to worker over MessagePorts), against fanout's own
 * serial loop (the same code, one block, on the main thread), and against mpi4py + numpy on
 * the same grid in the same run (bench/python/heat_mpi.py on 2 ranks, and its 1-rank serial
 * numpy loop). Every run's grid is checked: fanout's serial and SPMD grids and MPI's must have
 * the same checksum (SHA-256 of the cells), or the script fails. Targets: ≥ 1.8× fanout's
 * serial; faster than mpi4py on 2 ranks.
 *
 * Times: fanout's SPMD figure is the whole `pool.spmd` call (start to results, the plate made
 * in shared memory, where the ranks write their final rows); the serial one the whole loop
 * (its plate made, written the same way); MPI's is heat_mpi.py's own (from a
 * barrier to the slowest rank's last step, gathering excluded) — so the comparison leans
 * towards MPI. The in-task time of fanout's slowest rank is in the note, measured as MPI's is.
 *
 *   node --import tsx bench/extra/heat.ts [--nx 2000] [--ny 2000] [--steps 200] [--repeat 3] [--ranks 2] [--no-mpi]
 */

import { loadavg } from 'node:os';
import { checksum, type HeatChecksum, newPlate } from '../../src/demos/heat-grid.js';
import tasks, { heatBlock } from '../../src/demos/heat-tasks.js';
import { Pool } from '../../src/index.js';
import { numberOption, parseArgs } from '../args.js';
import { versionOf } from '../libraries/versions.js';
import { type HeatResult, runHeatMpi } from '../python-refs.js';
import type { BenchRecord } from '../record.js';
import { median, round } from '../stats.js';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const scale = numberOption(args, 'scale', 1);
  const nx = Math.max(3, Math.round(numberOption(args, 'nx', 2000) * Math.sqrt(scale)));
  const ny = Math.max(3, Math.round(numberOption(args, 'ny', 2000) * Math.sqrt(scale)));
  const steps = numberOption(args, 'steps', 200);
  const repeat = numberOption(args, 'repeat', 3);
  const ranks = numberOption(args, 'ranks', 2);
  const log = (line: string) => process.stderr.write(`  [heat] ${line}\n`);

  await using pool = new Pool({ backend: 'threads', workers: ranks });
  // Warm-up: workers started, the module loaded, the stencil optimised on both sides.
  await pool.spmd(tasks.heatRank, { ranks }, 200, 200, 20);
  await heatBlock(200, 200, 20);

  let reference: HeatChecksum | undefined;
  const same = (sum: HeatChecksum, what: string) => {
    reference ??= sum;
    if (sum.sha256 !== reference.sha256)
      throw new Error(
        `heat: ${what} computed another grid (sha256 ${sum.sha256}, expected ${reference.sha256})`,
      );
  };
  const serial: number[] = [];
  const spmd: number[] = [];
  const inTask: number[] = [];
  const exchangeMs: number[] = [];
  // Thread CPU seconds of the work and seconds spent ready but without a core (Linux; empty
  // elsewhere): the serial loop's, and the busiest rank's.
  const serialCpu: number[] = [];
  const serialQueued: number[] = [];
  const rankCpu: number[] = [];
  const rankQueued: number[] = [];
  for (let r = 0; r < repeat; r++) {
    // Both sides write their rows into a plate made in the timed part: a plain array for the
    // serial loop, shared memory for the ranks (nothing sent back).
    const runSerial = async () => {
      const start = performance.now();
      const grid = newPlate(nx, ny);
      const result = await heatBlock(nx, ny, steps, undefined, grid);
      serial.push((performance.now() - start) / 1000);
      if (result.cpuSeconds !== undefined) serialCpu.push(result.cpuSeconds);
      if (result.runQueueSeconds !== undefined) serialQueued.push(result.runQueueSeconds);
      same(checksum(grid, nx, ny), 'the serial loop');
    };
    const runSpmd = async () => {
      const start = performance.now();
      const grid = newPlate(nx, ny, true);
      const results = await pool.spmd(tasks.heatRank, { ranks }, nx, ny, steps, grid);
      spmd.push((performance.now() - start) / 1000);
      inTask.push(Math.max(...results.map((b) => b.seconds)));
      exchangeMs.push((results.reduce((s, b) => s + b.exchangeSeconds, 0) / results.length / steps) * 1000);
      const cpu = results.flatMap((b) => (b.cpuSeconds === undefined ? [] : [b.cpuSeconds]));
      if (cpu.length > 0) rankCpu.push(Math.max(...cpu));
      const queued = results.flatMap((b) => (b.runQueueSeconds === undefined ? [] : [b.runQueueSeconds]));
      if (queued.length > 0) rankQueued.push(Math.max(...queued));
      same(checksum(grid, nx, ny), `pool.spmd on ${ranks} ranks`);
    };
    // Alternate which goes first, so a burst of load from elsewhere hits both alike.
    if (r % 2 === 0) await runSerial().then(runSpmd);
    else await runSpmd().then(runSerial);
    log(
      `run ${r + 1}/${repeat}: serial ${serial.at(-1)?.toFixed(3)} s, spmd ${spmd.at(-1)?.toFixed(3)} s (${(
        (serial.at(-1) as number) / (spmd.at(-1) as number)
      ).toFixed(
        2,
      )}×); CPU s serial ${serialCpu.at(-1)?.toFixed(3)}, busiest rank ${rankCpu.at(-1)?.toFixed(3)}; waiting for a core: serial ${serialQueued.at(-1)?.toFixed(3)} s, rank ${rankQueued.at(-1)?.toFixed(3)} s; load ${(loadavg()[0] as number).toFixed(2)}`,
    );
  }

  const mpi: { ranks: number; result: HeatResult }[] = [];
  const missing: string[] = [];
  if (!args.has('no-mpi')) {
    for (const p of [ranks, 1]) {
      const ref = await runHeatMpi({ ranks: p, nx, ny, steps, verify: false });
      if (ref.missing !== undefined) {
        missing.push(ref.missing);
        break;
      }
      same(ref.result.checksum, `heat_mpi.py on ${p} rank(s)`);
      mpi.push({ ranks: p, result: ref.result });
      log(`${ref.result.library} on ${p} rank(s): ${ref.result.seconds.toFixed(3)} s`);
    }
  }

  const serialSeconds = median(serial);
  const spmdSeconds = median(spmd);
  const mpi2 = mpi.find((m) => m.ranks === ranks)?.result;
  const base = { workload: `heat-${nx}x${ny}x${steps}`, items: steps, serialSeconds: round(serialSeconds) };
  const record = (
    library: string,
    workers: number,
    seconds: number,
    note: string,
    samples?: number[],
  ): BenchRecord => ({
    ...base,
    library,
    workers,
    seconds: round(seconds),
    itemsPerSecond: round(steps / seconds),
    speedupVsSerial: round(serialSeconds / seconds),
    efficiency: round(serialSeconds / seconds / workers),
    loadAverage: round(loadavg()[0] as number, 2),
    ...(samples ? { samples: samples.map((s) => round(s)) } : {}),
    note,
  });
  const records: BenchRecord[] = [
    {
      ...record(
        `fanout spmd (${ranks} ranks)`,
        ranks,
        spmdSeconds,
        `pool.spmd on threads, halo rows over MessagePorts (sent before the interior is computed), final rows written to a shared plate; ${round(serialSeconds / spmdSeconds, 3)}× fanout's serial (target ≥ 1.8)${
          mpi2 ? `; ${round(mpi2.seconds / spmdSeconds, 3)}× as fast as mpi4py on ${ranks} ranks` : ''
        }; slowest rank's steps ${round(median(inTask), 3)} s, waiting for halos ${round(median(exchangeMs), 3)} ms/step${
          rankCpu.length > 0 && serialCpu.length > 0
            ? `; thread CPU s: serial ${round(median(serialCpu), 3)}, busiest rank ${round(median(rankCpu), 3)} (${round(median(serialCpu) / median(rankCpu), 3)}×), waiting for a core: serial ${round(median(serialQueued), 3)} s, rank ${round(median(rankQueued), 3)} s`
            : ''
        }; checksum ${reference?.sha256.slice(0, 12)}`,
        spmd,
      ),
      version: versionOf('fanout'),
    },
    {
      ...record('fanout serial', 1, serialSeconds, 'heatBlock with one block, on the main thread', serial),
      version: versionOf('fanout'),
    },
    ...mpi.map(({ ranks: p, result }) => ({
      ...record(
        p === 1 ? 'numpy serial' : `mpi4py (${p} ranks)`,
        p,
        result.seconds,
        `${result.note ?? ''}${p > 1 ? `, exchange ${round(result.exchangeMsPerStep, 3)} ms/step` : ''}; same checksum`,
      ),
      version: result.version,
    })),
  ];
  for (const m of missing) log(`mpi4py skipped: ${m}`);
  process.stdout.write(`${JSON.stringify(records)}\n`);
}

await main();
