/**
 * The JavaScript of the package: src/ bundled by esbuild into a few files in dist/ (the
 * declarations come from tsconfig.types.json). Two reasons, both measured (README, Install):
 * a program that imports fanout loads a handful of files instead of ~60 ES modules (start-up),
 * and ~40 files on disk instead of ~160, each taking a whole 4 KiB block of the install (size).
 * acorn, the one runtime dependency, is bundled too, as its own file (dist/acorn.cjs, with its
 * licence in THIRD-PARTY-NOTICES), so an install has no dependency at all.
 *
 * The layout, and why:
 * - Every file sits in dist/ itself, no folders: any file can name another as `./name.js`,
 *   wherever esbuild put the code that names it (src/layout.ts maps source paths to these).
 * - The entry points keep their source file's name: `index` and `tasks` (the package's
 *   exports), `main` (the `fanout` bin), the worker entries (`thread-entry`, `process-entry`,
 *   loaded by URL), `out-of-core-run` (a demo's child script), and every task module of
 *   src/ (a module that calls `defineTasks(import.meta.url` or `defineActors(import.meta.url`);
 *   and the demos, as `demo-<name>` (test/demo-results.test.ts runs them compiled).
 * - A task module is known by its URL (`import.meta.url`): workers import that URL to find its
 *   tasks, and the redis backend names it by its file name. So each one stays a file of its own,
 *   and the code that imports it imports that file (an external import) rather than a copy of
 *   it inside a shared chunk, whose URL would be the chunk's.
 * - The rest is shared chunks (`chunk-<hash>.js`) and one file per dynamic import (the redis
 *   backend, the dashboard, the CLI's commands and demos), loaded when first used.
 * - Minified whitespace and syntax, never identifiers: stack traces name the functions, and an
 *   error's `name` is its class's name. Names are kept without esbuild's `keepNames`, which
 *   calls a helper for every function and class as a file loads: that cost 1.4 ms of `import
 *   'fanout'` and 0.7 ms of a worker's start (40 paired runs). See `keepSourceNames`.
 *
 * Usage: node scripts/bundle.mjs [dist]
 */

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const dist = resolve(process.argv[2] ?? join(root, 'dist'));

