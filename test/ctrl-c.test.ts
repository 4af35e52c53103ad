/**
 * Ctrl-C: SIGINT or SIGTERM to a program with a busy processes pool leaves no worker process
 * behind, and neither does a parent killed outright.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually, isAlive } from './helpers.js';

const script = fileURLToPath(new URL('./fixtures/busy-pool.ts', import.meta.url));

async function startBusyProgram(): Promise<{ child: ReturnType<typeof spawn>; workers: number[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8');
  const workers = await new Promise<number[]>((resolve, reject) => {
    child.stdout?.on('data', (chunk: string) => {
      output += chunk;
      const line = /READY (\[.*\])/.exec(output);
      if (line) resolve(JSON.parse(line[1] as string));
    });
    child.once('exit', (code) => reject(new Error(`the program exited early (${code}): ${output}`)));
  });
  return { child, workers };
}

describe('no orphan worker processes', { timeout: 120_000 }, () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} to the program stops it and its workers`, async () => {
      const { child, workers } = await startBusyProgram();
      assert.ok(workers.length >= 1 && workers.every(isAlive));
      const exited = once(child, 'exit');
      child.kill(signal);
      const [, killedBy] = await exited;
      assert.equal(killedBy, signal, 'the program ended by its signal, as it would have without a pool');
      await eventually(() => !workers.some(isAlive), 10_000, 'every worker process to be gone');
    });
  }

  it('a program killed outright (SIGKILL) takes its workers with it', async () => {
    const { child, workers } = await startBusyProgram();
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    // Nothing runs in a SIGKILLed parent: each worker notices its parent is gone by itself.
    await eventually(() => !workers.some(isAlive), 10_000, 'every worker process to be gone');
  });
});
