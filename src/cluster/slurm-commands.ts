/**
 * The Slurm commands fanout runs (`sbatch`, `squeue`, `scancel`, `scontrol`) and what it reads
 * from their output. Nothing else in fanout starts a Slurm command, so how they are found, what
 * environment they get and how their failures read are decided here.
 */

import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { SlurmError } from '../errors.js';
import { inheritedEnv } from '../local/exec-argv.js';

export type SlurmCommand = 'sbatch' | 'squeue' | 'scancel' | 'scontrol';

const INSTALL =
  "install Slurm's client commands where this runs (Debian/Ubuntu: apt-get install slurm-client; " +
  "on an HPC cluster, run on a login node or load the site's Slurm module)";

/** A command may wait for the controller (MessageTimeout, 10 s by default, and retries); never forever. */
const COMMAND_TIMEOUT_MS = 120_000;

/**
 * Run a Slurm command, with `input` on its stdin; resolves to its stdout. Rejects with
 * `SlurmError` (ERR_SLURM) when it is not installed or exits with an error. It runs with this
 * process's environment (SLURM_CONF, PATH, ...), which `sbatch` also gives the job it submits;
 * NODE_OPTIONS loses the flags that would make a worker's node run another program.
 */
export function runSlurm(command: SlurmCommand, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { env: inheritedEnv(process.env), timeout: COMMAND_TIMEOUT_MS, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          reject(new SlurmError(command, `\`${command}\` is not on PATH: ${INSTALL}`, { cause: error }));
          return;
        }
        const said = stderr.trim();
        const how = error.killed
          ? `did not finish in ${COMMAND_TIMEOUT_MS / 1000} s`
          : `failed (exit code ${code})`;
        reject(
          new SlurmError(command, `\`${command} ${args.join(' ')}\` ${how}${said ? `: ${said}` : ''}`, {
            cause: error,
            stderr: said,
          }),
        );
      },
    );
    // A command that exits before reading its input must not fail the write (EPIPE).
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

/** One of the user's Slurm jobs, as `squeue` shows it (an array task is one job: `123_4`). */
export interface SlurmJob {
  /** Slurm's id: `<array job>_<index>` for an array task, e.g. `1234_0`. */
  readonly id: string;
  /** Slurm's state: `PENDING`, `RUNNING`, `COMPLETING` (stopping), `SUSPENDED`, ... */
  readonly state: string;
  /** The node it runs on, once it runs. */
  readonly node: string | undefined;
  /** Why it is pending (`Resources`, `Priority`, ...), when it is. */
  readonly reason: string | undefined;
}

/** A job as read here: with its comment, where `slurmWorkers` records which configuration it runs. */
export interface ListedJob extends SlurmJob {
  readonly comment: string;
}

/** id, state, node, reason, and last the comment: the one field a user writes, so it may hold a `|`. */
const FORMAT = '%i|%T|%N|%r|%k';

/** This user's jobs named `name`, one per array task, in every state squeue shows (not finished ones). */
export async function listJobs(name: string): Promise<ListedJob[]> {
  const out = await runSlurm('squeue', [
    '--noheader',
    '--array',
    `--user=${userInfo().username}`,
    `--name=${name}`,
    `--format=${FORMAT}`,
  ]);
  const known = (value: string) =>
    value === '' || value === 'None' || value === '(null)' ? undefined : value;
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', state = '', node = '', reason = '', ...comment] = line
        .split('|')
        .map((field) => field.trim());
      const pending = state === 'PENDING';
      return {
        id,
        state,
        node: pending ? undefined : known(node),
        reason: pending ? known(reason) : undefined,
        comment: known(comment.join('|')) ?? '',
      };
    });
}

/** Submit `script` (a batch script, on stdin) with extra `args`; resolves to the job id. */
export async function submit(script: string, args: readonly string[]): Promise<string> {
  const out = await runSlurm('sbatch', ['--parsable', ...args], script);
  // --parsable prints "<job id>" or "<job id>;<cluster>".
  const id = out.trim().match(/^(\d+)/)?.[1];
  if (id === undefined)
    throw new SlurmError('sbatch', `sbatch printed no job id: ${JSON.stringify(out.trim())}`);
  return id;
}

/** Cancel jobs by id (`123_4`, or a whole array `123`). */
export async function cancel(ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await runSlurm('scancel', [...ids]);
}

/** Cancel every job of this user named `name`. */
export async function cancelNamed(name: string): Promise<void> {
  await runSlurm('scancel', [`--user=${userInfo().username}`, `--name=${name}`]);
}

/** Slurm's default when `scontrol` cannot say. */
const DEFAULT_KILL_WAIT_S = 30;

/**
 * KillWait, in seconds: how long Slurm waits between a job's SIGTERM (scancel, time limit) and
 * its SIGKILL. A worker must hand its jobs back within it.
 */
export async function killWaitSeconds(): Promise<number> {
  try {
    const config = await runSlurm('scontrol', ['show', 'config']);
    const seconds = config.match(/^KillWait\s*=\s*(\d+)/m)?.[1];
    return seconds === undefined ? DEFAULT_KILL_WAIT_S : Number(seconds);
  } catch {
    return DEFAULT_KILL_WAIT_S;
  }
}
