/**
 * `fanout slurm up | status | down`: `fanout worker` processes as Slurm jobs, from the shell.
 * The work is done by the library's `slurmWorkers` (cluster/slurm.ts); this module reads flags,
 * prints, and keeps `up --adapt` in the foreground.
 *
 * `status` and `down` find the workers of an earlier `up` by their Slurm job name (`--name`,
 * default fanout-QUEUE) among this user's jobs: nothing is written anywhere, so they work from
 * any shell on any login node, after any crash.
 */

import {
  type SlurmWorkers,
  type SlurmWorkersStatus,
  slurmStatus,
  slurmWorkers,
  stopSlurmJobs,
} from '../cluster/slurm.js';
import { describe, InvalidArgTypeError, InvalidArgValueError, SlurmError } from '../errors.js';
import { keyPartProblem } from '../options/checks.js';
import { nonNegativeIntegerFlag, positiveIntegerFlag, UsageError } from '../options/flags.js';
import { EXIT_HELP, readArgs } from './flags.js';

export const SLURM_USAGE = `Usage: fanout slurm up --redis URL --tasks FILE [--tasks FILE ...] --workers N [options]
       fanout slurm up --redis URL --tasks FILE [...] --adapt MIN:MAX [options]
       fanout slurm status [--queue NAME | --name JOB]
       fanout slurm down [--queue NAME | --name JOB]

Runs 'fanout worker' processes as Slurm jobs (a job array: one worker per array task) for pools
created with { backend: { redis: URL } }. The workers are your Slurm jobs named JOB (default:
fanout-QUEUE): status and down find them by that name, from any shell. Needs sbatch, squeue
and scancel, and task modules at paths the compute nodes share.

  up                      submit or cancel jobs until --workers N are queued or running, then
                          exit (the workers run until 'down' or their --time)
  status                  the workers' jobs: running, pending (and why), stopping
  down                    cancel them and wait until none is left (no job, no process). A
                          worker finishes its running jobs (a few seconds at most) and hands
                          the rest back to the queue: no work is lost

Options of up:
  --redis URL             the Redis the workers take jobs from (default: FANOUT_REDIS_URL); it
                          reaches them in their job script, not on a command line
  --tasks FILE            a task module the workers run; repeat for several
  --workers N             how many workers (jobs)
  --cpus-per-worker C     CPUs each job asks for, and its worker's threads (default: 1)
  --mem M                 memory per worker, as sbatch --mem (512M, 16G)
  --time T                time limit per worker, as sbatch --time (30, 2:00:00, 1-12); a
                          worker is told to stop 1 to 2 minutes before it
  --partition P           the partition (default: the cluster's)
  --sbatch OPTION         another sbatch option for the jobs; repeat for several, written
                          with '=': --sbatch=--account=proj42
  --setup LINE            a shell line the job runs before the worker ('module load nodejs')
  --command CMD           how a job runs fanout, words split at spaces (default: this node and
                          this copy of fanout, at the same paths)
  --log-dir DIR           where the workers' logs go: JOB-ARRAYID_INDEX.log (default: .)
  --queue NAME            the queue, as the pool's backend.queue (default: fanout)
  --prefix NAME           its Redis keys' prefix, as backend.prefix (default: fanout)
  --name JOB              the Slurm job name (default: fanout-QUEUE)
  --adapt MIN:MAX         stay in the foreground and follow the queue: one worker per
                          --cpus-per-worker jobs waiting or running, between MIN and MAX
                          (starts at --workers, or MIN). Ctrl-C or SIGTERM stops adapting
                          and cancels the workers as 'down' does; a second one exits at once
                          and leaves them
  --interval MS           with --adapt: how often the queue and Slurm are read (default: 2000)
  --cooldown MS           with --adapt: how long the queue must ask for fewer workers before
                          some are cancelled (default: 30000)
  -h, --help              show this help

${EXIT_HELP} Here 1 is Slurm failing or refusing (its message is shown).`;

