/**
 * The README's code blocks, kept true: every ```ts / ```js block is type-checked (strict, against
 * src/ through a path mapping of `fanout`), and the blocks that need no server are also run, so
 * an example cannot drift from the code.
 *
 * Each block says what to do with it in an HTML comment on the line before it (a block without
 * one fails the first test, so a new example cannot go unchecked):
 *
 *   <!-- readme-test: run -->                  type-check it, then run it under tsx
 *   <!-- readme-test: run, prints 9592 -->     ... and its standard output must be exactly that
 *   <!-- readme-test: typecheck -->            type-check only (it needs a server, a file, ...)
 *   <!-- readme-test: skip (why) -->           neither; say why
 *   <!-- readme-test: typecheck as tasks.ts --> the block is the file tasks.ts: the blocks after it
 *                                              in the same section import it as ./tasks.js
 *
 * Fragments use names they do not declare (`pool`, `tasks`, `xs`, ...): those are the keys of
 * test/fixtures/readme/prelude.ts's `values`, declared as globals for the type check and set on
 * `globalThis` before a block runs. `./tasks.js` is test/fixtures/readme/tasks.ts, unless the
 * section has its own `as tasks.ts` block. Every block is its own module in its own folder of a
 * temporary workspace, removed at the end; one `tsc` run checks them all.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { values } from './fixtures/readme/prelude.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = join(root, 'test', 'fixtures', 'readme');
const require = createRequire(import.meta.url);

type Kind = { kind: 'run'; prints?: string } | { kind: 'typecheck' } | { kind: 'skip'; why: string };

interface Block {
  /** 1-based line of the opening fence in README.md. */
  readonly line: number;
  readonly lang: 'ts' | 'js';
  readonly section: string;
  readonly code: string;
  /** Undefined when the block has no marker (a failure). */
  readonly marker: (Kind & { as?: string }) | undefined;
  /** The marker line as written, for messages. */
  readonly markerText: string;
}

const MARKER = /^<!--\s*readme-test:\s*(.*?)\s*-->$/;

/** The marker's meaning, or a string saying what is wrong with it. */
function parseMarker(text: string): (Kind & { as?: string }) | string {
  const as = /\s+as\s+([\w.-]+\.(?:ts|js|mts|mjs))$/.exec(text);
  const body = as ? text.slice(0, as.index) : text;
  const withAs = <K extends Kind>(k: K) => (as ? { ...k, as: as[1] as string } : k);
  if (body === 'typecheck') return withAs({ kind: 'typecheck' });
  const run = /^run(?:,\s*prints\s+(.+))?$/.exec(body);
  if (run) return withAs(run[1] === undefined ? { kind: 'run' } : { kind: 'run', prints: run[1] });
  const skip = /^skip\s*\((.+)\)$/.exec(body);
  if (skip) return { kind: 'skip', why: skip[1] as string };
  return `unknown readme-test marker "${text}": expected run, run, prints X, typecheck, skip (why), optionally "as FILE"`;
}

