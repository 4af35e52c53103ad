/**
 * The seed demos: each runs at --quick size, prints every row of its table, and writes a report
 * with its charts. Nothing here depends on how fast the machine is: the assertions are about
 * which rows and charts exist and about results that must be exact (sums, strings, answers).
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, skipWithoutBuild } from './cli-harness.js';

/** The cells of the table row that starts with `label` (columns are two or more spaces apart). */
function row(stdout: string, label: string): string[] {
  const line = stdout.split('\n').find((l) => l.startsWith(`${label}  `));
  assert.ok(line, `no row "${label}" in:\n${stdout}`);
  return line.split(/ {2,}/).map((cell) => cell.trim());
}

/** A number as printed in a table: 1,234,567 or 0.0140 or 1.93×. */
const numberIn = (cell: string | undefined): number => Number((cell ?? '').replace(/[,×%]/g, ''));

describe('fanout demo', { skip: skipWithoutBuild, timeout: 300_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-demos-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Run a demo at --quick size with a report; return its stdout and the report's HTML. */
  async function demo(name: string, ...extra: string[]): Promise<{ stdout: string; html: string }> {
    const report = join(dir, `${name}.html`);
    const r = await runCli(['demo', name, '--quick', '--workers', '2', '--report', report, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, new RegExp(`report: ${report.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    return { stdout: r.stdout, html: readFileSync(report, 'utf8') };
  }

  it('--help lists every demo, and each demo has its own help', async () => {
    const help = await runCli(['demo', '--help']);
    assert.equal(help.code, 0);
    for (const name of ['weather', 'timeline', 'marshaling', 'strings', 'io', 'amdahl']) {
      assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
      const own = await runCli(['demo', name, '--help']);
      assert.equal(own.code, 0, own.stderr);
      assert.match(own.stdout, new RegExp(`Usage: fanout demo ${name}`));
    }
  });

  it('bad demo flags exit with code 2 and say which flag', async () => {
    for (const [args, flag] of [
      [['demo', 'amdahl', '--serial', '1.5'], '--serial'],
      [['demo', 'timeline', '--bin', '0'], '--bin'],
      [['demo', 'io', '--requests', 'many'], '--requests'],
      [['demo', 'marshaling', '--items', '-3'], '--items'],
    ] as const) {
      const r = await runCli([...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(flag));
    }
  });

  it('timeline: every variant did some work, and the report charts work over time', async () => {
    const { stdout, html } = await demo('timeline');
    for (const variant of ['one thread', '2 async tasks', '2 worker threads', '2 processes']) {
      const cells = row(stdout, variant);
      assert.ok(numberIn(cells[3]) > 0, `${variant}: ${cells.join(' | ')}`);
    }
    assert.match(row(stdout, '2 async tasks')[1] as string, /main thread/);
    assert.match(html, /<svg id="work-over-time"/);
    // One line per variant, labelled in the legend.
    for (const variant of ['one thread', '2 async tasks', '2 worker threads', '2 processes']) {
      assert.match(html, new RegExp(`<title>${variant}</title>`));
    }
  });

  it('marshaling: every way of summing, the same sum, and ns per number for each', async () => {
    const { stdout, html } = await demo('marshaling');
    for (const variant of [
      'typed-array loop (Float64Array)',
      'JS-array loop (number[])',
      'JS array, reduce()',
      'pool.map, one item per message',
      'pool.map, automatic batches',
      'pool.map, batchSize 10,000',
      'pool.run, whole array (one copy)',
      'shared array, 2 slices (no copy)',
    ]) {
      const cells = row(stdout, variant);
      assert.ok(numberIn(cells[3]) > 0, `${variant}: ns per number ${cells[3]}`);
    }
    assert.equal(numberIn(row(stdout, 'pool.map, one item per message')[1]), 5000);
    assert.match(stdout, /Every variant computed the same sum\./);
    assert.match(html, /<caption>One sum, every way<\/caption>/);
  });

  it('strings: small and large loads, serial and parallel, the same strings, and the sweep chart', async () => {
    const { stdout, html } = await demo('strings');
    for (const load of ['small: 4 × 5 chars', 'large: 16 × 50,000 chars']) {
      for (const variant of [
        'serial loop',
        '2 threads, pool running',
        '2 processes, pool running',
        '2 threads, pool started',
        '2 processes, pool started',
      ]) {
        assert.ok(
          stdout.split('\n').some((l) => l.startsWith(load) && l.includes(variant)),
          `${load} / ${variant}`,
        );
      }
    }
    assert.match(stdout, /Every variant made the same strings/);
    assert.match(html, /<svg id="speedup-by-load"/);
  });

  it('io: sequential waits one at a time, threads at most N at a time, and every answer arrives', async () => {
    const { stdout, html } = await demo('io');
    assert.equal(numberIn(row(stdout, 'sequential')[2]), 1);
    const async = numberIn(row(stdout, 'async, Promise.all')[2]);
    assert.ok(async >= 1 && async <= 10);
    assert.ok(numberIn(row(stdout, 'async, inline pool')[2]) >= 1);
    const threads = numberIn(row(stdout, '2 worker threads')[2]);
    assert.ok(threads >= 1 && threads <= 2, `threads held ${threads} requests at once`);
    assert.match(stdout, /Every answer arrived, in order\./);
    assert.match(html, /<caption>One batch of requests, four ways<\/caption>/);
  });

  it('amdahl: 1..N workers, the built-in and fitted fractions, predictions, and its charts', async () => {
    const { stdout, html } = await demo('amdahl', '--max-workers', '2');
    for (const label of ['serial', '1', '2']) assert.ok(numberIn(row(stdout, label)[1]) > 0, label);
    assert.match(stdout, /built in p = 0\.\d{3}/);
    assert.match(stdout, /fitted to the measurements p = [01]\.\d{3}/);
    for (const cores of ['8', '16', '64', 'any number']) row(stdout, cores);
    for (const id of ['speedup', 'efficiency', 'amdahl-prediction']) {
      assert.match(html, new RegExp(`<svg id="${id}"`));
    }
  });
});