/** Library option names, as flags, for messages about bad flags. */
const FLAG_OF: Readonly<Record<string, string>> = {
  redis: '--redis',
  tasks: '--tasks',
  workers: '--workers',
  cpusPerWorker: '--cpus-per-worker',
  mem: '--mem',
  time: '--time',
  partition: '--partition',
  sbatch: '--sbatch',
  setup: '--setup',
  command: '--command',
  logDirectory: '--log-dir',
  queue: '--queue',
  prefix: '--prefix',
  name: '--name',
  minimum: '--adapt',
  maximum: '--adapt',
  interval: '--interval',
  cooldown: '--cooldown',
};

/** A library option error, as a flag error (exit code 2, with the usage). */
function asFlagError(error: unknown): unknown {
  if (!(error instanceof InvalidArgValueError || error instanceof InvalidArgTypeError)) return error;
  return new UsageError(error.message.replace(/`(\w+)`/g, (whole, name: string) => FLAG_OF[name] ?? whole));
}

const log = (line: string) => process.stderr.write(`fanout slurm: ${line}\n`);

function adaptFlag(value: string | undefined): { minimum: number; maximum: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+):(\d+)$/.exec(value);
  const minimum = Number(match?.[1]);
  const maximum = Number(match?.[2]);
  if (!match || maximum < 1 || minimum > maximum) {
    throw new UsageError(
      `--adapt must be MIN:MAX with 0 <= MIN <= MAX and MAX >= 1, got ${JSON.stringify(value)}`,
    );
  }
  return { minimum, maximum };
}

/** The job name the flags designate: --name, or fanout-QUEUE. */
function jobName(values: { name?: string | undefined; queue?: string | undefined }): string {
  if (values.name !== undefined && values.queue !== undefined) {
    throw new UsageError('give --name or --queue, not both (the name is fanout-QUEUE unless --name sets it)');
  }
  const queue = values.queue ?? 'fanout';
  const problem = keyPartProblem(queue);
  if (problem) throw new UsageError(`--queue must be ${problem}`);
  const name = values.name ?? `fanout-${queue}`;
  if (!/^[\w.@+-]{1,100}$/.test(name)) {
    throw new UsageError(`--name must be 1 to 100 letters, digits or . _ - + @, got ${JSON.stringify(name)}`);
  }
  return name;
}

