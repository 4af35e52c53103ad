/**
 * The seed demos from the command line: each runs at --quick size, prints every row of its table,
 * and writes a report with its charts. Nothing here depends on how fast the machine is: the
 * assertions are about which rows and charts exist. The demos whose variants must agree (sums,
 * strings, answers) are checked against references of the tests' own in test/demo-results.test.ts.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { numberIn, row, runCli, skipWithoutBuild } from './cli-harness.js';
import { gate } from './requirements.js';

/** Without a build every test is registered as skipped, so the summary counts them. */
const { after, before, describe, it } = gate(skipWithoutBuild);

describe('fanout demo', { timeout: 300_000 }, () => {
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
    for (const name of ['weather', 'timeline', 'marshaling', 'strings', 'io', 'amdahl', 'graph', 'heat']) {
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
      [['demo', 'graph', '--files', '0'], '--files'],
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

  it('heat: the serial loop and the ranks give the same grid (same SHA-256), and the report draws the plate', async () => {
    const { stdout, html } = await demo('heat', '--size', '120', '--steps', '30');
    const serial = row(stdout, 'serial loop (one block)');
    const ranks = row(stdout, 'pool.spmd, 2 ranks');
    assert.match(serial[4] as string, /^[0-9a-f]{16}$/);
    assert.equal(ranks[4], serial[4], 'the checksums agree');
    assert.equal(ranks[3], serial[3], 'the sums agree');
    assert.match(stdout, /identical bit for bit/);
    assert.match(html, /<svg id="heat-map"/);
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
