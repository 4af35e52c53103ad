/**
 * What `slurmWorkers` submits: its options, checked once here, and the batch script they make.
 *
 * The script has the shape of dask-jobqueue's: a header of `#SBATCH` directives (name, one task
 * on one node with its CPUs, memory, time, partition, log file, then the user's own
 * directives), the user's setup lines, and the worker command. Each task of the job array runs
 * one `fanout worker` with `--workers` threads = the CPUs it asked for. The worker replaces the
 * shell (`exec`), so Slurm's signals reach it directly.
 */

import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { inheritedExecArgv } from '../local/exec-argv.js';
import { cliUrl } from '../local/preload.js';
import { nonNegativeInteger, positiveInteger, redactUrl, show } from '../options/checks.js';
import { keysMatch, optionSet, resolveOptions } from '../options/option-set.js';
import { REDIS } from '../options/schema.js';
import { TaskDirectory } from '../redis/identity.js';

/**
 * Options of {@link slurmWorkers}: where the workers take their jobs from, what each one asks
 * Slurm for, and how it is started.
 *
 * @example
 * ```ts
 * const cluster = await slurmWorkers({
 *   redis: 'redis://:s3cret@login1.cluster:6379',
 *   tasks: './dist/tasks.js',
 *   workers: 4,
 *   cpusPerWorker: 8,
 *   mem: '16G',
 *   time: '2:00:00',
 *   partition: 'compute',
 *   sbatch: ['--account=proj42'],
 * });
 * ```
 */
export interface SlurmWorkersOptions {
  /**
   * The Redis server the workers take jobs from, as the pool's `backend.redis`. It reaches the
   * workers in their job script (`FANOUT_REDIS_URL`), never on a command line.
   * @example { redis: 'redis://:s3cret@login1:6379' }
   */
  redis: string;
  /**
   * The task modules the workers run (`fanout worker --tasks`): paths on a file system the
   * compute nodes share, compiled `.js` (or `.ts` with a loader in `command`).
   * @example { tasks: ['./dist/tasks.js', './dist/more-tasks.js'] }
   */
  tasks: string | readonly string[];
  /**
   * The queue, as the pool's `backend.queue`.
   * @default 'fanout'
   * @example { queue: 'weather' }
   */
  queue?: string;
  /**
   * The prefix of the queue's Redis keys, as the pool's `backend.prefix`.
   * @default 'fanout'
   * @example { prefix: 'team-a' }
   */
  prefix?: string;
  /**
   * How many workers (Slurm jobs) there should be once `slurmWorkers` resolves: jobs are
   * submitted or cancelled to reach it. Left out: the jobs already there (none at first) stay,
   * and `scale()` or `adapt()` decide.
   * @example { workers: 4 }
   */
  workers?: number;
  /**
   * CPUs each worker asks for (`--cpus-per-task`), and the threads it runs (`--workers`).
   * @default 1
   * @example { cpusPerWorker: 16 }
   */
  cpusPerWorker?: number;
  /**
   * Memory per worker, as Slurm's `--mem`: megabytes as a number, or `'512M'`, `'16G'`, ...
   * @example { mem: '16G' }
   */
  mem?: string | number;
  /**
   * Each worker's time limit, as Slurm's `--time` (`'30'`, `'2:00:00'`, `'1-12'`, ...) or
   * minutes as a number. A worker is told to stop 60–120 s before it (it finishes its running
   * jobs and hands the rest back). Left out: the partition's default.
   * @example { time: '4:00:00' }
   */
  time?: string | number;
  /**
   * The partition (`--partition`). Left out: the cluster's default.
   * @example { partition: 'compute' }
   */
  partition?: string;
  /**
   * More `#SBATCH` directives, one option each, added after fanout's own (so they win).
   * @example { sbatch: ['--account=proj42', '--qos=short', '--constraint=avx2'] }
   */
  sbatch?: readonly string[];
  /**
   * Shell lines the job runs before the worker (load modules, activate an environment).
   * @example { setup: ['module load nodejs/20'] }
   */
  setup?: readonly string[];
  /**
   * The command that runs `fanout`, as words (each is quoted in the script); the job adds
   * `worker` and its flags. Default: this Node.js and this copy of fanout, with this process's
   * loader flags (`--import tsx`), at the same paths: right when the nodes share the file system.
   * @example { command: ['npx', 'fanout'] }
   */
  command?: readonly string[];
  /**
   * More `fanout worker` flags (not the ones set from these options).
   * @example { workerArgs: ['--allow', 'cache', '--lock-duration', '30000'] }
   */
  workerArgs?: readonly string[];
  /**
   * The Slurm job name, which is what identifies these workers: `scale`, `status`, `close`,
   * `fanout slurm status` and `fanout slurm down` act on this user's jobs of this name.
   * @default `fanout-${queue}`
   * @example { name: 'weather-workers' }
   */
  name?: string;
  /**
   * Where each worker's log goes (`<name>-<array job>_<index>.log`); created if missing.
   * @default the working directory
   * @example { logDirectory: './logs' }
   */
  logDirectory?: string;
}

