/** The command line: fanout run, profile and demo, their exit codes, and what they write. */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cliPath,
  decodeRunLine,
  FailedLine,
  numberIn,
  rows,
  runCli,
  skipWithoutBuild,
} from './cli-harness.js';
import { sample } from './fixtures/cli-values.js';
import { range } from './helpers.js';
import { gate } from './requirements.js';

/** Without a build every test is registered as skipped, so the summary counts them. */
const { after, before, describe, it } = gate(skipWithoutBuild);

const tasksModule = fileURLToPath(new URL('./fixtures/tasks.ts', import.meta.url));
const valuesModule = fileURLToPath(new URL('./fixtures/cli-values.ts', import.meta.url));

/** Every output line decoded (results, and error records as `FailedLine`). */
const decoded = (text: string) => text.split('\n').filter(Boolean).map(decodeRunLine);

/** The error record of a decoded line (fails the test when the line is a result). */
function failure(line: unknown): FailedLine['error'] {
  assert.ok(line instanceof FailedLine, `expected an error record, got ${JSON.stringify(line)}`);
  return line.error;
}

const jsonLines = (values: unknown[]) => `${values.map((v) => JSON.stringify(v)).join('\n')}\n`;

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

  it('--errors collect writes error records and exits 1; fail stops reading at the first error and keeps every result', async () => {
    const input = '[1,3]\n[2,3]\n[3,3]\n[4,3]\n';
    const collected = await runCli(['run', tasksModule, 'failOn', '--spread', '--errors', 'collect'], input);
    assert.equal(collected.code, 1);
    const out = decoded(collected.stdout);
    assert.deepEqual([out[0], out[1], out[3]], [1, 2, 4]);
    const record = failure(out[2]);
    assert.equal(record.code, 'ERR_TASK_FAILED');
    assert.equal(record.index, 2);
    assert.equal(record.line, 3);
    assert.match(record.message, /bad item 3/);
    assert.match(collected.stderr, /1 of 4 items failed/);
    const failing = await runCli(['run', tasksModule, 'failOn', '--spread'], input);
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /stdin, line 3: Task "failOn" failed on item 2/);
    // Every result before the failure is written, then its record; items already read follow.
    const partial = decoded(failing.stdout);
    assert.deepEqual(partial.slice(0, 2), [1, 2]);
    assert.equal(failure(partial[2]).index, 2);
    assert.ok(partial.length === 3 || (partial.length === 4 && partial[3] === 4), failing.stdout);
  });

  it('writes every result without loss: values JSON cannot represent are tagged, and decode to what the task returns (threads, processes, inline)', async () => {
    const kinds = [
      'undefined',
      'NaN',
      'Infinity',
      '-Infinity',
      '-0',
      'bigint',
      'Map',
      'Set',
      'Float64Array',
      'BigInt64Array',
      'Uint8Array',
      'ArrayBuffer',
      'Date',
      'invalid Date',
      'RegExp',
      'Error',
      'boxed',
      'nested',
      'sparse',
      'looks like a tag',
      'looks like an error record',
      'plain',
      'shared',
    ];
    for (const backend of ['threads', 'processes', 'inline']) {
      const r = await runCli(['run', valuesModule, 'value', '--backend', backend], jsonLines(kinds));
      assert.equal(r.code, 0, `${backend}: ${r.stderr}`);
      const lines = r.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, kinds.length, backend);
      kinds.forEach((kind, i) => {
        const value = decodeRunLine(lines[i] as string);
        // assert compares dates with ===, and NaN !== NaN.
        if (kind === 'invalid Date') assert.ok(value instanceof Date && Number.isNaN(value.getTime()), kind);
        else assert.deepStrictEqual(value, sample(kind), `${backend}: ${kind}`);
      });
      // What JSON represents exactly stays plain JSON.
      assert.equal(lines[kinds.indexOf('plain')], JSON.stringify(sample('plain')));
    }
  });

  it('a result no line can hold is an error record naming its item and line; every other result is written', async () => {
    const kinds = ['plain', 'function', 'bigint', 'cycle', 'class instance', '-0'];
    const input = `${kinds.map((k) => JSON.stringify(k)).join('\n\n')}\n`; // blank lines between
    for (const order of [[], ['--unordered']]) {
      const r = await runCli(['run', valuesModule, 'value', '--errors', 'collect', ...order], input);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /3 of 6 items failed/);
      const out = decoded(r.stdout);
      assert.equal(out.length, kinds.length);
      const records = out.filter((line) => line instanceof FailedLine).map(failure);
      assert.deepEqual(
        records
          .map(({ index, line, code }) => ({ index, line, code }))
          .sort((a, b) => (a.index ?? 0) - (b.index ?? 0)),
        [1, 3, 4].map((index) => ({ index, line: 2 * index + 1, code: 'ERR_NOT_CLONEABLE' })),
      );
      const messages = records.map((e) => e.message).join('\n');
      assert.match(messages, /item 1 .*a function \(callback\) at \.callback/);
      assert.match(messages, /item 3 .*cycle\) at \.self\.back/);
      assert.match(messages, /item 4 .*class Point.* at \[0\]/);
      const values = out.filter((line) => !(line instanceof FailedLine));
      assert.equal(values.length, 3);
      for (const kind of ['plain', 'bigint', '-0']) {
        assert.ok(
          values.some((v) => {
            try {
              assert.deepStrictEqual(v, sample(kind));
              return true;
            } catch {
              return false;
            }
          }),
          kind,
        );
      }
    }
  });

  it('a line that is not JSON is an error record with its line number, and every other result is kept', async () => {
    // 5,000 items (a blank line among them), a bad line, then 10 more: the run used to stop with
    // a usage error and write only the results it had reached.
    const text = `${range(2500).join('\n')}\n\n${range(2500)
      .map((x) => x + 2500)
      .join('\n')}\nnot json\n${range(10).join('\n')}\n`;
    const input = join(dir, 'bad-line.jsonl');
    writeFileSync(input, text);
    const collected = await runCli(['run', tasksModule, 'square', '--input', input, '--errors', 'collect']);
    assert.equal(collected.code, 1, collected.stderr);
    const all = decoded(collected.stdout);
    assert.equal(all.length, 5011);
    assert.deepEqual(
      all.slice(0, 5000),
      range(5000).map((x) => x * x),
    );
    assert.deepEqual(
      all.slice(5001),
      range(10).map((x) => x * x),
    );
    const record = failure(all[5000]);
    assert.deepEqual([record.index, record.line, record.code], [5000, 5002, 'ERR_CHUNK_PARSE']);
    assert.match(record.message, /not JSON/);

    const failing = await runCli(['run', tasksModule, 'square', '--input', input]);
    assert.equal(failing.code, 1);
    assert.equal(failing.stderr.trim().split('\n').length, 1, failing.stderr);
    assert.match(failing.stderr, /^fanout run: .*bad-line\.jsonl, line 5002: not JSON/);
    const kept = decoded(failing.stdout);
    assert.deepEqual(
      kept.slice(0, 5000),
      range(5000).map((x) => x * x),
    );
    assert.equal(failure(kept[5000]).line, 5002);
    // Lines read before the run stopped still get their results, in order.
    assert.deepEqual(
      kept.slice(5001),
      range(kept.length - 5001).map((x) => x * x),
    );

    const spread = await runCli(
      ['run', tasksModule, 'add', '--spread', '--errors', 'collect'],
      '[1,2]\n3\n[3,4]\n',
    );
    assert.equal(spread.code, 1);
    const spreadOut = decoded(spread.stdout);
    assert.deepEqual([spreadOut[0], spreadOut[2]], [3, 7]);
    assert.match(failure(spreadOut[1]).message, /not an array of arguments/);
  });

  it('a file that cannot be read or written: one line on stderr and exit code 3', async () => {
    const input = join(dir, 'three.jsonl');
    writeFileSync(input, '1\n2\n3\n');
    const folder = join(dir, 'a-folder');
    mkdirSync(folder, { recursive: true });
    const cases: [string[], RegExp][] = [
      [['--input', join(dir, 'missing.jsonl')], /cannot read .*missing\.jsonl: ENOENT/],
      [['--input', folder], /cannot read .*a-folder: EISDIR/],
      [
        ['--input', input, '--output', join(dir, 'no-such-folder', 'out.jsonl')],
        /cannot write .*out\.jsonl: ENOENT/,
      ],
    ];
    if (existsSync('/dev/full'))
      cases.push([['--input', input, '--output', '/dev/full'], /cannot write \/dev\/full: ENOSPC/]);
    for (const [flags, message] of cases) {
      const r = await runCli(['run', tasksModule, 'square', ...flags]);
      assert.equal(r.code, 3, `${flags.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^fanout run: /);
      assert.match(r.stderr, message);
    }
    assert.equal(existsSync(join(dir, 'no-such-folder')), false);
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
    for (const command of ['run', 'profile', 'demo']) {
      const help = await runCli([command, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /Usage: fanout/);
    }
    const help = await runCli(['run', '--help']);
    assert.match(help.stdout, /Exit codes: 0 done; 1 an item failed/);
    assert.match(help.stdout, /"\$fanout":"error"/);
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

/** The one line a failing command prints on stderr (a usage error adds the usage after a blank line). */
const firstLine = (stderr: string) => stderr.split('\n')[0] as string;

describe('every command: one-line errors, distinct exit codes, --version', { timeout: 120_000 }, () => {
  const broken = (name: string) => fileURLToPath(new URL(`./fixtures/broken/${name}`, import.meta.url));
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a task module that does not load: one line naming the file and the line, exit code 4', async () => {
    const cases: [string, RegExp][] = [
      [
        'bad-syntax.mjs',
        /^fanout run: cannot load task module .*bad-syntax\.mjs \(line 2, column \d+\): SyntaxError: /,
      ],
      [
        'bad-syntax.ts',
        /^fanout run: cannot load task module .*bad-syntax\.ts \(line 3, column \d+\): SyntaxError: /,
      ],
      [
        'throws-at-load.mjs',
        /^fanout run: cannot load task module .*throws-at-load\.mjs \(line 2, column 7\): Error: boom at load$/,
      ],
    ];
    for (const [file, message] of cases) {
      const r = await runCli(['run', broken(file), 'square'], '1\n');
      assert.equal(r.code, 4, `${file}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), message);
    }
    const profiled = await runCli(['profile', broken('bad-syntax.mjs'), 'square', '--input', '-'], '1\n');
    assert.equal(profiled.code, 4, profiled.stderr);
    assert.match(
      profiled.stderr.trim(),
      /^fanout profile: cannot load task module .*bad-syntax\.mjs \(line 2/,
    );
  });

  it('a typo of a flag or a command names the nearest one: exit code 2, with the usage', async () => {
    const cases: [string[], string][] = [
      [
        ['run', tasksModule, 'square', '--wrokers', '2'],
        'fanout run: unknown flag --wrokers: did you mean --workers?',
      ],
      [
        ['run', tasksModule, 'square', '--unorderd'],
        'fanout run: unknown flag --unorderd: did you mean --unordered?',
      ],
      [['run', tasksModule, 'square', '--bogus'], 'fanout run: unknown flag --bogus'],
      [
        ['profile', tasksModule, 'square', '--smaple', '3'],
        'fanout profile: unknown flag --smaple: did you mean --sample?',
      ],
      [['demo', 'weather', '--quik'], 'fanout demo: unknown flag --quik: did you mean --quick?'],
      [['slurm', 'status', '--queu', 'q'], 'fanout slurm: unknown flag --queu: did you mean --queue?'],
      [['rnu'], 'fanout: unknown command "rnu": did you mean run?'],
    ];
    for (const [args, line] of cases) {
      const r = await runCli(args, '1\n');
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(firstLine(r.stderr), line);
      assert.match(r.stderr, /\n\nUsage: fanout/);
    }
  });

  it('an input that is not JSON: one line naming the line, without the usage (run: 1, as a failed item; profile: 1)', async () => {
    const run = await runCli(['run', tasksModule, 'square'], '1\n{oops\n3\n');
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stderr.trim(), `fanout run: stdin, line 2: not JSON (${jsonError('{oops')})`);
    const input = join(dir, 'bad.jsonl');
    writeFileSync(input, '1\n\n[2\n');
    const profile = await runCli(['profile', tasksModule, 'square', '--input', input]);
    assert.equal(profile.code, 1, profile.stderr);
    assert.equal(profile.stderr.trim(), `fanout profile: ${input}, line 3: not JSON`);
  });

  it('a failed item is one line on stderr that says where the task threw; exit code 1', async () => {
    const r = await runCli(['run', tasksModule, 'failOn', '--spread'], '[1,3]\n[3,3]\n');
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      /^fanout run: stdin, line 2: Task "failOn" failed on item 1: Error: bad item 3 \(at .*tasks\.ts:\d+:\d+\)$/m,
    );
  });

  it('--version and -v print the package version; every --help lists the exit codes', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    for (const flag of ['--version', '-v']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `${version}\n`);
    }
    for (const args of [
      ['--help'],
      ['run', '--help'],
      ['profile', '--help'],
      ['demo', '--help'],
      ['slurm', '--help'],
      ['worker', '--help'],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(
        r.stdout,
        /Exit codes: 0 done; 1 an item failed, or the work could not complete; 2 a bad flag or\nargument \(with the usage\); 3 a file cannot be read or written; 4 a task module does not load/,
        args.join(' '),
      );
    }
  });
});

/** JSON.parse's own message for `text`, as this Node.js words it. */
function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`${text} is JSON`);
}

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