function* sources(folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

const allSources = [...sources(src)];
/**
 * A module's `import.meta.url` is the file its code lands in, which in the bundle is not its
 * own: a file of fanout's found relative to it would be looked for in the wrong place. Only
 * src/layout.ts, which knows both layouts, may do that.
 */
for (const file of allSources) {
  if (file === join(src, 'layout.ts')) continue;
  const text = readFileSync(file, 'utf8');
  if (/new URL\([^;]*,\s*import\.meta\.url\s*\)|createRequire\(import\.meta\.url\)\(\s*['"`]\./.test(text))
    throw new Error(
      `bundle: ${relative(src, file)} finds a file relative to import.meta.url: use ownModule() of src/layout.ts`,
    );
}
/** Modules known by their own URL: task and actor modules (`[export] const x = defineTasks(import.meta.url`, or `export default`). */
const taskModules = allSources.filter((file) =>
  /^(?:export\s+)?(?:default\s+|const\s+[\w$]+\s*=\s*)define(?:Tasks|Actors)\(import\.meta\.url\b/m.test(
    readFileSync(file, 'utf8'),
  ),
);
const entryFiles = [
  'index.ts',
  'tasks.ts',
  'cli/main.ts',
  'worker/thread-entry.ts',
  'worker/process-entry.ts',
  'demos/out-of-core-run.ts',
].map((file) => join(src, file));
for (const file of taskModules) if (!entryFiles.includes(file)) entryFiles.push(file);
/** The demos (`fanout demo <name>` imports src/demos/<name>.ts): dist/demo-<name>.js, for tests that run one. */
const demos = allSources.filter(
  (file) =>
    file.startsWith(join(src, 'demos')) && /^export const \w+Demo\b/m.test(readFileSync(file, 'utf8')),
);
entryFiles.push(...demos);

const nameOf = (file) => (demos.includes(file) ? `demo-${basename(file, '.ts')}` : basename(file, '.ts'));
const names = new Map();
for (const file of entryFiles) {
  const other = names.get(nameOf(file));
  if (other)
    throw new Error(
      `bundle: ${relative(src, other)} and ${relative(src, file)} would both be dist/${nameOf(file)}.js`,
    );
  names.set(nameOf(file), file);
}

/** Imports of a task module from other code: `./<name>.js`, the entry file, not a copy. */
const ownFiles = {
  name: 'own-files',
  setup(b) {
    const external = new Set(taskModules);
    b.onResolve({ filter: /^\./ }, (args) => {
      if (!args.importer.startsWith(src)) return undefined;
      const target = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
      if (!external.has(target) || target === args.importer) return undefined;
      return { path: `./${nameOf(target)}.js`, external: true };
    });
  },
};

const options = {
  absWorkingDir: root,
  outdir: dist,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  // What tsconfig.json targets: nothing is lowered.
  target: 'es2022',
  // The redis drivers are optional peer dependencies, loaded on first use; acorn is its own file.
  external: ['bullmq', 'ioredis', 'acorn'],
  // src/layout.ts reads it: the bundle's files sit side by side in dist/.
  define: { FANOUT_BUNDLE: 'true' },
  chunkNames: 'chunk-[hash]',
  entryNames: '[name]',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'inline',
  metafile: true,
  logLevel: 'warning',
};

// First pass, nothing written: the import graph of src/ as the bundler sees it.
const graph = (
  await build({
    ...options,
    entryPoints: entryFiles.map((file) => ({ in: file, out: nameOf(file) })),
    plugins: [ownFiles],
    write: false,
  })
).metafile;
const abs = (path) => resolve(root, path);
/** Every module a module loads before it runs (static imports, transitively), itself included. */
function closure(file) {
  const seen = new Set();
  const visit = (path) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const imported of graph.inputs[relative(root, path)]?.imports ?? [])
      if (imported.kind === 'import-statement' && !imported.external) visit(abs(imported.path));
  };
  visit(file);
  return seen;
}
/** Modules loaded by `import()` from src/: each is an entry point of the bundle too. */
const dynamicTargets = new Set(
  Object.values(graph.inputs).flatMap((input) =>
    input.imports.filter((i) => i.kind === 'dynamic-import' && !i.external).map((i) => abs(i.path)),
  ),
);
const exportsOf = new Map(
  Object.values(graph.outputs)
    .filter((output) => output.entryPoint)
    .map((output) => [abs(output.entryPoint), output.exports]),
);

/**
 * The three shared chunks. The bundler puts a module in a chunk by the set of entry points that
 * reach it, so left alone it makes dozens of small chunks (every task module and dynamic import
 * is an entry point), and a program would load ~30 files. Instead, every entry point that
 * reaches any module of a set below imports all of that set, so each set is one chunk:
 * - shared: what both a worker (its entry, and `fanout/tasks` for the task modules) and
 *   `import 'fanout'` load;
 * - worker: what only a worker loads (the worker runtime: the caller never runs it, except the
 *   inline backend, which imports it when it starts);
 * - main: what only `import 'fanout'` loads.
 * A worker thread then compiles no pool code, and the caller no worker code. What only the CLI,
 * the demos or a dynamic import load stays in their own chunks.
 */
const ownEntries = new Set([...entryFiles, ...dynamicTargets]);
const workerReach = new Set(
  ['worker/thread-entry.ts', 'worker/process-entry.ts', 'tasks.ts'].flatMap((file) => [
    ...closure(join(src, file)),
  ]),
);
const mainReach = closure(join(src, 'index.ts'));
const core = {
  shared: new Set([...workerReach].filter((file) => mainReach.has(file))),
  worker: new Set([...workerReach].filter((file) => !mainReach.has(file))),
  main: new Set([...mainReach].filter((file) => !workerReach.has(file))),
};
for (const set of Object.values(core)) for (const file of ownEntries) set.delete(file);

const coreChunks = {
  name: 'core-chunks',
  setup(b) {
    b.onResolve({ filter: /^fanout-(entry|core):/ }, (args) => ({ path: args.path, namespace: 'fanout' }));
    b.onResolve({ filter: /^\./ }, (args) => {
      if (args.kind !== 'dynamic-import' || !args.importer.startsWith(src)) return undefined;
      const target = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
      return dynamicTargets.has(target) ? { path: `fanout-entry:${target}`, namespace: 'fanout' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'fanout' }, (args) => {
      const [kind, target] = [
        args.path.slice(0, args.path.indexOf(':')),
        args.path.slice(args.path.indexOf(':') + 1),
      ];
      if (kind === 'fanout-core') {
        return {
          contents: [...core[target]].map((file) => `import ${JSON.stringify(file)};`).join('\n'),
          resolveDir: root,
          loader: 'js',
        };
      }
      const reached = closure(target);
      const lines = [];
      for (const [name, files] of Object.entries(core))
        if ([...reached].some((file) => files.has(file))) lines.push(`import 'fanout-core:${name}';`);
      lines.push(`export * from ${JSON.stringify(target)};`);
      if (exportsOf.get(target)?.includes('default'))
        lines.push(`export { default } from ${JSON.stringify(target)};`);
      return { contents: lines.join('\n'), resolveDir: root, loader: 'js' };
    });
  },
};

const result = await build({
  ...options,
  entryPoints: entryFiles.map((file) => ({ in: `fanout-entry:${file}`, out: nameOf(file) })),
  plugins: [ownFiles, coreChunks],
});

// Which source modules each file of dist/ holds and imports, beside it (dist-meta.json, not shipped): test/startup.test.ts reads it.
writeFileSync(`${dist}-meta.json`, `${JSON.stringify(result.metafile)}\n`);

// acorn as one CommonJS file, required synchronously by the first inline function (src/layout.ts).
await build({
  entryPoints: [join(root, 'node_modules', 'acorn', 'dist', 'acorn.js')],
  outfile: join(dist, 'acorn.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'es2022',
  minify: true,
  legalComments: 'inline',
  logLevel: 'warning',
});

/**
 * Where the bundler changes a name a function or a class would report. It writes a class whose
 * body refers to it as `var Foo = class _Foo { ... _Foo ... }`: given back its source name here
 * (the class's own binding, renamed the same throughout the file, so it means what it did).
 * And it renames a top-level declaration whose name another module also declares (`Foo`
 * becomes `Foo2`): the build fails, naming it, so the source gives it a name of its own.
 */
function keepSourceNames() {
  const sourceWords = new Set(
    allSources.flatMap((file) => readFileSync(file, 'utf8').match(/[\w$]+/g) ?? []),
  );
  const renamed = [];
  for (const file of readdirSync(dist).filter((name) => name.endsWith('.js'))) {
    const path = join(dist, file);
    let text = readFileSync(path, 'utf8');
    for (const [, name] of [...text.matchAll(/(?:\bvar |,)([\w$]+)=class _\1\b/g)]) {
      if (sourceWords.has(`_${name}`))
        throw new Error(`bundle: src/ uses _${name}, the name ${file} gives class ${name}`);
      text = text.replace(new RegExp(`(?<![\\w$])_${name.replace(/\$/g, '\\$')}(?![\\w$])`, 'g'), name);
    }
    writeFileSync(path, text);
    const declared = text.matchAll(
      /\b(?:function\*?|class)\s+([\w$]+)|(?:\b(?:var|let|const)\s+|,)([\w$]+)=(?:async\s*)?(?:function\b|class\b|\([^()]*\)=>|[\w$]+=>)/g,
    );
    for (const [, a, b] of declared) {
      const name = a ?? b;
      if (!sourceWords.has(name) && !name.startsWith('__')) renamed.push(`${name} (${file})`);
    }
  }
  if (renamed.length)
    throw new Error(
      `bundle: functions renamed because another module declares the same name (give each a name of its own): ${[...new Set(renamed)].join(', ')}`,
    );
}
keepSourceNames();

/** Every class and function the package exports has its source name (fanout errors report it as their `name`). */
async function checkNames() {
  const wrong = [];
  for (const entry of ['index.js', 'tasks.js']) {
    const exports = await import(pathToFileURL(join(dist, entry)).href);
    for (const [key, value] of Object.entries(exports))
      if (typeof value === 'function' && value.name !== key)
        wrong.push(`${entry}: ${key} is named ${value.name}`);
  }
  if (wrong.length) throw new Error(`bundle: exports whose name changed: ${wrong.join(', ')}`);
}
await checkNames();

// The bin keeps its `#!` line (esbuild keeps a hashbang at the top of an entry).
const bin = join(dist, 'main.js');
const text = readFileSync(bin, 'utf8');
if (!text.startsWith('#!')) writeFileSync(bin, `#!/usr/bin/env node\n${text}`);
