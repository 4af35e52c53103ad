/**
 * A throwaway single-node Slurm for the tests of `slurmWorkers` and `fanout slurm`: its own
 * munged (own key and socket), slurmctld and slurmd, with a slurm.conf generated in a temporary
 * folder that also holds their state, spool, logs and pid files. Nothing of the machine's
 * /etc/slurm or /etc/munge is read: SLURM_CONF points every Slurm command at this folder.
 *
 * It runs as root without systemd (as CI does). Proven settings: proctrack/linuxproc and
 * task/none (no cgroup plugin), select/cons_tres, `batch_sched_delay=0` (without it every job
 * waits ~3 s pending), no accounting (so jobs are read with squeue), `slurmctld -c` (clean
 * state). The node claims 8 CPUs on any machine (`SlurmdParameters=config_overrides`), so
 * several one-CPU workers run at once on 2 cores.
 *
 * `stop()` cancels every job, waits until they have gone, stops the daemons and deletes the
 * folder. If the test process exits without it, an exit hook does the same synchronously,
 * killing what is left: job processes are found by the SLURM_CONF in their environment, job
 * step daemons (slurmstepd, which Slurm detaches from slurmd) by their working directory, both
 * of which are this folder.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './redis-harness.js';
import { requirement } from './requirements.js';

const DAEMONS = ['munged', 'slurmctld', 'slurmd'] as const;
const CLIENTS = ['sbatch', 'squeue', 'scancel', 'scontrol', 'sinfo'] as const;
const INSTALL = 'apt-get install slurm-wlm munge, and run the tests as root';

/** A command's path: on PATH, or in /usr/sbin where Debian puts the daemons (not on every PATH). */
function locate(command: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  if (found.status === 0 && found.stdout.trim() !== '') return found.stdout.trim();
  return ['/usr/sbin', '/sbin'].map((dir) => join(dir, command)).find((path) => existsSync(path));
}

/** What stops a throwaway Slurm from starting here before trying, or undefined. */
function cannotTry(): string | undefined {
  const missing = [...DAEMONS, ...CLIENTS].filter((command) => locate(command) === undefined);
  if (missing.length > 0) return `${missing.join(', ')} not found`;
  if (process.getuid?.() !== 0) return 'slurmd must run as root to start jobs, and these tests do not';
  return undefined;
}

