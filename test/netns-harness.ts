/**
 * Simulated hosts on a private network, for the redis backend's tests across a network: each
 * host (Redis, the caller, worker machines) is a Linux network namespace with its own address,
 * plugged into a bridge that lives in a namespace of its own (the "switch"). Nothing is created
 * in the machine's own namespace, so the subnet (10.77.0.0/24) cannot clash with anything, and
 * parallel runs do not see each other: every namespace is named `fxn-<pid>-<random>-<host>`.
 *
 * Cutting a host off sets its port on the switch down: its packets are dropped silently, as when
 * a cable is pulled, and TCP connections survive an outage shorter than their retransmissions.
 *
 * Everything made here (namespaces, links, the processes in them) is removed by `destroy()`, at
 * process exit whatever happens, on SIGINT/SIGTERM/SIGHUP, and, for runs that died without
 * cleaning up (SIGKILL), by the next run: namespaces whose pid is no longer alive are removed
 * when this module loads.
 *
 * Needs root and iproute2's `ip`; without them the tests are skipped, loudly, or fail under
 * FANOUT_REQUIRE_NETNS=1 (set by CI).
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { requirement } from './requirements.js';

const PREFIX = 'fxn-';
const SUBNET = '10.77.0';

/** Run `ip` with these arguments; throws with its stderr when it fails. */
function ip(...args: string[]): string {
  const run = spawnSync('ip', args, { encoding: 'utf8' });
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${run.stderr.trim()}`);
  return run.stdout;
}

/** Kill every process in namespace `ns`, then remove it; never throws (used on exit paths). */
function removeNamespace(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  // Deleting a namespace deletes its ends of the veth pairs, and with them their peers.
  spawnSync('ip', ['netns', 'del', ns]);
}

function namespaces(): string[] {
  const run = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (run.status !== 0) return [];
  // Lines are "name" or "name (id: 3)".
  return run.stdout
    .split('\n')
    .map((line) => line.split(' ')[0] as string)
    .filter(Boolean);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove what runs that died without cleaning up left (their pid is in the name). */
function removeStale(): void {
  for (const ns of namespaces()) {
    const pid = new RegExp(`^${PREFIX}(\\d+)-`).exec(ns)?.[1];
    if (pid !== undefined && !alive(Number(pid))) removeNamespace(ns);
  }
}

/** Why the network tests cannot run here, or undefined when they can (probed by making a namespace). */
export const netnsMissing: string | undefined = (() => {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const version = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) return "iproute2's `ip` is not on PATH";
  const probe = `${PREFIX}${process.pid}-probe`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `ip netns add failed: ${made.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
})();

/**
 * The skip reason for a network test file when namespaces cannot be made (with a loud notice), or
 * false; FANOUT_REQUIRE_NETNS=1 makes that fail the file instead. Give it to `gate`.
 */
export function netnsTests(file: string): string | false {
  return requirement(file, {
    missing: netnsMissing,
    env: 'FANOUT_REQUIRE_NETNS',
    install: 'run them as root, with iproute2 (apt-get install iproute2)',
  });
}

const live = new Set<Network>();
if (netnsMissing === undefined) removeStale();
process.on('exit', () => {
  for (const network of live) network.destroy();
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    for (const network of live) network.destroy();
    // Then die of the signal, as the process would have without this handler.
    process.kill(process.pid, signal);
  });
}

/** A host of the network: its namespace and address. */
export interface Host {
  readonly name: string;
  readonly namespace: string;
  readonly address: string;
  /** Its port on the switch (in the switch's namespace). */
  readonly port: string;
}

export class Network {
  private readonly hosts = new Map<string, Host>();
  private readonly children = new Set<ChildProcess>();
  private readonly switchNs: string;
  private gone = false;

  private constructor(readonly id: string) {
    this.switchNs = `${id}-switch`;
  }

