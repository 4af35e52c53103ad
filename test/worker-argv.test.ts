/**
 * Workers run only the worker entry, however node ran the caller (issue 14: under `node -e`,
 * every worker process re-ran the caller's code, a fork bomb; threads failed under
 * `--input-type=module`).
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool } from '../src/index.js';
import {
  flagRole,
  inheritedEnv,
  inheritedExecArgv,
  parseNodeFlags,
  splitNodeOptions,
  workerExecArgv,
} from '../src/local/exec-argv.js';
import { requiresModulesQuietly, threadLoadsSync } from '../src/local/preload.js';

describe('the Node flags a worker inherits', () => {
  it('a thread requires its code only on a Node that does so without a warning', () => {
    const table: [boolean, string, boolean][] = [
      [false, '20.18.3', false],
      [true, '20.19.0', true],
      [true, '22.12.0', false],
      [true, '22.13.1', true],
      [true, '23.4.0', false],
      [true, '23.5.0', true],
      [true, '24.1.0', true],
    ];
    for (const [supported, version, quiet] of table)
      assert.equal(requiresModulesQuietly(supported, version), quiet, `${version}, supported: ${supported}`);
  });

  it('a thread requires its code only where no flag hooks or preloads module loading', {
    skip: process.features.require_module !== true && 'this Node cannot require() ES modules',
  }, () => {
    const saved = process.env.NODE_OPTIONS;
    try {
      process.env.NODE_OPTIONS = '';
      assert.equal(threadLoadsSync([]), true);
      assert.equal(threadLoadsSync(['--max-old-space-size=512', '--enable-source-maps']), true);
      for (const flags of [
        ['--import', 'tsx'],
        ['--import=tsx'],
        ['-r', 'ts-node/register'],
        ['--loader', 'x'],
        ['--experimental-loader=x'],
      ])
        assert.equal(threadLoadsSync(flags), false, flags.join(' '));
      process.env.NODE_OPTIONS = '--import tsx';
      assert.equal(threadLoadsSync([]), false, 'NODE_OPTIONS counts too');
    } finally {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
    }
  });

  // [the caller's execArgv, what a worker gets]
  const table: [string[], string[]][] = [
    // Flags that choose the program, or how its source is read: dropped, with their values.
    [['-e', 'main()'], []],
    [['--eval', 'main()'], []],
    [['--eval=main()'], []],
    [['-p', 'main()'], []],
    [['--print', 'main()'], []],
    [['--print=main()'], []],
    [['-pe', 'main()'], []],
    [['-p', '-e', 'main()'], []],
    [['-e', 'main()', '-p'], []],
    [['--input-type=module', '-e', 'main()'], []],
    [['--input-type', 'module', '--eval', 'main()'], []],
    [['--input_type=module'], []],
    [['--check'], []],
    [['-c'], []],
    [['-i'], []],
    [['--interactive'], []],
    [['--test'], []],
    [['--test-reporter', 'spec', '--test-reporter-destination=stdout'], []],
    [['--test-only', '--test-name-pattern=x', '--test-concurrency=1', '--test-force-exit'], []],
    [['--experimental-test-coverage'], []],
    [['--watch', '--watch-path', 'src', '--watch-preserve-output'], []],
    [['--run', 'build'], []],
    [['--snapshot-blob', 'app.blob'], []],
    [['--build-snapshot'], []],
    // The caller's own: its inspector port, its env file (the worker is given its environment).
    [['--inspect'], []],
    [['--inspect=9230'], []],
    [['--inspect-brk'], []],
    [['--inspect-brk=0'], []],
    [['--inspect_wait'], []],
    [['--inspect-port', '9230'], []],
    [['--debug-port=9230'], []],
    [['--env-file', '.env'], []],
    [['--env-file=.env', '--env-file-if-exists=.env.local'], []],
    // Runtime and loader flags: kept as written.
    [
      ['--import', 'tsx'],
      ['--import', 'tsx'],
    ],
    [['--import=tsx'], ['--import=tsx']],
    [
      ['-r', 'ts-node/register', '--require=./setup.cjs'],
      ['-r', 'ts-node/register', '--require=./setup.cjs'],
    ],
    [
      ['--loader', 'tsx', '--experimental-loader=./hooks.mjs'],
      ['--loader', 'tsx', '--experimental-loader=./hooks.mjs'],
    ],
    [
      ['-C', 'development', '--conditions=node'],
      ['-C', 'development', '--conditions=node'],
    ],
    [
      ['--max-old-space-size=512', '--max_semi_space_size=16'],
      ['--max-old-space-size=512', '--max_semi_space_size=16'],
    ],
    [
      ['--experimental-vm-modules', '--experimental-default-type=module'],
      ['--experimental-vm-modules', '--experimental-default-type=module'],
    ],
    [
      ['--enable-source-maps', '--no-warnings', '--stack-trace-limit=50', '--title', 'job'],
      ['--enable-source-maps', '--no-warnings', '--stack-trace-limit=50', '--title', 'job'],
    ],
    // Mixed: each flag decided on its own, order kept.
    [
      [
        '--import',
        'tsx',
        '--input-type=module',
        '--max-old-space-size=100',
        '-e',
        'main()',
        '--enable-source-maps',
      ],
      ['--import', 'tsx', '--max-old-space-size=100', '--enable-source-maps'],
    ],
    [
      ['--inspect-brk', '--conditions', 'dev', '--test', '--import', './loader.mjs'],
      ['--conditions', 'dev', '--import', './loader.mjs'],
    ],
  ];
  for (const [caller, worker] of table) {
    it(`${JSON.stringify(caller)} → ${JSON.stringify(worker)}`, () => {
      assert.deepEqual(inheritedExecArgv(caller), worker);
    });
  }

  it('reads values the way node does: a value never starts with "-"', () => {
    assert.deepEqual(parseNodeFlags(['--import', 'tsx', '-r', 'a', '--title=x', '--no-warnings']), [
      { name: '--import', value: 'tsx', tokens: ['--import', 'tsx'] },
      { name: '--require', value: 'a', tokens: ['-r', 'a'] },
      { name: '--title', value: 'x', tokens: ['--title=x'] },
      { name: '--no-warnings', value: undefined, tokens: ['--no-warnings'] },
    ]);
    assert.equal(flagRole(''), 'program'); // a script
  });

  it('applies the same rule to NODE_OPTIONS, split as node splits it', () => {
    assert.deepEqual(splitNodeOptions(' --import tsx  --title "a b" --title "q\\"\\\\" --title ""'), [
      '--import',
      'tsx',
      '--title',
      'a b',
      '--title',
      'q"\\',
      '--title',
      '',
    ]);
    const env = { PATH: '/bin', NODE_OPTIONS: '--import tsx --max-old-space-size=512' };
    assert.equal(inheritedEnv(env), env, 'nothing dropped: left as it was');
    assert.deepEqual(
      inheritedEnv({
        PATH: '/bin',
        NODE_OPTIONS: '--input-type=module --import "./my loader.mjs" --inspect',
      }),
      {
        PATH: '/bin',
        NODE_OPTIONS: '--import "./my loader.mjs"',
      },
    );
    assert.deepEqual(inheritedEnv({ PATH: '/bin' }), { PATH: '/bin' });
  });

  it("a pool's execArgv may not choose the program, but may ask for the caller-only flags", () => {
    for (const extra of [
      ['-e', '1'],
      ['--eval=1'],
      ['-p'],
      ['--input-type=module'],
      ['--test'],
      ['--watch'],
      ['main.js'],
      ['--', 'main.js'],
      ['-'],
    ]) {
      for (const backend of ['threads', 'processes'] as const) {
        assert.throws(
          () => new Pool({ backend, execArgv: extra }),
          (error: Error & { code?: string }) =>
            error.code === 'ERR_INVALID_ARG_VALUE' &&
            /`execArgv` may not contain .*worker entry/.test(error.message),
          `${backend} ${JSON.stringify(extra)}`,
        );
      }
    }
    assert.deepEqual(workerExecArgv(['--inspect=0', '--env-file=.env']), [
      ...inheritedExecArgv(),
      '--inspect=0',
      '--env-file=.env',
    ]);
  });
});

const root = fileURLToPath(new URL('..', import.meta.url));
const callerUrl = new URL('./fixtures/pool-caller.mjs', import.meta.url).href;
const preloadUrl = new URL('./fixtures/pool-in-preload.mjs', import.meta.url).href;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run node with `args` in its own process group, so that a hang (the guard: not a timing
 * check) kills every process it started, and check that none is left once it exits.
 */
