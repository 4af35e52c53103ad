/** The command line: fanout run, profile and demo, their exit codes, and what they write. */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliPath, numberIn, rows, runCli, skipWithoutBuild } from './cli-harness.js';
import { range } from './helpers.js';
import { gate } from './requirements.js';

/** Without a build every test is registered as skipped, so the summary counts them. */
const { after, before, describe, it } = gate(skipWithoutBuild);

const tasksModule = fileURLToPath(new URL('./fixtures/tasks.ts', import.meta.url));

const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('fanout run', { timeout: 120_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('maps JSON lines to JSON lines, in order, from a file to a file', async () => {
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    writeFileSync(
      input,
      `${range(500)
        .map((x) => JSON.stringify(x))
        .join('\n')}\n`,
    );
    const r = await runCli([
      'run',
      tasksModule,
      'square',
      '--input',
      input,
      '--output',
      output,
      '--workers',
      '2',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      lines(readFileSync(output, 'utf8')),
      range(500).map((x) => x * x),
    );
  });

  it('reads stdin and writes stdout by default; --spread calls task(...line); --unordered keeps every result', async () => {
    const r = await runCli(['run', tasksModule, 'add', '--spread', '--unordered'], '[1,2]\n[3,4]\n\n[5,6]\n');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      lines(r.stdout).sort((a, b) => a - b),
      [3, 7, 11],
    );
  });

  it('--errors collect writes error records and exits 1; fail stops at the first error', async () => {
    const input = '[1,3]\n[2,3]\n[3,3]\n[4,3]\n';
    const collected = await runCli(['run', tasksModule, 'failOn', '--spread', '--errors', 'collect'], input);
    assert.equal(collected.code, 1);
    const out = lines(collected.stdout);
    assert.deepEqual([out[0], out[1], out[3]], [1, 2, 4]);
    assert.equal(out[2].error.code, 'ERR_TASK_FAILED');
    assert.equal(out[2].error.index, 2);
    assert.match(out[2].error.message, /bad item 3/);
    assert.match(collected.stderr, /1 of 4 items failed/);
    const failing = await runCli(['run', tasksModule, 'failOn', '--spread'], input);
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /Task "failOn" failed on item 2/);
  });

  it('bad flags get a clear message and exit code 2; --help exits 0', async () => {
    for (const args of [
      ['run', tasksModule, 'square', '--workers', '0'],
      ['run', tasksModule, 'square', '--batch-size', 'lots'],
      ['run', tasksModule, 'square', '--errors', 'ignore'],
      ['run', tasksModule, 'square', '--bogus'],
      ['run', tasksModule],
      ['run', tasksModule, 'nosuchtask'],
      ['run', join(dir, 'missing.js'), 'square'],
      ['nosuchcommand'],
    ]) {
      const r = await runCli(args, '1\n');
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /fanout/);
    }
    const notJson = await runCli(['run', tasksModule, 'square'], 'not json\n');
    assert.notEqual(notJson.code, 0);
    assert.match(notJson.stderr, /line 1: not JSON/);
    for (const command of ['run', 'profile', 'demo']) {
      const help = await runCli([command, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /Usage: fanout/);
    }
  });

  it('streams: a result comes out before the input has ended', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [cliPath, 'run', tasksModule, 'square', '--workers', '1'],
      {
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );
    child.stdout?.setEncoding('utf8');
    const firstLine = new Promise<string>((resolve) => {
      let text = '';
      child.stdout?.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\n')) resolve(text.split('\n')[0] as string);
      });
    });
    child.stdin?.write('7\n');
    assert.equal(await firstLine, '49', 'the first result arrives while stdin is still open');
    child.stdin?.end('8\n');
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0);
  });

  it('--trace writes a Chrome trace: one track per worker, spans for batches and tasks', async () => {
    const trace = join(dir, 'trace.json');
    const r = await runCli(
      ['run', tasksModule, 'slowSquare', '--workers', '2', '--trace', trace],
      `${range(20).join('\n')}\n`,
    );
    assert.equal(r.code, 0, r.stderr);
    const events = JSON.parse(readFileSync(trace, 'utf8')).traceEvents as {
      ph: string;
      cat?: string;
      tid: number;
      name: string;
    }[];
    const tracks = new Set(events.filter((e) => e.name === 'thread_name').map((e) => e.tid));
    assert.ok(tracks.size >= 1 && tracks.size <= 2);
    assert.equal(events.filter((e) => e.ph === 'X' && e.cat === 'task').length, 20);
    assert.ok(events.some((e) => e.ph === 'X' && e.cat === 'batch'));
  });
});

describe('fanout profile and demo', { timeout: 300_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('profile measures 1..N workers, fits Amdahl, predicts, suggests, and writes a report', async () => {
    const input = join(dir, 'in.jsonl');
    writeFileSync(
      input,
      `${range(200)
        .map(() => '2')
        .join('\n')}\n`,
    );
    const report = join(dir, 'profile.html');
    const r = await runCli([
      'profile',
      tasksModule,
      'busy',
      '--input',
      input,
      '--max-workers',
      '2',
      '--report',
      report,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /workers\s+seconds\s+speedup\s+efficiency/);
    assert.match(r.stdout, /Amdahl's parallel fraction p = [01]\.\d{3}/);
    assert.match(r.stdout, /64\s+\d+(\.\d)?×/);
    const html = readFileSync(report, 'utf8');
    assert.match(html, /<svg id="speedup"/);
    assert.match(html, /<svg id="efficiency"/);
    assert.match(html, /<svg id="timeline"/);
  });

  it('demo weather --quick: every variant’s mean is the process’s, the pools’ the serial loop’s', async () => {
    const report = join(dir, 'weather.html');
    const r = await runCli(['demo', 'weather', '--quick', '--report', report]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /agree to the last bit/);
    assert.match(readFileSync(report, 'utf8'), /<svg id="speedup"/);
    // Not the demo's word for it: x₀ = 75, xₜ₊₁ ~ Normal((72 + xₜ) / 2, 5) has mean 72 + 3 / 2ⁿ
    // after n steps and a spread below 5 / √(1 − 1/4), so the mean of `sims` runs lies within 6
    // standard errors of it. The pools must print the serial loop's mean, digit for digit.
    const spread = 5 / Math.sqrt(1 - 1 / 4);
    for (const steps of [10, 100]) {
      const means = new Map<string, string>();
      for (const variant of [
        'serial loop',
        'pool.map, threads',
        'pool.map, processes',
        'vectorised (typed array)',
      ]) {
        const cells = rows(r.stdout, variant).find((c) => c[1] === String(steps));
        assert.ok(cells, `${variant}: no row for ${steps} steps`);
        const sims = numberIn(cells[2]);
        const mean = cells[cells.length - 1] as string;
        const error = Math.abs(Number(mean) - (72 + 3 / 2 ** steps));
        assert.ok(
          sims > 0 && error < (6 * spread) / Math.sqrt(sims),
          `${variant}, ${steps} steps: mean ${mean}`,
        );
        means.set(variant, mean);
      }
      assert.equal(means.get('pool.map, threads'), means.get('serial loop'), `${steps} steps`);
      assert.equal(means.get('pool.map, processes'), means.get('serial loop'), `${steps} steps`);
    }
  });
});
