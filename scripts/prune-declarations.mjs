/**
 * The last step of `npm run build`, after tsconfig.types.json has emitted the declarations of what
 * src/index.ts imports: delete every `.d.ts` in dist/ that dist/index.d.ts does not reach through
 * its imports. The package's `exports` open only `fanout` itself, so a consumer's compiler never
 * reads the others: they are dead weight (about 30 files, 100 kB on disk) in a package meant to
 * stay under 2 MB with its dependencies (test/package.test.ts). What is reached is read from the
 * emitted declarations themselves, with TypeScript's own import scanner, so moving files in src/
 * needs no change here.
 *
 * It also deletes the `.js` of a module that holds only types (the compiler emits `export {};`)
 * when no emitted module imports it: the compiler elides type-only imports, so nothing loads
 * those files, and each takes a 4 KiB block of the install.
 *
 * Usage: node scripts/prune-declarations.mjs [dist]
 */

import { readdirSync, readFileSync, rmSync } from 'node:fs';
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

/** Whether an emitted module is empty: nothing but `export {};` and comments. */
function typesOnly(source) {
  const code = source.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, '').replace(/\s/g, '');
  return code === 'export{};' || code === '';
}

const keep = reached(join(dist, 'index.d.ts'));
for (const file of filesEndingWith(dist, '.d.ts')) if (!keep.has(file)) rmSync(file);

const modules = [...filesEndingWith(dist, '.js')];
const imported = new Set();
for (const file of modules) {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  for (const { fileName } of importedFiles) {
    if (fileName.startsWith('.')) imported.add(resolve(dirname(file), fileName));
  }
}
for (const file of modules) {
  if (!imported.has(file) && typesOnly(readFileSync(file, 'utf8'))) rmSync(file);
}
