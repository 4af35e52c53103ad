/**
 * The last step of `npm run build`, after tsconfig.types.json has emitted the declarations of what
 * src/index.ts imports: make them compile for any `target`, and delete every `.d.ts` in dist/
 * that dist/index.d.ts or dist/tasks.d.ts does not reach through its imports.
 *
 * Any target: a class with `#private` fields is declared with a `#private;` member, which
 * TypeScript refuses below ES2015 (`tsc --module commonjs` alone targets ES5). It becomes
 * `private "#private";`: a member no consumer can read either, which keeps the class nominal
 * (another class of the same shape is not one) and compiles for every target.
 *
 * Pruning: The package's `exports` open only `fanout` and `fanout/tasks`, so a consumer's
 * compiler never reads the others: they are dead weight (about 30 files, 100 kB on disk) in a package meant to
 * stay under 2 MB with its dependencies (test/package.test.ts). What is reached is read from the
 * emitted declarations themselves, with TypeScript's own import scanner, so moving files in src/
 * needs no change here.
 *
 * Usage: node scripts/prune-declarations.mjs [dist]
 */

import { readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';

const dist = resolve(process.argv[2] ?? 'dist');

/** Every `.d.ts` reached from `entry` by relative imports, `import()` types and re-exports. */
function reached(entry) {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const { importedFiles, referencedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of [...importedFiles, ...referencedFiles]) {
      if (!fileName.startsWith('.')) continue; // node:*, or a package: not ours to keep
      visit(resolve(dirname(file), fileName.replace(/\.js$/, '.d.ts')));
    }
  };
  visit(entry);
  return seen;
}

function* filesEndingWith(folder, suffix) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) yield* filesEndingWith(path, suffix);
    else if (entry.name.endsWith(suffix)) yield path;
  }
}

// The package's two entry points (package.json "exports"): `fanout` and `fanout/tasks`.
const keep = new Set([...reached(join(dist, 'index.d.ts')), ...reached(join(dist, 'tasks.d.ts'))]);
for (const file of filesEndingWith(dist, '.d.ts')) {
  if (!keep.has(file)) {
    rmSync(file);
    continue;
  }
  const text = readFileSync(file, 'utf8');
  const anyTarget = text.replace(/^(\s*)#private;$/gm, '$1private "#private";');
  if (anyTarget !== text) writeFileSync(file, anyTarget);
}

/** Folders left empty (each one a 4 KiB block of the install). */
function removeEmpty(folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true }))
    if (entry.isDirectory()) removeEmpty(join(folder, entry.name));
  if (folder !== dist && readdirSync(folder).length === 0) rmdirSync(folder);
}
removeEmpty(dist);