async function runNode(args: string[], env: Record<string, string>, stdin = ''): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  // A nested `node --test` would otherwise report to this test runner's protocol, not as text.
  delete childEnv.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, args, { cwd: root, env: childEnv, detached: true });
  const group = child.pid as number;
  child.stdin.end(stdin);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const hang = setTimeout(() => process.kill(-group, 'SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(hang);
  let left = true;
  for (let i = 0; i < 200 && left; i++) {
    try {
      process.kill(-group, 0);
      await sleep(50);
    } catch {
      left = false;
    }
  }
  if (left) process.kill(-group, 'SIGKILL');
  assert.ok(!left, `processes of ${JSON.stringify(args)} were still running after it exited`);
  return { code, stdout, stderr };
}

describe('workers run only the worker entry, however node ran the caller', () => {
  const modes: { name: string; args: string[]; stdin?: string; env?: Record<string, string> }[] = [
    { name: 'node -e', args: ['-e', `import(${JSON.stringify(callerUrl)})`] },
    { name: 'node -p', args: ['-p', `import(${JSON.stringify(callerUrl)})`] },
    {
      name: 'node --input-type=module -e',
      args: ['--input-type=module', '-e', `await import(${JSON.stringify(callerUrl)})`],
    },
    {
      name: 'stdin, --input-type=module',
      args: ['--input-type=module'],
      stdin: `await import(${JSON.stringify(callerUrl)})`,
    },
    { name: 'node --test', args: ['--test', fileURLToPath(callerUrl)] },
    {
      name: 'NODE_OPTIONS=--input-type=module node -e',
      args: ['-e', `await import(${JSON.stringify(callerUrl)})`],
      env: { NODE_OPTIONS: '--input-type=module' },
    },
  ];
  for (const backend of ['processes', 'threads']) {
    for (const mode of modes) {
      it(`${backend}: ${mode.name}`, async () => {
        const env = { ...mode.env, FANOUT_TEST_BACKEND: backend };
        const run = await runNode(['--import', 'tsx', ...mode.args], env, mode.stdin);
        const shown = `exit ${run.code}\n${run.stdout}\n${run.stderr}`;
        assert.doesNotMatch(run.stdout, /RERUN/, `a worker ran the caller's program:\n${shown}`);
        const outs = [...run.stdout.matchAll(/OUT (\{.*\})/g)].map((m) => JSON.parse(m[1] as string));
        assert.equal(outs.length, 1, shown);
        assert.deepEqual(outs[0].squares, [1, 4, 9, 16, 25, 36]);
        assert.ok(outs[0].workers >= 1 && outs[0].workers <= 2, `${outs[0].workers} workers ran tasks`);
        assert.equal(run.code, 0, shown);
      });
    }
  }

  it('a preload that starts a pool cannot make a worker process start workers', async () => {
    // Preloads are kept (loaders are preloads), so each worker process runs this one before its
    // entry; the worker guard stops it there, and the pool says why its workers did not start.
    const run = await runNode(['--import', 'tsx', '--import', preloadUrl, '-e', ''], {});
    const shown = `exit ${run.code}\n${run.stdout}\n${run.stderr}`;
    assert.doesNotMatch(run.stdout, /NESTED/, `a worker's worker ran the preload:\n${shown}`);
    const lines = run.stdout.split('\n').filter((line) => line.startsWith('PRELOAD'));
    assert.equal(lines.length, 1, shown);
    assert.match(lines[0] as string, /^PRELOAD 0 ERR_WORKER_CRASHED .*ran code other than the worker entry/);
    assert.equal(run.code, 0, shown);
  });
});