/** Every ```ts / ```js block of the README, with its marker and section. */
function readBlocks(markdown: string): { blocks: Block[]; problems: string[] } {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  const problems: string[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heading = /^#{1,3} (.*)/.exec(line);
    if (heading) section = heading[1] as string;
    const fence = /^```(\w+)\s*$/.exec(line);
    if (!fence) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end] as string)) end++;
    const lang = ({ ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js' } as const)[
      fence[1] as 'ts' | 'typescript' | 'js' | 'javascript'
    ];
    if (lang) {
      let previous = i - 1;
      while (previous >= 0 && (lines[previous] as string).trim() === '') previous--;
      const markerText = (lines[previous] ?? '').trim();
      const match = MARKER.exec(markerText);
      const parsed = match ? parseMarker(match[1] as string) : undefined;
      if (typeof parsed === 'string') problems.push(`README.md:${i + 1}: ${parsed}`);
      blocks.push({
        line: i + 1,
        lang,
        section,
        code: `${lines.slice(i + 1, end).join('\n')}\n`,
        marker: typeof parsed === 'string' ? undefined : parsed,
        markerText,
      });
    }
    i = end;
  }
  return { blocks, problems };
}

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const { blocks, problems } = readBlocks(readme);

/** The global declarations of the fragments' names: one per key of the prelude's `values`. */
function globalsDeclaration(): string {
  const names = Object.keys(values);
  return [
    `import type * as fanout from 'fanout';`,
    `type Values = typeof import(${JSON.stringify(join(fixtures, 'prelude.js'))}).values;`,
    'declare global {',
    ...names.map((name) => `  const ${name}: Values[${JSON.stringify(name)}];`),
    '  type EntryMeta = fanout.EntryMeta;',
    '  type TextChunk<R> = fanout.TextChunk<R>;',
    '}',
    'export {};',
    '',
  ].join('\n');
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, {
      cwd,
      env,
      timeout: 180_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string; message: string };
    return {
      code: typeof e.code === 'number' ? e.code : 1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? e.message,
    };
  }
}

describe('README code blocks', () => {
  let work = '';
  /** tsc's errors, by block folder ('' for errors outside any block). */
  const errors = new Map<string, string[]>();
  const folderOf = (index: number) => `b${String(index).padStart(2, '0')}`;

  before(
    async () => {
      work = mkdtempSync(join(tmpdir(), 'fanout-readme-'));
      writeFileSync(join(work, 'package.json'), '{ "type": "module" }\n');
      writeFileSync(
        join(work, 'tsconfig.json'),
        `${JSON.stringify(
          {
            compilerOptions: {
              strict: true,
              target: 'ES2022',
              lib: ['ES2023', 'ESNext.Disposable'],
              module: 'NodeNext',
              moduleResolution: 'NodeNext',
              moduleDetection: 'force',
              types: ['node'],
              typeRoots: [join(root, 'node_modules', '@types')],
              paths: {
                fanout: [join(root, 'src', 'index.ts')],
                'fanout/tasks': [join(root, 'src', 'tasks.ts')],
              },
              allowJs: true,
              checkJs: true,
              noEmit: true,
              skipLibCheck: true,
            },
            include: ['globals.d.ts', 'blocks'],
          },
          null,
          2,
        )}\n`,
      );
      writeFileSync(join(work, 'globals.d.ts'), globalsDeclaration());
      const fixtureTasks = `export { default } from ${JSON.stringify(join(fixtures, 'tasks.js'))};\n`;
      const sectionFiles = new Map<string, Map<string, string>>();
      blocks.forEach((block, index) => {
        const folder = join(work, 'blocks', folderOf(index));
        mkdirSync(folder, { recursive: true });
        // ./tasks.js: the fixture, unless the section has a block `as tasks.ts` above this one.
        writeFileSync(join(folder, 'tasks.ts'), fixtureTasks);
        const own = sectionFiles.get(block.section) ?? new Map<string, string>();
        sectionFiles.set(block.section, own);
        for (const [name, text] of own) writeFileSync(join(folder, name), text);
        const file = block.marker?.as ?? `block.${block.lang === 'ts' ? 'ts' : 'mjs'}`;
        writeFileSync(join(folder, file), block.code);
        if (block.marker?.as) own.set(block.marker.as, block.code);
      });
      const tsc = require.resolve('typescript/bin/tsc');
      const checked = await run([tsc, '-p', 'tsconfig.json', '--pretty', 'false'], work, {
        ...process.env,
        NODE_OPTIONS: '',
      });
      let current: string[] | undefined;
      for (const line of checked.stdout.split('\n')) {
        const error = /^(.+?)\((\d+),\d+\): error (TS\d+: .*)$/.exec(line);
        if (!error) {
          if (current && line.trim() !== '') current.push(line);
          continue;
        }
        const [, path, lineNumber, message] = error as unknown as [string, string, string, string];
        const inBlock = /(?:^|\/)blocks\/(b\d+)\/(.+)$/.exec(path);
        const key = inBlock ? (inBlock[1] as string) : '';
        current = errors.get(key) ?? [];
        errors.set(key, current);
        current.push(`${inBlock ? inBlock[2] : path}:${lineNumber}: ${message}`);
      }
      if (checked.code !== 0 && errors.size === 0) errors.set('', [checked.stdout + checked.stderr]);
    },
    { timeout: 300_000 },
  );

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('marks every ts/js block with a readme-test comment', () => {
    const unmarked = blocks
      .filter((b) => b.marker === undefined)
      .map((b) => `README.md:${b.line} (section "${b.section}"), the line before it: "${b.markerText}"`);
    assert.deepEqual(
      [...problems, ...unmarked],
      [],
      'put <!-- readme-test: run | typecheck | skip (why) --> before it',
    );
    assert.ok(blocks.length > 0);
  });

  it('type-checks the fixtures and the globals the blocks rely on', () => {
    assert.deepEqual(errors.get('') ?? [], []);
  });

  blocks.forEach((block, index) => {
    const marker = block.marker;
    const name = `README.md:${block.line} (${block.section}): ${marker ? marker.kind : 'no marker'}`;
    if (!marker) return;
    if (marker.kind === 'skip') {
      it(name, { skip: marker.why }, () => {});
      return;
    }
    it(name, { timeout: 200_000 }, async () => {
      const folder = folderOf(index);
      assert.deepEqual(
        errors.get(folder) ?? [],
        [],
        `the block at README.md:${block.line} does not type-check`,
      );
      if (marker.kind !== 'run') return;
      const cwd = join(work, 'blocks', folder);
      const file = marker.as ?? `block.${block.lang === 'ts' ? 'ts' : 'mjs'}`;
      writeFileSync(
        join(cwd, 'run.mts'),
        `import { installGlobals } from ${JSON.stringify(join(fixtures, 'prelude.js'))};\n` +
          `installGlobals();\nawait import('./${file}');\n`,
      );
      const ran = await run(['--import', import.meta.resolve('tsx'), 'run.mts'], cwd, {
        ...process.env,
        NODE_OPTIONS: '',
        TSX_TSCONFIG_PATH: join(work, 'tsconfig.json'),
      });
      assert.equal(ran.code, 0, `the block at README.md:${block.line} failed:\n${ran.stderr}`);
      if (marker.prints !== undefined) assert.equal(ran.stdout.trim(), marker.prints);
    });
  });
});
