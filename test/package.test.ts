/**
 * The package as a registry user gets it: `npm pack`, installed from the tarball into a fresh
 * project (the npm registry reachable for the dependencies, nothing else), then
 * - what a threads-only install weighs and carries: at most 1.6 MB on disk, no redis driver, no
 *   install script, no native build;
 * - the published declarations, type-checked in a consumer program under `--strict` without
 *   `skipLibCheck`, with TypeScript 5.9 and the latest, against @types/node 20 and the latest,
 *   under `moduleResolution` node16, nodenext and bundler, and in a CommonJS project that sets
 *   nothing but `module` (TypeScript's default target);
 * - the consumer, run compiled (plain node) and under tsx;
 * - the redis backend without its optional drivers: a coded error that says what to install.
 *
 * One project is installed once and shared by every case (npm installs are slow). Its folder is
 * removed at the end.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gate, requirement } from './requirements.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

/**
 * 1.6 MB, as `du` counts it on a file system of 4 KiB blocks (what Piscina's 1.4 MB was measured
 * with). Issue 16's target is 2 MB; the bundled package (scripts/bundle.mjs: a few dozen files,
 * acorn inside, no dependency) installs in 1.37 MB, and the bound keeps that from growing
 * unnoticed (README, Install).
 */
const MAX_INSTALL_BYTES = 1_600_000;
const BLOCK = 4096;
/** Packages that only the redis backend needs; a threads-only install must not have them. */
const REDIS_ONLY = ['bullmq', 'ioredis', 'msgpackr', 'msgpackr-extract', 'luxon', 'cron-parser'];

/** The environment of every child: no test-runner or loader settings of ours leak into it. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', ...extra };
  delete env.NODE_TEST_CONTEXT;
  for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key];
  return env;
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command; resolves with its exit code and output (never rejects on a non-zero exit). */
async function run(file: string, args: string[], cwd: string, timeout = 300_000): Promise<Ran> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, {
      cwd,
      env: childEnv(),
      timeout,
      maxBuffer: 64 * 1024 * 1024,
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

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

async function mustRun(file: string, args: string[], cwd: string): Promise<string> {
  const result = await run(file, args, cwd);
  assert.equal(result.code, 0, `${file} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** Why the registry cannot be used here, or undefined when `npm ping` answers. */
async function registryMissing(): Promise<string | undefined> {
  const ping = await run(npm, ['ping'], tmpdir(), 30_000);
  return ping.code === 0
    ? undefined
    : `the npm registry does not answer \`npm ping\` (${ping.stderr.trim().split('\n')[0]})`;
}

const dist = join(root, 'dist', 'index.js');
const skipReason = existsSync(dist)
  ? requirement('test/package.test.ts', {
      missing: await registryMissing(),
      env: 'FANOUT_REQUIRE_REGISTRY',
      install: 'network access to the npm registry',
    })
  : 'run `npm run build` first';
const { describe, it, before, after } = gate(skipReason);

/** Every file and folder under `folder`: its size as `du` counts it, and the packages in it. */
function survey(folder: string) {
  let bytes = 0;
  let apparent = 0;
  const packages: string[] = [];
  const scripts: string[] = [];
  const native: string[] = [];
  const walk = (dir: string, inModules: boolean) => {
    bytes += BLOCK;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isSymbolicLink()) {
        bytes += BLOCK;
        continue;
      }
      if (entry.isDirectory()) {
        const isPackage = inModules && !entry.name.startsWith('@') && !entry.name.startsWith('.');
        if (isPackage) {
          const manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) as {
            name: string;
            scripts?: Record<string, string>;
          };
          packages.push(manifest.name);
          for (const hook of ['preinstall', 'install', 'postinstall'])
            if (manifest.scripts?.[hook])
              scripts.push(`${manifest.name}: ${hook}: ${manifest.scripts[hook]}`);
          // npm runs `node-gyp rebuild` for a package with a binding.gyp and no install script.
          if (existsSync(join(path, 'binding.gyp'))) native.push(`${manifest.name}: binding.gyp`);
        }
        walk(path, entry.name === 'node_modules' || (inModules && entry.name.startsWith('@')));
        continue;
      }
      const { size } = lstatSync(path);
      apparent += size;
      bytes += Math.ceil(size / BLOCK) * BLOCK;
      if (entry.name.endsWith('.node')) native.push(path);
    }
  };
  walk(folder, true);
  return { bytes, apparent, packages: packages.sort(), scripts, native };
}

