/** Shared test helpers. */

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
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
  pool(options?: PoolOptions): Pool;
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
  },
  {
    name: 'threads',
    crossesBoundary: true,
    killable: true,
    pool: (options = {}) => new Pool({ backend: 'threads', workers: 2, ...options }),
  },
  {
    name: 'processes',
    crossesBoundary: true,
    killable: true,
    pool: (options = {}) => new Pool({ backend: 'processes', workers: 2, ...options }),
  },
];

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