export interface ResolvedSlurmOptions {
  readonly url: string;
  readonly queue: string;
  readonly prefix: string;
  /** Absolute paths. */
  readonly tasks: readonly string[];
  readonly workers: number | undefined;
  readonly cpusPerWorker: number;
  readonly mem: string | undefined;
  readonly time: string | undefined;
  readonly partition: string | undefined;
  readonly sbatch: readonly string[];
  readonly setup: readonly string[];
  readonly command: readonly string[];
  readonly workerArgs: readonly string[];
  readonly name: string;
  /** Absolute. */
  readonly logDirectory: string;
}

/** `fanout worker` flags the script sets from the options: `workerArgs` may not repeat them. */
const SET_BY_SCRIPT: Readonly<Record<string, string>> = {
  '--redis': 'redis',
  '--tasks': 'tasks',
  '--workers': 'cpusPerWorker',
  '--queue': 'queue',
  '--prefix': 'prefix',
};

/** How long before its time limit Slurm signals a worker (`--signal=B:TERM@60`); Slurm may signal up to 60 s earlier. */
export const STOP_BEFORE_LIMIT_S = 60;

function stringList(name: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw new InvalidArgTypeError(`Expected \`${name}\` to be an array of strings, got ${show(value)}`);
  }
  return [...value];
}

function oneLine(name: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new InvalidArgValueError(`\`${name}\` may not contain a line break`);
  return value;
}

function taskFiles(value: unknown): string[] {
  const files = typeof value === 'string' ? [value] : stringList('tasks', value);
  if (files.length === 0) {
    throw new InvalidArgValueError('Expected `tasks` to name at least one task module (a path), got none');
  }
  const absolute = files.map((file) => {
    const path = resolve(file);
    let isFile = false;
    try {
      isFile = statSync(path).isFile();
    } catch {
      // reported below
    }
    if (!isFile) throw new InvalidArgValueError(`\`tasks\`: ${JSON.stringify(file)} is not a file (${path})`);
    return oneLine('tasks', path);
  });
  try {
    new TaskDirectory(absolute);
  } catch (error) {
    throw new InvalidArgValueError(`\`tasks\`: ${(error as Error).message}`);
  }
  return absolute;
}

/** Slurm's `--mem`: megabytes, or a number with a unit K, M, G or T. */
function memory(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return String(positiveInteger('mem', value));
  if (typeof value !== 'string') {
    throw new InvalidArgTypeError(
      `Expected \`mem\` to be megabytes (a number) or a size like '16G', got ${show(value)}`,
    );
  }
  if (!/^[1-9]\d*[KMGT]?$/i.test(value)) {
    throw new InvalidArgValueError(
      `Expected \`mem\` to be a size as Slurm's --mem takes it (512M, 16G, or megabytes), got ${show(value)}`,
    );
  }
  return value;
}

