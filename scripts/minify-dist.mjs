/**
 * The last step of `npm run build`: rewrite every emitted `.js` in dist/ without its whitespace,
 * and in shorter but equivalent syntax (esbuild's transform, one file at a time: no bundling, no
 * renaming, so the modules, their names and their import graph stay what tsc emitted). The
 * package is meant to stay under 2 MB with its dependencies (test/package.test.ts), and tsc's
 * output is a third whitespace. Stack traces still name the function and the file; their line
 * and column point into the compact file.
 *
 * Usage: node scripts/minify-dist.mjs [dist]
 */

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { transformSync } from 'esbuild';

const dist = resolve(process.argv[2] ?? 'dist');

function* modules(folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) yield* modules(path);
    else if (entry.name.endsWith('.js')) yield path;
  }
}

for (const file of modules(dist)) {
  const source = readFileSync(file, 'utf8');
  const { code } = transformSync(source, {
    format: 'esm',
    // What tsc emits for (tsconfig.json): nothing is lowered.
    target: 'es2022',
    minifyWhitespace: true,
    minifySyntax: true,
    // Keep a `#!` line (dist/cli/main.js is the `fanout` bin) and legal comments where they are.
    legalComments: 'inline',
  });
  writeFileSync(file, code);
}
