/** Run one benchmark script in a child process of its own and parse the JSON on its last stdout line. */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The child ran past its time limit and was killed. */
export class ChildTimeout extends Error {}

export function runChild<T>(script: string, args: readonly string[], timeoutSeconds: number): Promise<T> {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const label = `${script} ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    // --expose-gc: the timing helper collects garbage before each timed run.
    const child = spawn(process.execPath, ['--expose-gc', file, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutSeconds * 1000);
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return reject(new ChildTimeout(`${label} did not finish within ${timeoutSeconds} s`));
      if (code !== 0) return reject(new Error(`${label} failed (${signal ?? `exit ${code}`})`));
      const last = stdout.trim().split('\n').at(-1);
      if (!last) return reject(new Error(`${label} printed no result`));
      resolve(JSON.parse(last) as T);
    });
  });
}
