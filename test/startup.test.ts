/**
 * Start-up: importing fanout loads only what a first program needs. The parts a program may
 * never use load when first used: acorn (inline functions), the redis backend and its drivers,
 * Slurm, the readers of file chunks. A task module imports `fanout/tasks` in every worker, so
 * what that adds is paid once per worker as well (bench/startup.ts measures the whole).
 *
 * The package's JavaScript is a bundle (scripts/bundle.mjs): a file of dist/ holds several source
 * modules. The bundler's record of which (dist-meta.json, written beside dist/ by the build)
 * turns the files a program loads back into the source modules they hold.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const metaFile = fileURLToPath(new URL('../dist-meta.json', import.meta.url));
const log = fileURLToPath(new URL('./fixtures/module-log.mjs', import.meta.url));
const caller = fileURLToPath(new URL('./fixtures/startup-caller.mjs', import.meta.url));
const threadClock = fileURLToPath(new URL('./fixtures/thread-clock.mjs', import.meta.url));
const syncLoad = fileURLToPath(new URL('./fixtures/sync-load.mjs', import.meta.url));
const skip = !(existsSync(dist) && existsSync(metaFile)) && 'run `npm run build` first';

interface Output {
  readonly imports: readonly { readonly path: string; readonly kind: string; readonly external?: boolean }[];
  readonly inputs: Record<string, unknown>;
}

/** The bundle's files (`dist/x.js`, relative to the repository) and what each holds and imports. */
function bundle(): Record<string, Output> {
  return (JSON.parse(readFileSync(metaFile, 'utf8')) as { outputs: Record<string, Output> }).outputs;
}

/** The source modules (`src/...ts`) that these files of the bundle hold. */
function sourcesIn(outputs: Record<string, Output>, files: Iterable<string>): Set<string> {
  return new Set([...files].flatMap((file) => Object.keys(outputs[file]?.inputs ?? {})));
}

/**
 * The files of the bundle that importing `file` loads before its code runs: its static imports,
 * transitively (an import of a task module's own file is written as an external `./name.js`).
 */
function staticallyLoaded(outputs: Record<string, Output>, file: string): Set<string> {
  const seen = new Set<string>();
  const visit = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const imported of outputs[path]?.imports ?? []) {
      if (imported.kind !== 'import-statement') continue;
      if (!imported.external) visit(imported.path);
      else if (imported.path.startsWith('./')) visit(`dist/${imported.path.slice(2)}`);
    }
  };
  visit(file);
  return seen;
}

it('importing fanout loads no optional part; an inline function loads acorn when first used', {
  skip,
}, async () => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', log, caller], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const { results, acorn, crypto } = JSON.parse(stdout);
  assert.deepEqual(results, [2, 4]);
  assert.deepEqual(crypto, [], 'crypto code loaded by a pool and a call');
  assert.deepEqual(
    acorn,
    { atImport: false, afterInline: true },
    'acorn loads for the first inline function',
  );
  const [atImport] = stderr.split('imported\n') as [string];
  const root = new URL('..', import.meta.url).href;
  const loaded = atImport
    .split('\n')
    .map((line) => line.replace(/^loaded /, ''))
    .filter((url) => url.startsWith(root))
    .map((url) => url.slice(root.length));
  assert.ok(loaded.includes('dist/index.js'), `the log names the modules loaded: ${loaded.join(', ')}`);
  assert.deepEqual(
    loaded.filter((path) => /node_modules\/(acorn|bullmq|ioredis)\//.test(path)),
    [],
    'packages loaded by the import alone',
  );
  // The built-ins that only some programs use (src/builtins.ts) are required when first used.
  const builtins = atImport
    .split('\n')
    .filter((line) => /^loaded node:(crypto|net|child_process|v8|util|os)$/.test(line));
  assert.deepEqual(builtins, [], 'built-ins loaded by the import alone');
  // Two of the bundle's shared chunks (scripts/bundle.mjs): what workers load too, and what only
  // the caller does; every other file is an entry point of its own: `fanout`'s, and fanout's task
  // modules (each a file, as its URL names it).
  const chunks = loaded.filter((path) => path.startsWith('dist/chunk-'));
  assert.equal(chunks.length, 2, `files loaded: ${loaded.join(', ')}`);
  // The worker's runtime is not the caller's to compile (the inline backend imports it when it starts).
  assert.deepEqual(
    [...sourcesIn(bundle(), loaded)].filter((source) =>
      /^src\/worker\/(runtime|batch-run|nested|comm)\.ts$/.test(source),
    ),
    [],
    'worker code loaded by the import alone',
  );
  // Nor what loads with its first use: the graph scheduler (a program's first graph), the
  // cache's housekeeping, the CSV parser, the column statistics' per-chunk tasks (a file named by URL).
  const optional =
    /^src\/(redis\/engine|cluster\/slurm|chunks\/(reader-tasks|text|column-stat-tasks)|observe\/dashboard\/server|scheduler\/graph|memory\/maintenance)\.ts$/;
  assert.deepEqual(
    [...sourcesIn(bundle(), loaded)].filter((source) => optional.test(source)),
    [],
    'optional parts loaded by the import alone',
  );
});