  /** Make the switch and one host per name (addresses 10.77.0.10, .11, ... in that order). */
  static create(names: readonly string[]): Network {
    const network = new Network(`${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`);
    live.add(network);
    try {
      network.build(names);
    } catch (error) {
      network.destroy();
      throw error;
    }
    return network;
  }

  private build(names: readonly string[]): void {
    const sw = this.switchNs;
    ip('netns', 'add', sw);
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    names.forEach((name, i) => {
      const host: Host = {
        name,
        namespace: `${this.id}-${name}`,
        address: `${SUBNET}.${10 + i}`,
        port: `port${i}`,
      };
      this.hosts.set(name, host);
      ip('netns', 'add', host.namespace);
      // Both ends are made where they belong: nothing appears in the machine's own namespace.
      ip('-n', sw, 'link', 'add', host.port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.namespace);
      ip('-n', sw, 'link', 'set', host.port, 'master', 'br0');
      ip('-n', sw, 'link', 'set', host.port, 'up');
      ip('-n', host.namespace, 'link', 'set', 'lo', 'up');
      ip('-n', host.namespace, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
      ip('-n', host.namespace, 'link', 'set', 'eth0', 'up');
    });
  }

  /** `destroy()` was called. */
  get destroyed(): boolean {
    return this.gone;
  }

  host(name: string): Host {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host ${name} on network ${this.id}`);
    return host;
  }

  /** The command prefix that runs a program on host `name`. */
  via(name: string): string[] {
    return ['ip', 'netns', 'exec', this.host(name).namespace];
  }

  /** Start `command args` on host `name`; the process is killed by `destroy()` if still running. */
  spawn(name: string, command: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
    const [launcher, ...rest] = this.via(name);
    const child = spawn(launcher as string, [...rest, command, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Run a command on host `name` to completion; its stdout, or a throw with its stderr. */
  exec(name: string, command: string, args: readonly string[]): string {
    const [launcher, ...rest] = this.via(name);
    const run = spawnSync(launcher as string, [...rest, command, ...args], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} on ${name} failed: ${run.stderr}`);
    return run.stdout;
  }

  /** Cut host `name` off: its port on the switch goes down, and its packets are lost. */
  cut(name: string): void {
    ip('-n', this.switchNs, 'link', 'set', this.host(name).port, 'down');
  }

  /** Plug host `name` back in. */
  restore(name: string): void {
    ip('-n', this.switchNs, 'link', 'set', this.host(name).port, 'up');
  }

  /** Kill every process on the network and remove its namespaces (and with them its links). Idempotent. */
  destroy(): void {
    if (this.gone) return;
    this.gone = true;
    live.delete(this);
    for (const child of this.children) child.kill('SIGKILL');
    for (const host of this.hosts.values()) removeNamespace(host.namespace);
    removeNamespace(this.switchNs);
  }

  /** The processes running on host `name` now. */
  pids(name: string): number[] {
    const out = spawnSync('ip', ['netns', 'pids', this.host(name).namespace], { encoding: 'utf8' }).stdout;
    return (out ?? '').split(/\s+/).filter(Boolean).map(Number);
  }

  /** The namespaces of this network that still exist (empty after `destroy()`). */
  leftovers(): string[] {
    return namespaces().filter((ns) => ns.startsWith(`${this.id}-`));
  }
}

