/**
 * What the redis tests need: their own `redis-server` on a free loopback port, and `fanout
 * worker` processes. Everything started here is stopped by the end of the test file (and
 * killed if the file exits early), so no process, port or file is left behind.
 *
 * Without `redis-server` on PATH the redis tests are skipped, loudly; with
 * `FANOUT_REQUIRE_REDIS=1` (set by CI) they fail instead.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { requirement } from './requirements.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
export const fixture = (name: string): string =>
  fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** Every process started here, killed at exit whatever happens. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Why the redis tests cannot run here, or undefined when they can. */
export const redisMissing: string | undefined = (() => {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return probe.error || probe.status !== 0 ? 'redis-server is not on PATH' : undefined;
})();

/**
 * The skip reason for a redis test file's tests when redis-server is missing (with a loud notice),
 * or false; FANOUT_REQUIRE_REDIS=1 makes a missing redis-server fail the file. Give it to `gate`.
 */
export function redisTests(file: string): string | false {
  return requirement(file, {
    missing: redisMissing,
    env: 'FANOUT_REQUIRE_REDIS',
    install: 'apt-get install redis-server',
  });
}

/** A free TCP port on loopback (bind to 0, read the port, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export interface ServerOptions {
  /** A port to use (to restart a server where it was); default: a free one. */
  readonly port?: number;
  /** Serve TLS only, with these PEM files (paths). */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
}

export class RedisServer {
  private paused = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly options: ServerOptions,
  ) {}

  /** Start a throwaway redis-server: loopback only, nothing written to disk. */
  static async start(options: ServerOptions = {}): Promise<RedisServer> {
    for (let attempt = 0; ; attempt++) {
      const port = options.port ?? (await freePort());
      const { tls } = options;
      const listen = tls
        ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key]
        : ['--port', String(port)];
      const tlsArgs = tls ? ['--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no'] : [];
      const child = spawn(
        'redis-server',
        [...listen, ...tlsArgs, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      track(child);
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      const server = new RedisServer(child, port, options);
      if (await server.answers(child)) return server;
      await server.stop();
      // Someone took the port between our probe and redis binding it: try another.
      if (attempt >= 4 || options.port !== undefined)
        throw new Error(`redis-server did not start:\n${output}`);
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The URL of a TLS server (the test certificate is for localhost). */
  get tlsUrl(): string {
    return `rediss://localhost:${this.port}`;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  private async answers(child: ChildProcess): Promise<boolean> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        if ((await this.command('PING')) === 'PONG') return true;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    return false;
  }

  /** One command on a fresh connection (so it works whatever the clients under test do). */
  async command(...args: (string | number)[]): Promise<unknown> {
    const { tls } = this.options;
    const client = new Redis({
      port: this.port,
      host: tls ? 'localhost' : '127.0.0.1',
      ...(tls ? { tls: { ca: readFileSync(tls.ca) } } : {}),
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      return await client.call(String(args[0]), ...args.slice(1).map(String));
    } finally {
      client.disconnect();
    }
  }

  /** Freeze the server (SIGSTOP): connections stay open, nothing answers. */
  pause(): void {
    this.paused = true;
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.paused = false;
    this.child.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.paused) this.resume();
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

export interface WorkerOptions {
  readonly tasks?: readonly string[];
  readonly workers?: number;
  readonly queue?: string;
  readonly flags?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** A command that runs the worker, e.g. `['ip', 'netns', 'exec', 'ns1']`; default: none. */
  readonly via?: readonly string[];
}

/** A `fanout worker` process, run from source under tsx. */
export class WorkerProcess {
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal: signal as NodeJS.Signals | null })),
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      // FANOUT_DEBUG_WORKERS=1 shows what the workers log, as it happens.
      if (process.env.FANOUT_DEBUG_WORKERS === '1') process.stderr.write(chunk);
    });
  }

  /** Start a worker; resolves once it logged that it is ready. */
  static async start(url: string | undefined, options: WorkerOptions = {}): Promise<WorkerProcess> {
    const worker = WorkerProcess.spawn(
      [
        ...(url === undefined ? [] : ['--redis', url]),
        ...(options.tasks ?? [fixture('tasks.ts')]).flatMap((file) => ['--tasks', file]),
        '--workers',
        String(options.workers ?? 2),
        ...(options.queue ? ['--queue', options.queue] : []),
        ...(options.flags ?? []),
      ],
      options.env,
      options.via,
    );
    await worker.waitFor(/ready:/);
    return worker;
  }

  /** Run `fanout worker <args>` (through `via`, if given) without waiting for anything. */
  static spawn(args: readonly string[], env?: NodeJS.ProcessEnv, via: readonly string[] = []): WorkerProcess {
    const command = [...via, process.execPath, '--import', 'tsx', cli, 'worker', ...args];
    const child = spawn(command[0] as string, command.slice(1), {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    track(child);
    return new WorkerProcess(child);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Wait until the worker's log matches `pattern` (fails if it exits or takes over 30 s). */
  async waitFor(pattern: RegExp, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.stderr)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        assert.fail(`worker exited before logging ${pattern}:\n${this.stderr}`);
      }
      if (Date.now() > deadline) assert.fail(`worker did not log ${pattern}:\n${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Stop it as an operator would (SIGTERM), killing it if it does not leave in 15 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Poll an asynchronous condition (Redis state) until it holds; fails after `ms`. Never a timing assertion. */
export async function until(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Stop workers, then the server; used in `after` hooks. */
export async function stopAll(
  workers: readonly WorkerProcess[],
  server: RedisServer | undefined,
): Promise<void> {
  await Promise.all(workers.map((worker) => worker.stop()));
  await server?.stop();
}
