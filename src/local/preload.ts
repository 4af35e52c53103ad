/**
 * Where the worker entry files are, and how a worker thread gets the parent's module loaders.
 *
 * On Node 20, `--import` preloads (tsx, for example) run in the main thread but not in worker
 * threads, so a thread could not import a `.ts` task module. The thread bootstrap imports the
 * same preloads itself, resolved from the parent's working directory as Node does. tsx's
 * loader registers its hooks only on the main thread of Node 20, so for tsx the bootstrap
 * calls its public `register()` API instead. Child processes inherit `execArgv` and need none
 * of this.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ownModule } from '../layout.js';
import { INSIDE_WORKER_KEY } from '../options/inside-worker.js';
import { SYNC_LOAD_FAILURES_KEY } from '../worker/sync-load.js';
import { parseNodeFlags, splitNodeOptions } from './exec-argv.js';

export function entryUrl(name: 'thread-entry' | 'process-entry'): URL {
  return ownModule(`worker/${name}`);
}

/** The `fanout` command's own script (cli/main), as this copy of fanout has it. */
export function cliUrl(): URL {
  return ownModule('cli/main');
}

/** The Node flags code runs with here: `execArgv` (the caller's own by default), then NODE_OPTIONS'. */
function flagsWith(execArgv: readonly string[] = process.execArgv): string[] {
  return [...execArgv, ...splitNodeOptions(process.env.NODE_OPTIONS ?? '')];
}

function preloadSpecifiers(): string[] {
  return parseNodeFlags(flagsWith()).flatMap((flag) =>
    flag.name === '--import' && flag.value ? [flag.value] : [],
  );
}

function resolvePreload(specifier: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier) && !/^[a-z]:[\\/]/i.test(specifier)) return specifier;
  if (specifier.startsWith('.') || isAbsolute(specifier)) return pathToFileURL(resolve(specifier)).href;
  try {
    return pathToFileURL(createRequire(pathToFileURL(`${process.cwd()}/`)).resolve(specifier)).href;
  } catch {
    return import.meta.resolve(specifier);
  }
}

/** A module a worker thread imports before its entry; `register` names a function to call in it. */
export interface Preload {
  readonly url: string;
  readonly register?: string;
}

/** tsx's ESM API module (`tsx/esm/api`, import condition), found from its own package.json. */
function tsxApi(loaderUrl: string): string | undefined {
  const root = loaderUrl.match(/^(.*\/tsx\/)dist\/(?:loader|esm\/index)\.mjs$/)?.[1];
  if (!root) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
    const target = manifest.exports?.['./esm/api']?.import?.default;
    return typeof target === 'string' ? new URL(target, root).href : undefined;
  } catch {
    return undefined;
  }
}

function toPreload(url: string): Preload {
  const api = tsxApi(url);
  return api ? { url: api, register: 'register' } : { url };
}

let cachedPreloads: Preload[] | undefined;

/** The parent's `--import` preloads, as a worker thread can apply them. */
export function threadPreloads(): Preload[] {
  cachedPreloads ??= preloadSpecifiers().map(resolvePreload).map(toPreload);
  return cachedPreloads;
}

/** Flags that make modules load through something else than Node's own loader (hooks, preloads). */
const LOADER_FLAGS = new Set(['--import', '--require', '--loader', '--experimental-loader']);

/**
 * Whether a Node `version` loads ES modules with `require()` (`supported`:
 * `process.features.require_module`) without an ExperimentalWarning: not 22.12 nor 23.0–23.4,
 * which warned unless the caller was under node_modules.
 */
export function requiresModulesQuietly(supported: boolean, version: string): boolean {
  if (!supported) return false;
  const [major, minor] = version.split('.').map(Number) as [number, number];
  return !((major === 22 && minor === 12) || (major === 23 && minor < 5));
}

/**
 * Whether a worker thread may load its entry and first task modules with `require()` (see
 * threadBootstrap): where Node loads ES modules that way without a warning (20.19+, 22.13+,
 * 23.5+: `process.features.require_module`, less the releases that warned), and nothing in the
 * thread's flags (`execArgv`: the caller's, or the pool's) hooks or preloads module loading,
 * which `require()` would bypass or run differently.
 */
export function threadLoadsSync(execArgv: readonly string[] | undefined): boolean {
  const features = process.features as { readonly require_module?: boolean };
  if (!requiresModulesQuietly(features.require_module === true, process.versions.node)) return false;
  return !parseNodeFlags(flagsWith(execArgv)).some((flag) => LOADER_FLAGS.has(flag.name));
}

/**
 * The code a worker thread is started with: import the preloads, then the entry and, beside it,
 * the task modules its first batch needs (`modules`), so that their files load while the entry
 * compiles instead of after it (a failure is left for that batch to report, when the runtime
 * imports the module again). A task module may then run before the entry: the thread is marked
 * a fanout worker first, which is all a module could ask of the runtime.
 *
 * Where it may (`workerData.sync`: threadLoadsSync), it requires the entry and the modules
 * instead: the first `import()` of a thread starts Node's asynchronous module loader, ~3 ms
 * before anything of the module runs (its promise-based file reads load node:fs/promises and
 * what that needs), where require() reads and links the same ES modules synchronously. Same
 * modules, same instances: a later `import()` finds them loaded. A module require() cannot load
 * (top-level await, a file it cannot find or compile) is imported when its first batch needs it,
 * as without this (worker/sync-load.ts keeps the error for the one case that needs it).
 *
 * Node reads the bootstrap as a CommonJS script or as an ES module depending on the caller's
 * flags (`--input-type=module` makes it a module), so it is written to mean the same as either:
 * `require` only where it is defined, no top-level `await`, no `import` statement.
 */
export const threadBootstrap = `
(typeof require === 'function' ? Promise.resolve(require('node:worker_threads')) : import('node:worker_threads')).then(async ({ workerData }) => {
  globalThis[Symbol.for(${JSON.stringify(INSIDE_WORKER_KEY)})] = true;
  if (workerData.sync && typeof require === 'function') {
    const { fileURLToPath } = require('node:url');
    require(fileURLToPath(workerData.entry));
    const failures = globalThis[Symbol.for(${JSON.stringify(SYNC_LOAD_FAILURES_KEY)})] = new Map();
    for (const url of workerData.modules) {
      if (!url.startsWith('file:')) continue;
      try { require(fileURLToPath(url)); } catch (error) { failures.set(url, error); }
    }
    return;
  }
  for (const preload of workerData.preloads) {
    const loaded = await import(preload.url);
    if (preload.register) (loaded[preload.register] ?? loaded.default[preload.register])();
  }
  await Promise.all([import(workerData.entry), ...workerData.modules.map((url) => import(url).catch(() => {}))]);
}).catch((error) => { process.nextTick(() => { throw error; }); });
`;