/** Wait until `check()` holds, polling; fails after `ms` (a hang guard, never a timing assertion). */
async function poll(check: () => boolean, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A redis-server on a host of the network, with a password (so nothing warns of an open Redis). */
export class RedisHost {
  private output = '';

  private constructor(
    private readonly network: Network,
    private readonly hostName: string,
    child: ChildProcess,
    private readonly password: string,
  ) {
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
  }

  static async start(network: Network, hostName: string): Promise<RedisHost> {
    const password = randomBytes(12).toString('hex');
    const { address } = network.host(hostName);
    const child = network.spawn(hostName, 'redis-server', [
      '--bind',
      address,
      '--port',
      '6379',
      '--requirepass',
      password,
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    const redis = new RedisHost(network, hostName, child, password);
    await poll(
      () => /Ready to accept connections/.test(redis.output) || child.exitCode !== null,
      'redis-server to start',
      15_000,
    );
    if (child.exitCode !== null) throw new Error(`redis-server did not start:\n${redis.output}`);
    return redis;
  }

  get url(): string {
    return `redis://:${this.password}@${this.network.host(this.hostName).address}:6379`;
  }

  /** One command through redis-cli, on Redis's own host (so it answers even while the host is cut off). */
  command(...args: string[]): string {
    const { address } = this.network.host(this.hostName);
    return this.network.exec(this.hostName, 'redis-cli', [
      '-h',
      address,
      '-a',
      this.password,
      '--no-auth-warning',
      ...args,
    ]);
  }

  /** Names (`host:pid`) of the workers holding an active job of `queue` now. */
  holders(queue: string): Set<string> {
    const ids = this.command('LRANGE', `fanout:${queue}:active`, '0', '-1').split('\n').filter(Boolean);
    return new Set(
      ids.map((id) => this.command('HGET', `fanout:${queue}:${id}`, 'pb').trim()).filter(Boolean),
    );
  }
}

/** What the caller says about a command (see test/fixtures/netns-caller.ts). */
export interface CallerMessage {
  readonly id: string;
  readonly progress?: number;
  readonly values?: number[];
  readonly produced?: number;
  readonly value?: number;
  readonly opened?: boolean;
  readonly error?: { readonly code?: string; readonly message: string };
}

/** The caller's process on its host: a pool driven by JSON commands. */
export class CallerProcess {
  private readonly messages: CallerMessage[] = [];
  private stderr = '';
  private buffer = '';
  private next = 0;

  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString();
      const lines = this.buffer.split('\n');
      this.buffer = lines.pop() as string;
      for (const line of lines) if (line) this.messages.push(JSON.parse(line) as CallerMessage);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  /** Start the caller on host `hostName` with a pool of `workers` on `backend`. */
  static async start(
    network: Network,
    hostName: string,
    backend: Record<string, unknown>,
    workers: number,
  ): Promise<CallerProcess> {
    const script = new URL('./fixtures/netns-caller.ts', import.meta.url).pathname;
    const child = network.spawn(hostName, process.execPath, ['--import', 'tsx', script]);
    const caller = new CallerProcess(child);
    await caller.answer(caller.send({ op: 'open', backend, workers }));
    return caller;
  }

  /** Send a command; returns its id. */
  send(command: Record<string, unknown>): string {
    const id = String(this.next++);
    this.child.stdin?.write(`${JSON.stringify({ id, ...command })}\n`);
    return id;
  }

  /** The latest progress count of command `id` (0 before any). */
  progress(id: string): number {
    let done = 0;
    for (const m of this.messages) if (m.id === id && m.progress !== undefined) done = m.progress;
    return done;
  }

  /** The final message of command `id` (not a progress one), waiting for it up to `ms`. */
  async answer(id: string, ms = 120_000): Promise<CallerMessage> {
    const final = () => this.messages.find((m) => m.id === id && m.progress === undefined);
    await poll(
      () => final() !== undefined || this.child.exitCode !== null,
      `the caller's answer to command ${id}`,
      ms,
    );
    const message = final();
    if (!message) throw new Error(`the caller exited (${this.child.exitCode}):\n${this.stderr}`);
    return message;
  }

  /** Wait until `stream` command `id` has `n` results or more. */
  async waitProgress(id: string, n: number, ms = 60_000): Promise<void> {
    await poll(() => this.progress(id) >= n || this.child.exitCode !== null, `${n} results of ${id}`, ms);
    if (this.progress(id) < n) throw new Error(`the caller exited (${this.child.exitCode}):\n${this.stderr}`);
  }

  /** Close the pool and wait for the process to leave (killed if it does not within `ms`). */
  async close(ms = 20_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin?.write(`${JSON.stringify({ op: 'close' })}\n`);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(timer);
  }
}