/** Slurm's `--time` formats: minutes, m:s, h:m:s, d-h, d-h:m, d-h:m:s; or minutes as a number. */
function timeLimit(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return String(positiveInteger('time', value));
  if (typeof value !== 'string') {
    throw new InvalidArgTypeError(
      `Expected \`time\` to be a Slurm time limit or minutes, got ${show(value)}`,
    );
  }
  if (!/^(?:\d+(?::\d+){0,2}|\d+-\d+(?::\d+){0,2}|UNLIMITED|INFINITE)$/i.test(value)) {
    throw new InvalidArgValueError(
      "Expected `time` to be a time limit as Slurm's --time takes it (minutes, 'm:s', 'h:m:s', " +
        `'d-h', 'd-h:m' or 'd-h:m:s'), got ${show(value)}`,
    );
  }
  return value;
}

function word(name: string, value: unknown, pattern: RegExp, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw new InvalidArgTypeError(`Expected \`${name}\` to be ${what}, got ${show(value)}`);
  if (!pattern.test(value))
    throw new InvalidArgValueError(`Expected \`${name}\` to be ${what}, got ${show(value)}`);
  return value;
}

/** `slurmWorkers`' options, declared once (see options/option-set.ts). */
const SLURM = optionSet('the options of slurmWorkers', {
  redis: {
    check: (v: unknown, name: string) => oneLine(name, REDIS.specs.redis.check(v, name)),
    required: true as const,
    doc: REDIS.specs.redis.doc,
  },
  tasks: {
    check: (v: unknown) => taskFiles(v),
    required: true as const,
    doc: 'the task modules each worker runs',
  },
  queue: REDIS.specs.queue,
  prefix: REDIS.specs.prefix,
  workers: {
    check: (v: unknown, name: string) => nonNegativeInteger(name, v),
    doc: 'how many workers to submit now',
  },
  cpusPerWorker: {
    check: (v: unknown, name: string) => positiveInteger(name, v),
    default: 1,
    doc: "each worker's CPUs (its --workers threads)",
  },
  mem: { check: (v: unknown) => memory(v), doc: "each worker's memory, as sbatch --mem takes it" },
  time: { check: (v: unknown) => timeLimit(v), doc: "each worker's time limit, as sbatch --time takes it" },
  partition: {
    check: (v: unknown, name: string) =>
      word(name, v, /^[\w.-]+(?:,[\w.-]+)*$/, 'a partition name (or several, comma-separated)'),
    doc: 'the Slurm partition',
  },
  sbatch: {
    check: (v: unknown, name: string) =>
      stringList(name, v).map((directive) => {
        oneLine(name, directive);
        if (!/^-/.test(directive)) {
          throw new InvalidArgValueError(
            `Expected each of \`sbatch\` to be an sbatch option such as '--account=proj42', got ${show(directive)}`,
          );
        }
        return directive;
      }),
    default: [] as string[],
    doc: 'more sbatch directives',
  },
  setup: {
    check: (v: unknown, name: string) => stringList(name, v),
    default: [] as string[],
    doc: 'shell lines run before the worker starts',
  },
  command: {
    check: (v: unknown, name: string) => {
      const command = stringList(name, v);
      if (command.length === 0 || command.some((part) => part === '')) {
        throw new InvalidArgValueError(
          `Expected \`command\` to be the words of a command that runs fanout (e.g. ['npx', 'fanout']), got ${JSON.stringify(command)}`,
        );
      }
      return command.map((part) => oneLine(name, part));
    },
    doc: 'the command that runs fanout on the nodes (default: this one)',
  },
  workerArgs: {
    check: (v: unknown, name: string) =>
      stringList(name, v).map((arg) => {
        const flag = arg.split('=')[0] as string;
        const option = SET_BY_SCRIPT[flag];
        if (option !== undefined) {
          throw new InvalidArgValueError(
            `\`workerArgs\` may not contain ${flag}: it is set from the option \`${option}\``,
          );
        }
        return oneLine(name, arg);
      }),
    default: [] as string[],
    doc: 'more fanout worker flags',
  },
  name: {
    // A job name reaches squeue and scancel as a --name filter, where a comma separates names.
    check: (v: unknown, name: string) =>
      word(name, v, /^[\w.@+-]{1,100}$/, '1 to 100 letters, digits or . _ - + @'),
    doc: "the jobs' name (default: fanout-QUEUE)",
  },
  logDirectory: {
    check: (v: unknown, name: string) =>
      resolve(word(name, v, /^[^%"\r\n]+$/, 'a directory path without % or "') as string),
    doc: 'where each job writes its log',
  },
});
keysMatch<typeof SLURM.specs, SlurmWorkersOptions>(true);

/** Validate `slurmWorkers`' options. Task modules must exist here (the nodes see the same paths). */
export function resolveSlurmOptions(options: SlurmWorkersOptions): ResolvedSlurmOptions {
  const o = resolveOptions(SLURM, options);
  return {
    url: o.redis,
    queue: o.queue,
    prefix: o.prefix,
    tasks: o.tasks,
    workers: o.workers,
    cpusPerWorker: o.cpusPerWorker,
    mem: o.mem,
    time: o.time,
    partition: o.partition,
    sbatch: o.sbatch,
    setup: o.setup,
    command: o.command ?? [process.execPath, ...inheritedExecArgv(), fileURLToPath(cliUrl())],
    workerArgs: o.workerArgs,
    name: o.name ?? `fanout-${o.queue}`,
    logDirectory: o.logDirectory ?? resolve('.'),
  };
}

/** A word for the shell, quoted so that nothing in it is expanded. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A directive value for sbatch, which reads `#SBATCH` lines itself (double quotes group words). */
function directiveValue(value: string): string {
  return /\s/.test(value) ? `"${value}"` : value;
}

/**
 * The batch script of one worker. `graceMs` is the worker's `--grace`: it must hand its jobs
 * back before Slurm's KillWait runs out and SIGKILL follows its SIGTERM.
 */
export function jobScript(options: ResolvedSlurmOptions, graceMs: number): string {
  const directives = [
    `--job-name=${options.name}`,
    '--nodes=1',
    '--ntasks=1',
    `--cpus-per-task=${options.cpusPerWorker}`,
    ...(options.mem === undefined ? [] : [`--mem=${options.mem}`]),
    ...(options.time === undefined ? [] : [`--time=${options.time}`]),
    ...(options.partition === undefined ? [] : [`--partition=${options.partition}`]),
    `--output=${directiveValue(`${options.logDirectory}/%x-%A_%a.log`)}`,
    // B: the batch shell, which `exec` makes the worker itself.
    `--signal=B:TERM@${STOP_BEFORE_LIMIT_S}`,
    ...options.sbatch,
  ];
  const setsGrace = options.workerArgs.some((arg) => arg === '--grace' || arg.startsWith('--grace='));
  const worker = [
    ...options.command.map(shellQuote),
    'worker',
    ...options.tasks.flatMap((file) => ['--tasks', shellQuote(file)]),
    '--workers',
    String(options.cpusPerWorker),
    '--queue',
    options.queue,
    '--prefix',
    options.prefix,
    ...(setsGrace ? [] : ['--grace', String(graceMs)]),
    ...options.workerArgs.map(shellQuote),
  ];
  return [
    '#!/bin/bash',
    ...directives.map((directive) => `#SBATCH ${directive}`),
    '',
    '# One fanout worker per array task. On SIGTERM (scancel, or a minute before the time limit)',
    '# it takes no new job, finishes its running ones (at most --grace ms), hands the rest back.',
    ...options.setup,
    `export FANOUT_REDIS_URL=${shellQuote(options.url)}`,
    `exec ${worker.join(' ')}`,
    '',
  ].join('\n');
}

/**
 * What identifies a configuration among jobs of the same name: a hash of its script, with the
 * Redis password left out (the comment that carries it is visible to every user of the cluster).
 */
export function configHash(options: ResolvedSlurmOptions, graceMs: number): string {
  const script = jobScript({ ...options, url: redactUrl(options.url) }, graceMs);
  return createHash('sha256').update(script).digest('hex').slice(0, 16);
}

/** The worker's `--grace` for a cluster whose KillWait is `killWaitS`: done with 5 s to spare, 1–10 s. */
export function graceFor(killWaitS: number): number {
  return Math.min(10_000, Math.max(1000, (killWaitS - 5) * 1000));
}
