/**
 * The joblib rows: seed 002's own Python code (python/weather_joblib.py), run with the first
 * Python that can import joblib and numpy. `python3` on PATH may be a pyenv shim without the
 * system's packages, so the Debian interpreter is tried too.
 */

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchRecord } from './record.js';
import { round } from './stats.js';

// Run from source (tsx, as the tests do) or compiled into dist-bench/bench/ (npm run bench).
const fromSource = fileURLToPath(new URL('python/weather_joblib.py', import.meta.url));
const script = existsSync(fromSource)
  ? fromSource
  : fileURLToPath(new URL('../../bench/python/weather_joblib.py', import.meta.url));

export const JOBLIB_MISSING =
  'joblib not installed: apt-get install python3-joblib python3-numpy (or pip install joblib numpy); skipping the joblib rows';

/** The path of a Python that has joblib and numpy, or undefined. */
export function findPython(): string | undefined {
  const candidates = [process.env.FANOUT_BENCH_PYTHON, 'python3', '/usr/bin/python3', 'python'];
  for (const candidate of candidates) {
    if (!candidate) continue;
    const probe = spawnSync(candidate, ['-c', 'import joblib, numpy, sys; print(sys.executable)'], {
      encoding: 'utf8',
    });
    if (probe.status === 0) return probe.stdout.trim() || candidate;
  }
  return undefined;
}

export interface JoblibOptions {
  readonly python: string;
  readonly scale: number;
  readonly repeat: number;
  readonly sims10: number;
  readonly sims100: number;
}

export function runJoblib(options: JoblibOptions): Promise<BenchRecord[]> {
  const args = [
    script,
    '--sims10',
    String(Math.max(1, Math.round(options.sims10 * options.scale))),
    '--sims100',
    String(Math.max(1, Math.round(options.sims100 * options.scale))),
    '--repeat',
    String(options.repeat),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(options.python, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${options.python} ${script} exited with ${code}`));
      const last = stdout.trim().split('\n').at(-1) ?? '[]';
      resolve((JSON.parse(last) as BenchRecord[]).map(roundRecord));
    });
  });
}

function roundRecord(record: BenchRecord): BenchRecord {
  const rounded: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    if (typeof value === 'number') rounded[key] = round(value);
    else if (Array.isArray(value)) rounded[key] = value.map((v) => (typeof v === 'number' ? round(v) : v));
    else rounded[key] = value;
  }
  return rounded as unknown as BenchRecord;
}
