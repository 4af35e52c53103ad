/** Shared test helpers. */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool, type PoolOptions } from '../src/index.js';

/** The backends every conformance test runs against, with what each supports. */
export interface BackendCase {
  readonly name: 'inline' | 'threads' | 'processes' | 'redis';
  /** Values are copied across a boundary (so plain-data checks and module loading apply). */
  readonly crossesBoundary: boolean;
  /** A worker can be killed (crashes and timeouts replace it). */
  readonly killable: boolean;
  /** The pool starts and stops its workers (false: they are separate processes). Default true. */
  readonly ownsWorkers?: boolean;
  /** A task's start is known when it is submitted, so one still queued can be cancelled. Default true. */
  readonly knowsStart?: boolean;
  /** Workers run only the task modules they were started with: any other is ERR_TASK_NOT_FOUND. */
  readonly registeredModulesOnly?: boolean;
  /**
   * A queued batch can be taken back from a worker whose thread is blocked in a task (the claim
   * cells of shared-memory backends); without it, only once that worker yields. Default true.
   */
  readonly takesBackFromBlocked?: boolean;
  /** Single workers can be addressed (actors, runOnEach, initializer). Default true. */
  readonly addressable?: boolean;
  /** Synchronisation primitives (Lock, Queue, ...) can be passed to tasks. Default true. */
  readonly syncPrimitives?: boolean;
  pool(options?: PoolOptions): Pool;
  /** The options `pool()` uses, as plain data, for a pool made in another process. */
  options(): PoolOptions;
}

export const backends: readonly BackendCase[] = [
  {
    name: 'inline',
    crossesBoundary: false,
    killable: false,
    pool: (options = {}) => {
      const { workers, ...rest } = options;
      return new Pool({ backend: 'inline', concurrency: typeof workers === 'number' ? workers : 2, ...rest });
    },
    options: () => ({ backend: 'inline', concurrency: 2 }),
  },
  {
    name: 'threads',
    crossesBoundary: true,
    killable: true,
    pool: (options = {}) => new Pool({ backend: 'threads', workers: 2, ...options }),
    options: () => ({ backend: 'threads', workers: 2 }),
  },
  {
    name: 'processes',
    crossesBoundary: true,
    killable: true,
    takesBackFromBlocked: false,
    pool: (options = {}) => new Pool({ backend: 'processes', workers: 2, ...options }),
    options: () => ({ backend: 'processes', workers: 2 }),
  },
];

export interface ScriptResult {
  /** The exit code, or null when it had to be killed (see `timedOut`). */
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run a TypeScript file under tsx in a node process of its own; kill it if it has not exited
 * within `limitMs` (a guard against a hang, not a timing assertion).
 */
export async function runScript(
  file: string,
  args: readonly string[],
  limitMs: number,
): Promise<ScriptResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, limitMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code: timedOut ? null : code, timedOut, stdout, stderr };
}

/** A file that a gated task (tasks.gated) waits for: `open()` releases it. */
export class Gate {
  private readonly dir = mkdtempSync(join(tmpdir(), 'fanout-gate-'));
  readonly path = join(this.dir, 'gate');

  /** The gated task has started (it left a marker). */
  get started(): boolean {
    return existsSync(`${this.path}.started`);
  }

  get opened(): boolean {
    return existsSync(this.path);
  }

  open(): void {
    writeFileSync(this.path, '');
  }

  /** Remove the files (once no task waits on them). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Assert that `promise` rejects with a fanout error of `code`; returns the error for more checks. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
): Promise<Error & Record<string, unknown>> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof Error, `expected a rejection with ${code}, got ${String(caught)}`);
  assert.equal(
    (caught as { code?: unknown }).code,
    code,
    `expected ${code}, got: ${(caught as Error).stack}`,
  );
  return caught as Error & Record<string, unknown>;
}

/** The OS threads of this process (Linux): a worker thread that is still alive shows up here. */
export function osThreadCount(): number {
  return readdirSync('/proc/self/task').length;
}

/** Whether a process id is alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Wait until `check()` is true, polling; fails after `ms`. For conditions, never for timing. */
export async function eventually(check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