/** A consumer program that uses the public surface a first program uses. */
const consumer = {
  // A task module imports fanout/tasks, as the README writes one (the second entry point).
  'src/tasks.ts': `import { defineTasks, taskContext } from 'fanout/tasks';

export default defineTasks(import.meta.url, {
  square(x: number): number {
    return x * x;
  },
  label(x: number, unit: string): string {
    return \`\${x} \${unit} (item \${taskContext().index})\`;
  },
  fail(why: string): number {
    throw new RangeError(why);
  },
});
`,
  'src/main.ts': `import { delayed, parallel, Pool, TaskError } from 'fanout';
import tasks from './tasks.js';

const pool = new Pool({ workers: 2 });
try {
  const squares: number[] = await pool.map(tasks.square, [1, 2, 3]);
  const labels: string[] = await pool.starmap(tasks.label, [[1, 'kg'], [2, 'm']]);
  const inline: number[] = await pool.map((x: number, ctx: { k: number }) => x * ctx.k, [1, 2], { context: { k: 10 } });
  const joblib: number[] = await parallel({ pool })([4, 5].map((x) => delayed(tasks.square)(x)));
  const failed = await pool.run(tasks.fail, 'on purpose').then(
    () => 'no error',
    (error: unknown) => (error instanceof TaskError && error.cause instanceof RangeError ? error.code : String(error)),
  );
  console.log(JSON.stringify({ squares, labels, inline, joblib, failed }));
} finally {
  await pool.close();
}
`,
  // For a CommonJS project with no settings but \`module\` (no import.meta, no top-level await).
  'src/cjs.ts': `import { FanoutError, Pool } from 'fanout';

export function squares(pool: Pool, xs: number[]): Promise<number[]> {
  return pool.map((x: number) => x * x, xs);
}
export const isFanout = (error: unknown): boolean => error instanceof FanoutError && error.cause !== undefined;
`,
  // Plain JavaScript: the redis backend with its drivers absent.
  'redis.mjs': `import { defineTasks, FanoutError, Pool } from 'fanout';

const tasks = defineTasks(import.meta.url, { one: () => 1 });
const pool = new Pool({ backend: { redis: 'redis://127.0.0.1:1' }, workers: 1 });
try {
  await pool.map(tasks.one, [1]);
  console.log(JSON.stringify({ error: null }));
} catch (error) {
  console.log(JSON.stringify({ fanout: error instanceof FanoutError, code: error.code, message: error.message }));
} finally {
  await pool.close();
}
`,
};

/** One tsconfig per case; `typeRoots` chooses the @types/node version (both are installed, aliased). */
function tsconfig(resolution: 'node16' | 'nodenext' | 'bundler', types: string, outDir?: string): string {
  return `${JSON.stringify(
    {
      compilerOptions: {
        strict: true,
        skipLibCheck: false,
        target: 'ES2022',
        module: resolution === 'bundler' ? 'ESNext' : resolution,
        moduleResolution: resolution,
        types: ['node'],
        typeRoots: [`./typeroots/${types}`],
        ...(outDir ? { outDir, rootDir: 'src' } : { noEmit: true }),
      },
      files: ['src/main.ts', 'src/tasks.ts'],
    },
    null,
    2,
  )}\n`;
}

/**
 * \`tsc --module commonjs\` and nothing else: TypeScript's default \`target\` (ES5 before
 * TypeScript 6) and \`lib\`, under which the standard library has no \`ErrorOptions\` and a class
 * may not declare \`#private\`.
 */
function commonjsTsconfig(types: string): string {
  return `${JSON.stringify(
    {
      compilerOptions: {
        module: 'commonjs',
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ['node'],
        typeRoots: [`./typeroots/${types}`],
      },
      files: ['src/cjs.ts'],
    },
    null,
    2,
  )}\n`;
}

