/** Run one benchmark script in a child process of its own and parse the JSON on its last stdout line. */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function runChild<T>(script: string, args: readonly string[]): Promise<T> {
  const file = fileURLToPath(new URL(script, import.meta.url));
  return new Promise((resolve, reject) => {
    // --expose-gc: the timing helper collects garbage before each timed run.
    const child = spawn(process.execPath, ['--expose-gc', file, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0)
        return reject(new Error(`${script} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`));
      const last = stdout.trim().split('\n').at(-1);
      if (!last) return reject(new Error(`${script} ${args.join(' ')} printed no result`));
      resolve(JSON.parse(last) as T);
    });
  });
}
