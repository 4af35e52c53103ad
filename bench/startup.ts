/**
 * The `startup` row of `npm run bench`: what a tiny script costs as a whole process, the way a
 * user meets it (`time node script.js`). Three scripts in bench/startup/ compute the same ten
 * squares: a plain loop (`serial`: Node's own start and exit, the floor), fanout (import the built
 * package, dist/, a pool of `--workers` threads, one `pool.map`, close) and Piscina (import, the same threads, ten
 * `run`s, destroy). Each is started as a fresh `node` process and timed from spawn to exit, and
 * reports the CPU time its process used, every thread (`cores used` = CPU ÷ wall; `CPU eff.` =
 * the plain loop's CPU ÷ the row's); the three run in rounds whose order alternates, so a burst
 * of load from elsewhere hits them alike, and each row is the median of its runs. Every run's
 * output is checked.
 *
 *   node dist-bench/bench/startup.js [--pairs 10] [--workers N]   (also run by bench/main.ts)
 */

import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { numberOption, parseArgs } from './args.js';
import { versionOf } from './libraries/versions.js';
import type { BenchRecord } from './record.js';
import { ITEMS, square } from './startup/items.js';
import { median, round } from './stats.js';

const SCRIPTS = {
  serial: './startup/serial.js',
  fanout: './startup/fanout.js',
  piscina: './startup/piscina.js',
} as const;
type Library = keyof typeof SCRIPTS;

const EXPECTED = JSON.stringify(ITEMS.map(square));

interface Run {
  /** Spawn to exit. */
  readonly seconds: number;
  /** The process's CPU time, every thread (the script reports it as it exits: reportCpuAtExit). */
  readonly cpuSeconds: number;
}

/** Start `node <script> <workers>`, wait for it to exit: its wall and CPU time in seconds. */
function timeProcess(library: Library, workers: number): Promise<Run> {
  const file = fileURLToPath(new URL(SCRIPTS[library], import.meta.url));
  return new Promise((resolve, reject) => {
    const start = performance.now();
    // A clean environment for the script: no loader or flags of whoever ran the benchmark.
    const child = spawn(process.execPath, [file, String(workers)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const seconds = (performance.now() - start) / 1000;
      if (code !== 0)
        return reject(new Error(`${library} script failed (${signal ?? `exit ${code}`}): ${stderr}`));
      if (stdout.trim() !== EXPECTED)
        return reject(new Error(`${library} script printed ${stdout.trim()}, expected ${EXPECTED}`));
      const cpu = /^cpu ([\d.]+)$/m.exec(stderr)?.[1];
      if (cpu === undefined)
        return reject(new Error(`${library} script did not report its CPU time: ${stderr}`));
      resolve({ seconds, cpuSeconds: Number(cpu) / 1000 });
    });
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // At least 10 rounds: whole-process times on a shared machine vary by tens of percent.
  const rounds = numberOption(args, 'pairs', Math.max(10, numberOption(args, 'repeat', 5)));
  const workers = numberOption(args, 'workers', availableParallelism());
  const samples: Record<Library, number[]> = { serial: [], fanout: [], piscina: [] };
  const cpu: Record<Library, number[]> = { serial: [], fanout: [], piscina: [] };

  // One unmeasured run each: the files are then in the page cache for every measured run.
  for (const library of Object.keys(SCRIPTS) as Library[]) await timeProcess(library, workers);
  for (let r = 0; r < rounds; r++) {
    const order: Library[] = r % 2 === 0 ? ['serial', 'fanout', 'piscina'] : ['piscina', 'fanout', 'serial'];
    for (const library of order) {
      const run = await timeProcess(library, workers);
      samples[library].push(run.seconds);
      cpu[library].push(run.cpuSeconds);
    }
    process.stderr.write(
      `  [startup] round ${r + 1}/${rounds}: serial ${samples.serial.at(-1)?.toFixed(3)} s, ` +
        `fanout ${samples.fanout.at(-1)?.toFixed(3)} s, piscina ${samples.piscina.at(-1)?.toFixed(3)} s\n`,
    );
  }

  const serialSeconds = median(samples.serial);
  // The ratio of each round's pair, then their median: steadier than a ratio of medians when the
  // load changes between rounds.
  const ratio = median(samples.fanout.map((f, i) => f / (samples.piscina[i] as number)));
  const cpuRatio = median(cpu.fanout.map((f, i) => f / (cpu.piscina[i] as number)));
  const serialCpu = median(cpu.serial);
  const record = (library: Library, note: string): BenchRecord => {
    const seconds = median(samples[library]);
    const pool = library === 'serial' ? 1 : workers;
    return {
      workload: 'startup',
      library,
      version: library === 'serial' ? `node ${process.version}` : versionOf(library),
      workers: pool,
      items: ITEMS.length,
      seconds: round(seconds),
      itemsPerSecond: round(ITEMS.length / seconds),
      speedupVsSerial: round(serialSeconds / seconds),
      efficiency: round(serialSeconds / seconds / pool),
      serialSeconds: round(serialSeconds),
      // Here the work is nothing: what the CPU columns show is what starting and stopping cost.
      coresUsed: round(median(cpu[library]) / seconds, 2),
      cpuEfficiency: round(serialCpu / median(cpu[library]), 3),
      samples: samples[library].map((s) => round(s)),
      loadAverage: round(loadavg()[0] as number, 2),
      note,
    };
  };
  const records = [
    record('serial', 'the ten squares in a plain loop: a node process starting and exiting'),
    record(
      'fanout',
      `whole process: import, ${workers} worker threads, pool.map of 10 items, close; ` +
        `${round(ratio, 3)}× Piscina's time and ${round(cpuRatio, 3)}× its CPU time ` +
        `(medians of ${rounds} paired runs' ratios)`,
    ),
    record('piscina', `whole process: import, ${workers} threads, 10 run() calls, destroy`),
  ];
  console.log(JSON.stringify(records));
}

await main();