const compilers = { '5.9': 'typescript5/bin/tsc', latest: 'typescript/bin/tsc' } as const;
const typesVersions = { '20': '@types/node20', latest: '@types/node-latest' } as const;

describe('the packed package, installed from its tarball', { concurrency: false }, () => {
  let work = '';
  let app = '';
  let tarballFiles: { path: string; size: number }[] = [];
  let threadsOnly: ReturnType<typeof survey> | undefined;
  const versions: Record<string, string> = {};

  before(
    async () => {
      work = mkdtempSync(join(tmpdir(), 'fanout-package-'));
      // --ignore-scripts: pack the dist/ that `npm test` built (prepack would rebuild it under
      // the feet of test files running in parallel).
      const packed = JSON.parse(
        await mustRun(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], root),
      ) as [{ filename: string; files: { path: string; size: number }[] }];
      tarballFiles = packed[0].files;
      app = join(work, 'app');
      mkdirSync(join(app, 'src'), { recursive: true });
      writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true, "type": "module" }\n');
      const npmFlags = ['--no-audit', '--no-fund', '--loglevel=error'];
      await mustRun(npm, ['install', ...npmFlags, join(work, packed[0].filename)], app);
      threadsOnly = survey(join(app, 'node_modules'));
      // The tools of the cases, beside it: two TypeScripts, two @types/node (aliased), tsx.
      await mustRun(
        npm,
        [
          'install',
          ...npmFlags,
          '--save-dev',
          'typescript5@npm:typescript@~5.9',
          'typescript@latest',
          '@types/node20@npm:@types/node@20',
          '@types/node-latest@npm:@types/node@latest',
          'tsx@latest',
        ],
        app,
      );
      for (const [label, folder] of Object.entries(typesVersions)) {
        mkdirSync(join(app, 'typeroots', label), { recursive: true });
        symlinkSync(join(app, 'node_modules', folder), join(app, 'typeroots', label, 'node'), 'dir');
        versions[`@types/node ${label}`] = readJson(
          join(app, 'node_modules', folder, 'package.json'),
        ).version;
      }
      for (const [label, bin] of Object.entries(compilers))
        versions[`typescript ${label}`] = readJson(
          join(app, 'node_modules', bin.split('/')[0] as string, 'package.json'),
        ).version;
      for (const [file, text] of Object.entries(consumer)) writeFileSync(join(app, file), text);
    },
    { timeout: 900_000 },
  );

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships no source maps, a LICENSE, and every file the README links to', () => {
    const paths = tarballFiles.map((f) => f.path);
    assert.deepEqual(
      paths.filter((p) => p.endsWith('.map')),
      [],
      'maps would point at src/, which is not shipped',
    );
    assert.ok(paths.includes('LICENSE'));
    assert.ok(paths.includes('README.md'));
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
    const cdn = 'https://cdn.jsdelivr.net/npm/fanout/';
    for (const link of links) {
      if (link.startsWith('#')) continue;
      // A relative link resolves on GitHub but not on the registry's page (no `repository`):
      // links into the package go through a CDN that serves the published tarball's files.
      assert.ok(/^https?:\/\//.test(link), `relative link ${link} does not resolve on the registry's page`);
      if (link.startsWith(cdn))
        assert.ok(paths.includes(link.slice(cdn.length)), `${link}: not in the package`);
    }
  });

  it('declares the redis drivers as optional peers, with the ranges the missing-driver message names', () => {
    for (const name of ['bullmq', 'ioredis']) {
      assert.ok(pkg.peerDependencies[name], `${name} is a peer dependency`);
      assert.equal(pkg.peerDependenciesMeta[name]?.optional, true, `${name} is optional`);
    }
  });

  it(`installs threads-only in at most ${MAX_INSTALL_BYTES / 1e6} MB, with no redis driver, no install script and no native build`, () => {
    const found = threadsOnly as ReturnType<typeof survey>;
    const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;
    const summary = `${found.packages.join(', ')}: ${mb(found.bytes)} on disk (${mb(found.apparent)} of file contents)`;
    console.log(`threads-only install: ${summary}`);
    assert.deepEqual(
      found.packages.filter((name) => REDIS_ONLY.includes(name)),
      [],
      summary,
    );
    assert.deepEqual(found.scripts, [], 'no package of the install has an install script');
    assert.deepEqual(found.native, [], 'nothing native is built or shipped');
    assert.ok(found.bytes <= MAX_INSTALL_BYTES, summary);
  });

  it('gives the redis backend without its drivers a coded error naming what to install', async () => {
    const result = await run(process.execPath, ['redis.mjs'], app, 60_000);
    assert.equal(result.code, 0, result.stderr);
    const outcome = JSON.parse(result.stdout) as { fanout: boolean; code: string; message: string };
    const install = `npm install ${Object.entries(pkg.peerDependencies)
      .map(([name, range]) => `${name}@${range}`)
      .join(' ')}`;
    assert.equal(outcome.code, 'ERR_BACKEND_UNAVAILABLE');
    assert.equal(outcome.fanout, true);
    assert.ok(outcome.message.includes(install), `"${outcome.message}" names \`${install}\``);
  });

  for (const [ts, tsc] of Object.entries(compilers)) {
    for (const [types] of Object.entries(typesVersions)) {
      for (const resolution of ['node16', 'nodenext', 'bundler'] as const) {
        // The published declarations reach only public types (src/types.ts and the modules of
        // the public surface): nothing internal, such as worker_threads' TransferListItem, which
        // the latest @types/node no longer has.
        it(`type-checks a consumer under --strict without skipLibCheck: TypeScript ${ts}, @types/node ${types}, moduleResolution ${resolution}`, {
          timeout: 120_000,
        }, async () => {
          const config = `tsconfig.${ts}.${types}.${resolution}.json`;
          writeFileSync(join(app, config), tsconfig(resolution, types));
          const result = await run(process.execPath, [join(app, 'node_modules', tsc), '-p', config], app);
          assert.equal(
            result.code,
            0,
            `tsc (${versions[`typescript ${ts}`]}, @types/node ${versions[`@types/node ${types}`]}):\n${result.stdout}${result.stderr}`,
          );
        });
      }
    }
  }

  for (const [ts, tsc] of Object.entries(compilers)) {
    for (const [types] of Object.entries(typesVersions)) {
      it(`type-checks a CommonJS consumer with only --module commonjs (the default target): TypeScript ${ts}, @types/node ${types}`, {
        timeout: 120_000,
      }, async () => {
        const config = `tsconfig.${ts}.${types}.commonjs.json`;
        writeFileSync(join(app, config), commonjsTsconfig(types));
        const result = await run(process.execPath, [join(app, 'node_modules', tsc), '-p', config], app);
        assert.equal(
          result.code,
          0,
          `tsc (${versions[`typescript ${ts}`]}, @types/node ${versions[`@types/node ${types}`]}):\n${result.stdout}${result.stderr}`,
        );
      });
    }
  }

  const expected = {
    squares: [1, 4, 9],
    labels: ['1 kg (item 0)', '2 m (item 1)'],
    inline: [10, 20],
    joblib: [16, 25],
    failed: 'ERR_TASK_FAILED',
  };

  it('runs the consumer compiled, under plain node', { timeout: 180_000 }, async () => {
    writeFileSync(join(app, 'tsconfig.emit.json'), tsconfig('nodenext', '20', 'out'));
    // Emitted even where the types do not check yet: this case is about running.
    await run(
      process.execPath,
      [join(app, 'node_modules', compilers.latest), '-p', 'tsconfig.emit.json'],
      app,
    );
    const result = await run(process.execPath, ['out/main.js'], app, 120_000);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), expected);
  });

  it('runs the consumer under tsx', { timeout: 180_000 }, async () => {
    const result = await run(process.execPath, ['--import', 'tsx', 'src/main.ts'], app, 120_000);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), expected);
  });
});

function readJson(path: string): { version: string } {
  return JSON.parse(readFileSync(path, 'utf8')) as { version: string };
}
