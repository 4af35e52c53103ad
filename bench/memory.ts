/**
 * Benchmark of Memory, on the compiled package (`dist/`): what a cache hit costs next to the
 * computation it saves, for a task of 10 ms and one of 10 µs, what a miss adds (hash, encode,
 * atomic write), and how fast arguments and results are hashed and read.
 *
 *   npm run bench:memory        # builds, runs, prints a table, writes bench/results/memory.json
 *
 * Tasks spin on the clock for their duration, so they cost the same on any machine; the
 * cache's own costs are what varies. Times are medians over many calls.
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Fanout from '../src/index.js';
// The hash alone is not part of the package's surface (the bundle has no file of its own for
// it): timed from src/ (this runs under tsx), the same code as in dist/.
import { hashValue } from '../src/memory/hash.js';
import { assertSameResults } from './check.js';
import { machineDescription } from './record.js';

const dist = new URL('../dist/', import.meta.url);
const { Memory, defineTasks } = (await import(new URL('index.js', dist).href)) as typeof Fanout;

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: the task's own work
  }
}

const tasks = defineTasks(import.meta.url, {
  tenMs(x: number): number {
    spin(10);
    return x * 2;
  },
  tenMicros(x: number): number {
    spin(0.01);
    return x * 2;
  },
  echo(x: Float64Array): Float64Array {
    return x;
  },
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Median time of `fn(i)` over `n` calls, in ms. */
function time(n: number, fn: (i: number) => unknown): number {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    fn(i);
    samples.push(performance.now() - start);
  }
  return median(samples);
}

const root = mkdtempSync(join(tmpdir(), 'fanout-bench-memory-'));
try {
  const memory = new Memory(join(root, 'cache'));
  const rows: Record<string, { compute: number; miss: number; hit: number; speedup: number }> = {};
  const cases = [
    { name: 'task of 10 ms', task: tasks.tenMs, n: 30 },
    { name: 'task of 10 µs', task: tasks.tenMicros, n: 3000 },
  ];
  for (const { name, task, n } of cases) {
    const cached = memory.cache(task);
    time(Math.min(n, 100), (i) => task(i)); // warm up
    const compute = time(n, (i) => task(i));
    const miss = time(n, (i) => cached(i)); // every key new: compute, hash, encode, write
    const hit = time(2000, () => cached(0)); // one stored key, read back every time
    // Every stored result, read back, is the task's own (outside the timed calls).
    const stored = Array.from({ length: n }, (_, i) => cached(i));
    assertSameResults(
      stored,
      Array.from({ length: n }, (_, i) => task(i)),
      `the cache of the ${name}`,
    );
    rows[name] = { compute, miss, hit, speedup: compute / hit };
  }

  const MB = 1024 * 1024;
  const big = new Float64Array((10 * MB) / 8).map((_, i) => Math.sin(i));
  hashValue(big); // warm up
  const hashMs = time(20, () => hashValue(big));
  const echo = memory.cache(tasks.echo);
  echo(big); // stored: a 10 MB result
  const bigHitMs = time(20, () => echo(big)); // hashes the argument, reads, checks and decodes the result
  assertSameResults(echo(big), big, 'the cached 10 MB result');

  const results = {
    ...machineDescription(),
    cases: rows,
    hashing: { bytes: big.byteLength, ms: hashMs, mbPerSecond: big.byteLength / MB / (hashMs / 1000) },
    largeHit: { bytes: big.byteLength, ms: bigHitMs, mbPerSecond: big.byteLength / MB / (bigHitMs / 1000) },
  };

  const fmt = (ms: number) => (ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} µs`);
  console.log('Memory: a hit vs the computation (medians, local calls)\n');
  console.log(
    `${'case'.padEnd(16)}${'compute'.padStart(12)}${'miss'.padStart(12)}${'hit'.padStart(12)}${'compute / hit'.padStart(16)}`,
  );
  for (const [name, r] of Object.entries(rows)) {
    console.log(
      `${name.padEnd(16)}${fmt(r.compute).padStart(12)}${fmt(r.miss).padStart(12)}${fmt(r.hit).padStart(12)}${`${r.speedup.toFixed(r.speedup < 10 ? 2 : 0)}×`.padStart(16)}`,
    );
  }
  console.log(
    `\nhashing a 10 MB Float64Array argument: ${fmt(hashMs)} (${results.hashing.mbPerSecond.toFixed(0)} MB/s)`,
  );
  console.log(
    `hit returning a 10 MB Float64Array (hash argument + read + checksum + decode): ${fmt(bigHitMs)} (${results.largeHit.mbPerSecond.toFixed(0)} MB/s)`,
  );

  const out = new URL('./results/', import.meta.url);
  mkdirSync(out, { recursive: true });
  writeFileSync(new URL('memory.json', out), `${JSON.stringify(results, null, 2)}\n`);
  console.log('\nwrote bench/results/memory.json');
} finally {
  rmSync(root, { recursive: true, force: true });
}