/** The pids of processes whose environment holds `entry` (NUL-separated, so exactly). */
function processesWithEnv(entry: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`, 'latin1');
      if (`\0${environ}`.includes(`\0${entry}\0`)) found.push(Number(name));
    } catch {
      // gone, or a kernel thread
    }
  }
  return found;
}

function processesIn(dir: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) found.push(Number(name));
    } catch {
      // gone
    }
  }
  return found;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Every cluster not yet stopped, for the exit hook. */
const live = new Set<SlurmCluster>();
process.on('exit', () => {
  for (const cluster of live) cluster.kill();
});

export class SlurmCluster {
  private readonly daemons: ChildProcess[] = [];
  private output = '';

  private constructor(
    /** The temporary folder with everything of this Slurm. */
    readonly dir: string,
  ) {}

  /** Its slurm.conf: the value of SLURM_CONF for every Slurm command. */
  get conf(): string {
    return join(this.dir, 'slurm.conf');
  }

  /** The environment of a process that uses this Slurm. */
  get env(): NodeJS.ProcessEnv {
    return { ...process.env, SLURM_CONF: this.conf };
  }

  /**
   * Start munged, slurmctld and slurmd, and wait until the node is idle. Resolves to the
   * cluster, or to the reason it could not start (everything it started is stopped again).
   */
  static async tryStart(): Promise<SlurmCluster | string> {
    const why = cannotTry();
    if (why) return why;
    const dir = mkdtempSync(join(tmpdir(), 'fanout-slurm-'));
    // munged refuses a socket under a folder others cannot traverse.
    chmodSync(dir, 0o755);
    const cluster = new SlurmCluster(dir);
    live.add(cluster);
    try {
      await cluster.start();
      return cluster;
    } catch (error) {
      await cluster.stop();
      return `the throwaway Slurm did not start: ${(error as Error).message}\n${cluster.output.slice(-3000)}`;
    }
  }

  private spawnDaemon(command: string, args: string[]): ChildProcess {
    const child = spawn(locate(command) ?? command, args, {
      cwd: this.dir,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (error) => keep(Buffer.from(`${command}: ${error.message}\n`)));
    this.daemons.push(child);
    return child;
  }

  private async start(): Promise<void> {
    const { dir } = this;
    for (const sub of ['munge', 'state', 'spool', 'log']) mkdirSync(join(dir, sub), { mode: 0o755 });
    const socket = join(dir, 'munge', 'socket');
    writeFileSync(join(dir, 'munge', 'key'), randomBytes(128), { mode: 0o600 });
    this.spawnDaemon('munged', [
      '--foreground',
      `--socket=${socket}`,
      `--key-file=${join(dir, 'munge', 'key')}`,
      `--pid-file=${join(dir, 'munge', 'pid')}`,
      `--seed-file=${join(dir, 'munge', 'seed')}`,
      `--log-file=${join(dir, 'log', 'munged.log')}`,
    ]);
    await this.until(() => existsSync(socket), 'munged to create its socket');

    const node = hostname().split('.')[0] as string;
    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    writeFileSync(join(dir, 'plugstack.conf'), '');
    writeFileSync(
      this.conf,
      [
        'ClusterName=fanouttest',
        `SlurmctldHost=${node}(127.0.0.1)`,
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${slurmdPort}`,
        'SlurmUser=root',
        'SlurmdUser=root',
        'AuthType=auth/munge',
        'CredType=cred/munge',
        `AuthInfo=socket=${socket}`,
        `StateSaveLocation=${join(dir, 'state')}`,
        `SlurmdSpoolDir=${join(dir, 'spool')}`,
        `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
        `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
        `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
        `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
        `PlugStackConfig=${join(dir, 'plugstack.conf')}`,
        'MailProg=/bin/true',
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_CPU',
        'SchedulerParameters=batch_sched_delay=0',
        'SlurmdParameters=config_overrides',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        'JobCompType=jobcomp/none',
        'MpiDefault=none',
        'ReturnToService=2',
        // SIGTERM to SIGKILL: 10 s (Slurm's default is 30), which slurmWorkers reads to set the
        // workers' --grace (5 s), and which bounds a cancel that Slurm is slow to carry out.
        'KillWait=10',
        `NodeName=${node} NodeAddr=127.0.0.1 CPUs=8 RealMemory=8000 State=UNKNOWN`,
        'PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
        '',
      ].join('\n'),
    );
    this.spawnDaemon('slurmctld', ['-D', '-c', '-f', this.conf]);
    this.spawnDaemon('slurmd', ['-D', '-f', this.conf, '-N', node]);
    await this.until(
      async () => (await this.run('sinfo', ['--noheader', '--format=%T'])).trim() === 'idle',
      'the node to be idle',
    );
  }

  /** Run a Slurm command against this cluster; resolves to its stdout ('' when it fails). */
  async run(command: string, args: string[]): Promise<string> {
    const child = spawn(command, args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr?.resume();
    const [code] = (await once(child, 'exit')) as [number | null];
    return code === 0 ? out : '';
  }

  /** squeue's jobs (one line per array task): `id state`. */
  async jobs(): Promise<string[]> {
    const out = await this.run('squeue', ['--noheader', '--array', '--format=%i %T']);
    return out.split('\n').filter((line) => line.trim() !== '');
  }

  /** Processes Slurm started for jobs (the workers and anything they started), by pid. */
  jobProcesses(): number[] {
    return processesWithEnv(`SLURM_CONF=${this.conf}`).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'latin1').includes('\0SLURM_JOB_ID=');
      } catch {
        return false;
      }
    });
  }

  private async until(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      const dead = this.daemons.find((child) => child.exitCode !== null || child.signalCode !== null);
      if (dead)
        throw new Error(`${dead.spawnfile} exited (${dead.exitCode ?? dead.signalCode}) before ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  /** Cancel every job, wait until none is left, stop the daemons, delete the folder. */
  async stop(): Promise<void> {
    if (!live.has(this)) return;
    const up = this.daemons.length === 3 && this.daemons.every((child) => child.exitCode === null);
    if (up) {
      await this.run('scancel', ['--full', '--user=root']);
      try {
        await this.until(
          async () => (await this.jobs()).length === 0 && this.jobProcesses().length === 0,
          'the jobs to end',
          60_000,
        );
      } catch {
        // kill() below takes care of whatever is left
      }
    }
    for (const child of [...this.daemons].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    this.kill();
  }

  /** Synchronously kill whatever is left of this cluster, and delete its folder. */
  kill(): void {
    if (!live.has(this)) return;
    live.delete(this);
    for (const pid of this.jobProcesses()) kill(pid, 'SIGKILL');
    for (const pid of processesIn(this.dir)) kill(pid, 'SIGKILL');
    for (const child of this.daemons)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Start the tests' Slurm, or say why it cannot run: with FANOUT_REQUIRE_SLURM=1 (CI) that fails
 * the file; otherwise its tests are skipped with a loud notice. Give the skip reason to `gate`.
 */
export async function slurmTests(
  file: string,
): Promise<{ cluster: SlurmCluster | undefined; skip: string | false }> {
  const started = await SlurmCluster.tryStart();
  const missing = typeof started === 'string' ? started : undefined;
  const skip = requirement(file, { missing, env: 'FANOUT_REQUIRE_SLURM', install: INSTALL });
  return { cluster: typeof started === 'string' ? undefined : started, skip };
}
