/**
 * The Python references for the task-graph rows (issue 17: Dask, bench/python/graph_dask.py) and
 * the heat row (issue 18: mpi4py + numpy under mpirun, bench/python/heat_mpi.py). Each runner
 * returns the script's parsed output, or `{ missing }` saying what this machine lacks, so a
 * benchmark prints that and goes on. The scripts' headers define the graphs and the heat problem
 * exactly; a fanout row mirrors them.
 *
 * Python is the first interpreter that imports what a script needs: `python3` on PATH may be a
 * pyenv shim without Debian's packages, so /usr/bin/python3 is tried too (as bench/joblib.ts does).
 */

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A reference's output, or why it cannot run here (with how to get what is missing). */
export type Reference<T> =
  | { readonly result: T; readonly missing?: undefined }
  | { readonly missing: string };

export const DASK_INSTALL = 'apt-get install python3-dask (optionally python3-distributed)';
export const MPI_INSTALL = 'apt-get install python3-mpi4py python3-numpy openmpi-bin';

// ---------------------------------------------------------------------------------------------
// Finding Python and mpirun (each probe once per process: importing dask takes a second).

const probed = new Map<string, string | undefined>();

/** The path of the first Python that runs `imports` (a Python statement) without error, or undefined. */
export function findPythonWith(imports: string): string | undefined {
  if (probed.has(imports)) return probed.get(imports);
  let found: string | undefined;
  for (const candidate of [process.env.FANOUT_BENCH_PYTHON, 'python3', '/usr/bin/python3', 'python']) {
    if (!candidate) continue;
    const probe = spawnSync(candidate, ['-c', `${imports}; import sys; print(sys.executable)`], {
      encoding: 'utf8',
    });
    if (probe.status === 0) {
      found = probe.stdout.trim() || candidate;
      break;
    }
  }
  probed.set(imports, found);
  return found;
}

/** How to start P ranks: the mpirun command and the flags this MPI needs here. */
export interface MpiLauncher {
  readonly mpirun: string;
  /** Open MPI: --allow-run-as-root when running as root (it refuses otherwise), --oversubscribe. */
  readonly flags: readonly string[];
  /** The first line of `mpirun --version`. */
  readonly version: string;
}

const launchers = new Map<string, MpiLauncher | undefined>();

/** `mpirun` ($FANOUT_BENCH_MPIRUN, else mpirun on PATH) with its flags if it runs, or undefined. */
export function findMpirun(mpirun = process.env.FANOUT_BENCH_MPIRUN || 'mpirun'): MpiLauncher | undefined {
  if (launchers.has(mpirun)) return launchers.get(mpirun);
  const probe = spawnSync(mpirun, ['--version'], { encoding: 'utf8' });
  let launcher: MpiLauncher | undefined;
  if (probe.status === 0) {
    const text = `${probe.stdout}${probe.stderr}`;
    // Open MPI refuses to run as root without --allow-run-as-root, and more ranks than cores
    // without --oversubscribe (which leaves the binding of ranks ≤ cores unchanged); MPICH's
    // mpirun knows neither flag and needs neither.
    const openMpi = /Open MPI|OpenRTE/i.test(text);
    const root = process.getuid?.() === 0;
    launcher = {
      mpirun,
      flags: openMpi ? [...(root ? ['--allow-run-as-root'] : []), '--oversubscribe'] : [],
      version: text.trim().split('\n')[0] ?? '',
    };
  }
  launchers.set(mpirun, launcher);
  return launcher;
}

/** Why the Dask reference cannot run here, or undefined when it can (DASK_INSTALL says how to fix it). */
export function daskMissing(): string | undefined {
  return findPythonWith('import dask') ? undefined : 'no Python here imports dask';
}

/** Why the MPI reference cannot run here, or undefined when it can (MPI_INSTALL says how to fix it). */
export function mpiMissing(): string | undefined {
  const lacks = [
    ...(findPythonWith('from mpi4py import MPI; import numpy')
      ? []
      : ['no Python here imports mpi4py and numpy']),
    ...(findMpirun() ? [] : ['mpirun (or $FANOUT_BENCH_MPIRUN) does not run']),
  ];
  return lacks.length > 0 ? lacks.join(' and ') : undefined;
}

// ---------------------------------------------------------------------------------------------
// Running a script.

function script(name: string): string {
  // Run from source (tsx, as the tests do) or compiled into dist-bench/bench/ (npm run bench).
  const fromSource = fileURLToPath(new URL(`python/${name}`, import.meta.url));
  return existsSync(fromSource)
    ? fromSource
    : fileURLToPath(new URL(`../../bench/python/${name}`, import.meta.url));
}

/**
 * Runs `command`, returns the last line of its stdout parsed as JSON. Its stderr (progress) is
 * copied to ours when `verbose`, and its tail is in the error when it fails.
 */
