/**
 * Where this copy of fanout's own files are. Run from source (src/ under a TypeScript loader) or
 * from tsc's output, each module is its own file at its path under src/. In the package,
 * scripts/bundle.mjs has bundled them: every file sits in dist/ itself, an entry point named
 * after its source file (`worker/thread-entry.ts` is `dist/thread-entry.js`), and acorn is
 * `dist/acorn.cjs`. The bundler defines `FANOUT_BUNDLE`; nothing else does.
 */

import { createRequire } from 'node:module';
import { basename, extname } from 'node:path';

declare const FANOUT_BUNDLE: true | undefined;
const bundled = typeof FANOUT_BUNDLE !== 'undefined';

/** `.ts` when fanout itself runs from source under a TypeScript loader, `.js` when compiled. */
const ownExtension = extname(new URL(import.meta.url).pathname) || '.js';

/**
 * The URL of one of fanout's entry modules (one a worker or child process is started with),
 * by its path under src/ without extension: `ownModule('worker/thread-entry')`. A module that
 * needs another of fanout's files by URL asks here (scripts/bundle.mjs refuses `new URL(...,
 * import.meta.url)` anywhere else: in the bundle, a module's code is in another file).
 */
export function ownModule(path: string): URL {
  return new URL(bundled ? `./${basename(path)}.js` : `./${path}${ownExtension}`, import.meta.url);
}

/**
 * A task of one of fanout's own task modules, by the module's path under src/ and the task's
 * name: what a batch needs to name it (its worker imports the module). The caller then does not
 * load a module only to name one of its tasks: each is a file of its own, ~0.5 ms of an import.
 * test/own-tasks.test.ts checks that each such name is a task its module registers.
 */
export function ownTask(path: string, name: string): { readonly module: string; readonly name: string } {
  return { module: ownModule(path).href, name };
}

/** fanout's package.json (src/ and dist/ are both beside it). */
export const packageJsonUrl = new URL('../package.json', import.meta.url);

/**
 * acorn, required synchronously (the inline-function check runs where the call is made) the
 * first time it is needed: a program that never sends an inline function never loads it.
 */
export function loadAcorn(): typeof import('acorn') {
  return createRequire(import.meta.url)(bundled ? './acorn.cjs' : 'acorn') as typeof import('acorn');
}