function printStatus(status: SlurmWorkersStatus): void {
  const lines = [
    `${status.name}: ${status.running} running, ${status.pending} pending, ${status.stopping} stopping`,
  ];
  if (status.jobs.length > 0) {
    const width = Math.max(6, ...status.jobs.map((job) => job.id.length)) + 2;
    lines.push(`${'JOBID'.padEnd(width)}${'STATE'.padEnd(12)}NODE (REASON)`);
    for (const job of status.jobs) {
      const where = job.node ?? (job.reason ? `(${job.reason})` : '');
      lines.push(`${job.id.padEnd(width)}${job.state.padEnd(12)}${where}`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function up(args: string[]): Promise<number> {
  const { values, positionals } = readArgs({
    args,
    allowPositionals: true,
    options: {
      redis: { type: 'string' },
      tasks: { type: 'string', multiple: true },
      workers: { type: 'string' },
      'cpus-per-worker': { type: 'string' },
      mem: { type: 'string' },
      time: { type: 'string' },
      partition: { type: 'string' },
      sbatch: { type: 'string', multiple: true },
      setup: { type: 'string', multiple: true },
      command: { type: 'string' },
      'log-dir': { type: 'string' },
      queue: { type: 'string' },
      prefix: { type: 'string' },
      name: { type: 'string' },
      adapt: { type: 'string' },
      interval: { type: 'string' },
      cooldown: { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const redis = values.redis ?? process.env.FANOUT_REDIS_URL;
  if (redis === undefined || redis === '')
    throw new UsageError('--redis URL is required (or FANOUT_REDIS_URL)');
  if (!values.tasks?.length) throw new UsageError('at least one --tasks FILE is required');
  const adapt = adaptFlag(values.adapt);
  const workers = nonNegativeIntegerFlag('workers', values.workers);
  if (workers === undefined && !adapt) throw new UsageError('--workers N (or --adapt MIN:MAX) is required');
  if (!adapt && (values.interval !== undefined || values.cooldown !== undefined)) {
    throw new UsageError('--interval and --cooldown apply to --adapt only');
  }
  const interval = positiveIntegerFlag('interval', values.interval);
  const cooldown = positiveIntegerFlag('cooldown', values.cooldown);
  const start = adapt ? Math.min(adapt.maximum, Math.max(adapt.minimum, workers ?? adapt.minimum)) : workers;
  let cluster: SlurmWorkers;
  try {
    cluster = await slurmWorkers({
      redis,
      tasks: values.tasks,
      workers: start,
      ...(values['cpus-per-worker'] === undefined
        ? {}
        : { cpusPerWorker: positiveIntegerFlag('cpus-per-worker', values['cpus-per-worker']) }),
      ...(values.mem === undefined ? {} : { mem: values.mem }),
      ...(values.time === undefined ? {} : { time: values.time }),
      ...(values.partition === undefined ? {} : { partition: values.partition }),
      ...(values.sbatch === undefined ? {} : { sbatch: values.sbatch }),
      ...(values.setup === undefined ? {} : { setup: values.setup }),
      ...(values.command === undefined ? {} : { command: values.command.split(' ').filter(Boolean) }),
      ...(values['log-dir'] === undefined ? {} : { logDirectory: values['log-dir'] }),
      ...(values.queue === undefined ? {} : { queue: values.queue }),
      ...(values.prefix === undefined ? {} : { prefix: values.prefix }),
      ...(values.name === undefined ? {} : { name: values.name }),
    });
  } catch (error) {
    throw asFlagError(error);
  }
  const status = await cluster.status();
  printStatus(status);
  if (!adapt) {
    log(
      `${status.name}: ${start} workers asked for; 'fanout slurm status' shows them, 'fanout slurm down' stops them`,
    );
    return 0;
  }
  let stopRequested!: () => void;
  const stopping = new Promise<void>((resolve) => {
    stopRequested = resolve;
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log(`${signal}: cancelling the workers (again to exit now and leave them)`);
      stopRequested();
    } else {
      log(`${signal}: exiting; the workers stay ('fanout slurm down --name ${cluster.name}' stops them)`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    try {
      cluster.adapt({
        ...adapt,
        ...(interval === undefined ? {} : { interval }),
        ...(cooldown === undefined ? {} : { cooldown }),
        onScale: ({ from, to, depth }) => log(`${from} -> ${to} workers (queue depth ${depth})`),
        onError: (error) => log(`adapt: ${describe(error)}`),
      });
    } catch (error) {
      await cluster.close();
      throw asFlagError(error);
    }
    log(`${cluster.name}: adapting between ${adapt.minimum} and ${adapt.maximum} workers; Ctrl-C stops them`);
    await stopping;
    await cluster.close();
    log(`${cluster.name}: down, no worker left`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function byName(args: string[]): string {
  const { values, positionals } = readArgs({
    args,
    allowPositionals: true,
    options: { queue: { type: 'string' }, name: { type: 'string' } },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  return jobName(values);
}

/** `fanout slurm <up|status|down> ...`: resolves to the exit code; flag errors throw UsageError. */
export async function slurmCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (
    sub === undefined ||
    sub === '--help' ||
    sub === '-h' ||
    rest.includes('--help') ||
    rest.includes('-h')
  ) {
    process.stdout.write(`${SLURM_USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  try {
    switch (sub) {
      case 'up':
        return await up(rest);
      case 'status':
        printStatus(await slurmStatus(byName(rest)));
        return 0;
      case 'down': {
        const name = byName(rest);
        const cancelled = await stopSlurmJobs(name);
        log(`${name}: ${cancelled} workers cancelled; no job and no worker process left`);
        return 0;
      }
      default:
        throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}: up, status or down`);
    }
  } catch (error) {
    if (error instanceof SlurmError) {
      log(error.message);
      return 1;
    }
    throw error;
  }
}