function runJson<T>(command: string, args: readonly string[], verbose: boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
      if (verbose) process.stderr.write(chunk);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = [command, ...args].join(' ');
      if (code !== 0) return reject(new Error(`${line} exited with ${code ?? signal}:\n${stderr.trim()}`));
      const last = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${line} printed no JSON on its last line: ${JSON.stringify(last.slice(0, 200))}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Dask: graph-tree and graph-pipeline.

export type DaskScheduler = 'threads' | 'processes' | 'distributed';
export type GraphWorkload = 'graph-tree' | 'graph-pipeline';

/** One row of graph_dask.py: a workload on one scheduler (or the plain Python loop, `python-serial`). */
export interface GraphRow {
  readonly workload: GraphWorkload;
  /** 'dask-threads' | 'dask-processes' | 'dask-distributed' | 'python-serial' */
  readonly library: string;
  readonly version: string;
  readonly workers: number;
  /** Leaves (graph-tree) or items (graph-pipeline). */
  readonly items: number;
  /** 2 × items − 1 (tree) or 2 × items + 1 (pipeline). */
  readonly nodes: number;
  /** Building the graph plus computing it (median of the runs). */
  readonly seconds: number;
  readonly buildSeconds?: number;
  readonly computeSeconds?: number;
  readonly usPerNode: number;
  readonly computeUsPerNode?: number;
  /** The graph's value, which the script has checked equals `expected` exactly. */
  readonly check: number;
  readonly expected: number;
  readonly samples?: readonly number[];
  readonly loadAverage: number;
  readonly note: string;
}

export interface GraphResult {
  readonly rows: readonly GraphRow[];
  /** Schedulers asked for but not runnable here (distributed when its package is absent). */
  readonly skipped: readonly { readonly library: string; readonly missing: string }[];
}

export interface DaskGraphOptions {
  readonly schedulers?: readonly DaskScheduler[];
  readonly workloads?: readonly GraphWorkload[];
  /** graph-tree leaves for every scheduler (default: the script's per-scheduler sizes). */
  readonly leaves?: number;
  /** graph-pipeline items for every scheduler (default: the script's per-scheduler sizes). */
  readonly items?: number;
  readonly repeat?: number;
  /** Copy the script's progress lines to stderr. */
  readonly verbose?: boolean;
}

/** Dask's graph-tree and graph-pipeline rows, or why Dask cannot run here. */
export async function runDaskGraphs(options: DaskGraphOptions = {}): Promise<Reference<GraphResult>> {
  const missing = daskMissing();
  const python = findPythonWith('import dask');
  if (missing || !python) return { missing: `${missing}: ${DASK_INSTALL}` };
  const args = [script('graph_dask.py')];
  if (options.schedulers) args.push('--schedulers', options.schedulers.join(','));
  if (options.workloads) args.push('--workloads', options.workloads.join(','));
  if (options.leaves !== undefined) args.push('--leaves', String(options.leaves));
  if (options.items !== undefined) args.push('--items', String(options.items));
  if (options.repeat !== undefined) args.push('--repeat', String(options.repeat));
  const out = await runJson<(GraphRow | { library: string; missing: string })[]>(
    python,
    args,
    options.verbose ?? false,
  );
  const rows: GraphRow[] = [];
  const skipped: { library: string; missing: string }[] = [];
  for (const row of out) {
    if ('missing' in row) skipped.push({ library: row.library, missing: row.missing });
    else rows.push(row);
  }
  return { result: { rows, skipped } };
}

// ---------------------------------------------------------------------------------------------
// mpi4py: heat.

/** heat_mpi.py's output (see its header for the problem and the checksum's definition). */
export interface HeatResult {
  readonly ranks: number;
  readonly nx: number;
  readonly ny: number;
  readonly steps: number;
  /** 'numpy-serial' on one rank, 'mpi4py' on more. */
  readonly library: string;
  readonly version: string;
  /** The slowest rank's time for the steps. */
  readonly seconds: number;
  readonly secondsByRank: readonly number[];
  /** Time inside the halo exchange (send + wait) per step, averaged over ranks. */
  readonly exchangeMsPerStep: number;
  readonly exchangeMsPerStepByRank: readonly number[];
  readonly checksum: {
    /** The correctly rounded sum of every cell. */
    readonly sum: number;
    /** SHA-256 of the cells as little-endian float64, row by row. */
    readonly sha256: string;
    readonly points: readonly { readonly y: number; readonly x: number; readonly value: number }[];
  };
  /** True when rank 0 found the grid identical to the serial one; null on one rank. */
  readonly verified: boolean | null;
  readonly loadAverage: number;
  readonly note: string;
}

export interface HeatOptions {
  readonly ranks: number;
  readonly nx?: number;
  readonly ny?: number;
  readonly steps?: number;
  /** Rank 0 recomputes the grid serially and fails if it differs (default true; untimed). */
  readonly verify?: boolean;
  readonly verbose?: boolean;
}

/** The heat reference on `ranks` MPI ranks (one rank: the serial numpy loop), or why it cannot run here. */
export async function runHeatMpi(options: HeatOptions): Promise<Reference<HeatResult>> {
  if (!Number.isInteger(options.ranks) || options.ranks < 1)
    throw new RangeError(`runHeatMpi: ranks must be a positive integer, got ${options.ranks}`);
  const missing = mpiMissing();
  const python = findPythonWith('from mpi4py import MPI; import numpy');
  const mpi = findMpirun();
  if (missing || !python || !mpi) return { missing: `${missing}: ${MPI_INSTALL}` };
  const args = [...mpi.flags, '-np', String(options.ranks), python, script('heat_mpi.py')];
  if (options.nx !== undefined) args.push('--nx', String(options.nx));
  if (options.ny !== undefined) args.push('--ny', String(options.ny));
  if (options.steps !== undefined) args.push('--steps', String(options.steps));
  if (options.verify === false) args.push('--no-verify');
  return { result: await runJson<HeatResult>(mpi.mpirun, args, options.verbose ?? false) };
}
