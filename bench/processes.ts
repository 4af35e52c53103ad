/**
 * Processes the redis benches start: a throwaway redis-server and `fanout worker`s, all killed
 * when the bench exits, whatever happens.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Start `command args` in the project's folder; resolves once its output matches `ready`. */
export function start(command: string, args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    let output = '';
    const seen = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) resolve(child);
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', seen);
    child.once('exit', (code) =>
      reject(new Error(`${command} exited (${code}) before it was ready:\n${output}`)),
    );
  });
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** A redis-server on a free loopback port, writing nothing to disk; its port and process. */
export async function startRedis(): Promise<{ port: number; process: ChildProcess }> {
  const port = await freePort();
  const child = await start(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    /Ready to accept connections/,
  );
  return { port, process: child };
}

/** A `fanout worker` (from source, under tsx) on `queue`, serving the benches' task modules. */
export function startWorker(url: string, queue: string): Promise<ChildProcess> {
  return start(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'worker',
      '--redis',
      url,
      '--queue',
      queue,
      '--tasks',
      'bench/redis-tasks.ts',
      '--tasks',
      'src/demos/weather-tasks.ts',
    ],
    /ready:/,
  );
}
