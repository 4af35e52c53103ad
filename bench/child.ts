/** Run one benchmark script in a child process of its own and parse the JSON on its last stdout line. */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The child could not finish for lack of time or memory (a library's limit, not a bug here):
 * the runner may try again on fewer items.
 */
export class ChildOutOfResources extends Error {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

const STDERR_TAIL = 4096;

export function runChild<T>(script: string, args: readonly string[], timeoutSeconds: number): Promise<T> {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const label = `${script} ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    // --expose-gc: the timing helper collects garbage before each timed run.
    const child = spawn(process.execPath, ['--expose-gc', file, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutSeconds * 1000);
    let stdout = '';
    let stderrTail = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    // Progress lines go on to the terminal; the tail is kept to tell why a child died.
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        const reason = `did not finish within ${timeoutSeconds} s`;
        return reject(new ChildOutOfResources(`${label} ${reason}`, reason));
      }
      if (code !== 0 && /heap out of memory/.test(stderrTail)) {
        const reason = 'ran out of memory (V8 heap limit)';
        return reject(new ChildOutOfResources(`${label} ${reason}`, reason));
      }
      if (code !== 0) return reject(new Error(`${label} failed (${signal ?? `exit ${code}`})`));
      const last = stdout.trim().split('\n').at(-1);
      if (!last) return reject(new Error(`${label} printed no result`));
      resolve(JSON.parse(last) as T);
    });
  });
}