it('a task module that imports fanout/tasks makes a worker load one file more than it has already: no pool, backend, scheduler, cache or chunk source', {
  skip,
}, () => {
  const outputs = bundle();
  const worker = staticallyLoaded(outputs, 'dist/thread-entry.js');
  const tasks = staticallyLoaded(outputs, 'dist/tasks.js');
  assert.deepEqual(
    [...tasks].filter((file) => !worker.has(file)),
    ['dist/tasks.js'],
  );
  assert.equal(
    worker.size,
    3,
    `a worker thread loads its entry, the chunk it shares with the caller and its own: ${[...worker].join(', ')}`,
  );
  // No pool code, nor the parts of the runtime loaded when a message first needs them: the
  // options, locks and queues, SPMD groups.
  assert.deepEqual(
    [...sourcesIn(outputs, worker)].filter((source) =>
      /^src\/(api|local|scheduler|memory|chunks|options\/(schema|resolve)\.ts|data\/sync|worker\/comm\.ts)/.test(
        source,
      ),
    ),
    [],
    'what a worker thread loads',
  );
  // Nor a built-in that only some workers use (src/builtins.ts): node:v8 was 0.5 ms of every
  // worker's start, for a heap sample; node:fs and node:os 0.3 ms, for two option checks.
  const builtins = [...worker].flatMap((file) =>
    (outputs[file]?.imports ?? []).filter((i) =>
      /^node:(v8|util|fs|os|crypto|net|child_process)$/.test(i.path),
    ),
  );
  assert.deepEqual(builtins, [], 'built-ins a worker thread imports');
  // What `fanout` itself would have added, for contrast: the reason fanout/tasks exists.
  const whole = sourcesIn(outputs, staticallyLoaded(outputs, 'dist/index.js'));
  assert.ok([...whole].some((source) => /^src\/(api|local|scheduler|memory)\//.test(source)));
});

it("a local worker times its batches on the caller's clock; a thread without loading perf_hooks", {
  skip,
}, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [threadClock], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const { thread, process: child, coreCount } = JSON.parse(stdout);
  assert.equal(coreCount, false, 'a pool given its size read the core count (node:os, ~0.4 ms)');
  // perf_hooks loads with a thread's first read of `performance`: ~0.6 ms of its first batch.
  assert.deepEqual(thread.values, [false, false, false], 'perf_hooks loaded in the worker thread');
  // The pool gives each local worker its clock with the first message (`config`).
  for (const { batches, outside } of [thread, child]) {
    assert.equal(batches, 3);
    assert.equal(outside, 0, "batches timed outside the call, on the caller's clock");
  }
});

it('a worker thread requires its entry and first task module where Node can: no asynchronous loader, same modules, the same errors', {
  skip: skip || (process.features.require_module !== true && 'this Node cannot require() ES modules'),
}, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [syncLoad], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const result = JSON.parse(stdout);
  const once = (x: number) => ({ x, evaluated: 1, asyncLoader: false });
  // The asynchronous loader (node:fs/promises and what it needs) is ~3 ms of a thread's start.
  assert.deepEqual(result.plain, [once(1), once(2)], 'a plain task module: required, evaluated once');
  // require() cannot run top-level await: the module is imported when its batch needs it.
  assert.deepEqual(result.awaiting, [once(1), once(2)], 'a module with top-level await: evaluated once');
  // A module that no longer links (changed on disk after the caller loaded it): its own error,
  // not the internal assertion Node 20-22 gives when a module whose require() failed is imported.
  assert.match(result.changing, /^ERR_TASK_MODULE_LOAD: .*does not provide an export named 'nothing'/);
});
