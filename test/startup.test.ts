/**
 * Start-up: importing fanout loads only what a first program needs. The parts a program may
 * never use load when first used: acorn (inline functions), the redis backend and its drivers,
 * Slurm, the readers of file chunks. A task module imports `fanout` too, in every worker, so
 * this is paid once per worker as well (bench/startup.ts measures it).
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const log = fileURLToPath(new URL('./fixtures/module-log.mjs', import.meta.url));
const caller = fileURLToPath(new URL('./fixtures/startup-caller.mjs', import.meta.url));

/** The modules of this package that importing `file` (in a fresh node) loads, as paths under dist/. */
async function distModulesLoadedBy(file: string): Promise<Set<string>> {
  const url = new URL(`../dist/${file}`, import.meta.url).href;
  const { stderr } = await promisify(execFile)(
    process.execPath,
    ['--import', log, '--input-type=module', '-e', `await import(${JSON.stringify(url)});`],
    { env: { ...process.env, NODE_OPTIONS: '' } },
  );
  const distUrl = new URL('../dist/', import.meta.url).href;
  return new Set(
    stderr
      .split('\n')
      .map((line) => line.replace(/^loaded /, ''))
      .filter((loaded) => loaded.startsWith(distUrl))
      .map((loaded) => loaded.slice(distUrl.length)),
  );
}

it('importing fanout loads no optional part; an inline function loads acorn when first used', {
  skip: !existsSync(dist) && 'run `npm run build` first',
}, async () => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', log, caller], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const { results, acorn } = JSON.parse(stdout);
  assert.deepEqual(results, [2, 4]);
  assert.deepEqual(
    acorn,
    { atImport: false, afterInline: true },
    'acorn loads for the first inline function',
  );
  const [atImport] = stderr.split('imported\n') as [string];
  const optional =
    /node_modules\/(acorn|bullmq|ioredis)\/|dist\/(redis\/engine|cluster\/slurm|chunks\/reader-tasks)\.js/;
  assert.deepEqual(
    atImport.split('\n').filter((line) => optional.test(line)),
    [],
    'loaded by the import alone',
  );
});

it('a task module that imports fanout/tasks makes a worker load one module more than it has already: no pool, backend, scheduler, cache or chunk source', {
  skip: !existsSync(dist) && 'run `npm run build` first',
}, async () => {
  const worker = await distModulesLoadedBy('worker/runtime.js');
  const tasks = await distModulesLoadedBy('tasks.js');
  assert.deepEqual(
    [...tasks].filter((module) => !worker.has(module)),
    ['tasks.js'],
  );
  // What `fanout` itself would have added, for contrast: the reason fanout/tasks exists.
  const whole = await distModulesLoadedBy('index.js');
  assert.ok([...whole].some((module) => /^(api|local|scheduler|memory)\//.test(module)));
});
