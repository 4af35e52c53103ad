/**
 * Memory where tasks run: on every backend the lookup and the write happen in the worker, and
 * workers, the caller and other processes share one cache folder safely.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
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
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Memory, Pool, type TaskRef } from '../src/index.js';
import { taskFolderName } from '../src/memory/store.js';
import tasks from './fixtures/memory-tasks.js';
import { backends, range, rejectsWith } from './helpers.js';

let root: string;
let dir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'fanout-memory-'));
  dir = join(root, 'cache');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Entry folders of one task (layout: <dir>/<name>-<hash>/<32 hex key>/). */
function entriesOf(name: string): string[] {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  for (const folder of readdirSync(dir)) {
    if (!folder.startsWith(`${name}-`)) continue;
    for (const key of readdirSync(join(dir, folder))) {
      if (/^[0-9a-f]{32}$/.test(key)) found.push(join(dir, folder, key));
    }
  }
  return found;
}

const leftovers = () =>
  readdirSync(dir).flatMap((folder) =>
    folder.startsWith('.') ? [] : readdirSync(join(dir, folder)).filter((n) => n.startsWith('.')),
  );

const nonces = (values: { nonce: string }[]) => values.map((v) => v.nonce);

for (const backend of backends) {
  describe(`Memory on the ${backend.name} backend`, () => {
    let pool: Pool;
    beforeEach(() => {
      pool = backend.pool();
    });
    afterEach(() => pool.close());

    it('fills the cache where tasks run; a second run and local calls are all hits', async () => {
      const memory = new Memory(dir);
      const nonce = memory.cache(tasks.nonce);
      const first = await pool.map(nonce, range(20));
      if (backend.crossesBoundary) {
        assert.ok(
          first.every((v) => v.pid !== process.pid || v.threadId !== 0),
          'computed in workers',
        );
      }
      assert.deepEqual(await pool.map(nonce, range(20)), first);
      assert.deepEqual(nonce(7), first[7], 'a local call reads what a worker wrote');
      assert.deepEqual(await pool.run(nonce, 7), first[7]);
      assert.deepEqual(await memory.stats(), { hits: 22, misses: 20, corrupt: 0, rejected: 0 });
      assert.equal(entriesOf('nonce').length, 20);
    });

    it('reads entries the caller wrote', async () => {
      const memory = new Memory(dir);
      const nonce = memory.cache(tasks.nonce);
      const local = range(5).map((x) => nonce(x));
      assert.deepEqual(await pool.map(nonce, range(5)), local);
    });

    it('caches async tasks by value and never caches failures', async () => {
      const memory = new Memory(dir);
      const nonceAsync = memory.cache(tasks.nonceAsync);
      const first = await pool.map(nonceAsync, range(6));
      assert.deepEqual(await pool.map(nonceAsync, range(6)), first);
      const fail = memory.cache(tasks.failAsync);
      const error = await rejectsWith(pool.run(fail, 1), 'ERR_TASK_FAILED');
      assert.ok(error.cause instanceof RangeError);
      await rejectsWith(pool.run(fail, 1), 'ERR_TASK_FAILED');
      assert.deepEqual(entriesOf('failAsync'), []);
      assert.deepEqual(await memory.stats(), { hits: 6, misses: 8, corrupt: 0, rejected: 0 });
    });

    it('keeps one valid entry when workers compute the same key at once', async () => {
      const memory = new Memory(dir);
      const nonce = memory.cache(tasks.nonce);
      const first = await pool.map(nonce, new Array(16).fill(9), { batchSize: 1 });
      assert.ok(first.every((v) => v.x === 9));
      assert.equal(entriesOf('nonce').length, 1);
      assert.deepEqual(leftovers(), []);
      const stored = nonce(9);
      assert.ok(nonces(first).includes(stored.nonce), 'the stored result is one of those computed');
      assert.deepEqual(nonces(await pool.map(nonce, [9, 9, 9])), [stored.nonce, stored.nonce, stored.nonce]);
    });

    it('recomputes damaged entries in workers', async () => {
      const memory = new Memory(dir);
      const nonce = memory.cache(tasks.nonce);
      const first = await pool.map(nonce, range(6));
      for (const entry of entriesOf('nonce')) writeFileSync(join(entry, 'output.bin'), 'garbage');
      const second = await pool.map(nonce, range(6));
      assert.deepEqual(
        second.map((v) => v.x),
        range(6),
      );
      assert.ok(
        second.every((v, i) => v.nonce !== first[i]?.nonce),
        'never the damaged values',
      );
      assert.deepEqual(await pool.map(nonce, range(6)), second, 'stored again');
      assert.deepEqual(await memory.stats(), { hits: 6, misses: 12, corrupt: 6, rejected: 0 });
    });

    it('runs a validate task in workers', async () => {
      const memory = new Memory(dir);
      const rejecting = memory.cache(tasks.nonce, { validate: tasks.rejectAll });
      const first = await pool.map(rejecting, range(4));
      const second = await pool.map(rejecting, range(4));
      assert.ok(second.every((v, i) => v.nonce !== first[i]?.nonce));
      const accepting = memory.cache(tasks.nonce, { validate: tasks.acceptAll });
      assert.deepEqual(await pool.map(accepting, range(4)), second);
      assert.deepEqual(await memory.stats(), { hits: 4, misses: 8, corrupt: 0, rejected: 4 });
    });

    it('fails a pool run whose validate is a plain function with ERR_CACHE', async () => {
      const nonce = new Memory(dir).cache(tasks.nonce, { validate: () => true });
      const error = await rejectsWith(pool.run(nonce, 1), 'ERR_TASK_FAILED');
      assert.equal((error.cause as { code?: string }).code, 'ERR_CACHE');
      assert.match((error.cause as Error).message, /defineTasks/);
      assert.equal(nonce(1).x, 1, 'local calls still work');
    });

    it('refuses an unsafe root, a forged entry and a linked task folder where tasks run', {
      skip:
        process.platform === 'win32' ? 'Windows has no permission bits, and links need privileges' : false,
    }, async () => {
      const memory = new Memory(dir);
      const nonce = memory.cache(tasks.nonce);
      await pool.map(nonce, [1]);
      const refused = async (run: Promise<unknown>, path: string, why: RegExp) => {
        const cause = (await rejectsWith(run, 'ERR_TASK_FAILED')).cause as Error & { code?: string };
        assert.equal(cause.code, 'ERR_CACHE', cause.stack);
        assert.ok(cause.message.includes(path), cause.message);
        assert.match(cause.message, why);
      };

      chmodSync(dir, 0o777); // after the workers have used it: their next write checks again
      await refused(pool.map(nonce, [2]), dir, /others may write it/);
      chmodSync(dir, 0o700);

      const output = join(entriesOf('nonce')[0] as string, 'output.bin');
      chmodSync(output, 0o666); // anyone could have rewritten it
      await refused(pool.map(nonce, [1]), output, /others may write it/);

      const square = memory.cache(tasks.square);
      const outside = join(root, 'outside');
      mkdirSync(outside, { mode: 0o700 });
      const linked = join(dir, taskFolderName({ module: square.module, name: square.taskName }));
      symlinkSync(outside, linked);
      await refused(pool.map(square, [1, 2]), linked, /symbolic link/);
      assert.deepEqual(readdirSync(outside), [], 'nothing written outside the cache');
    });

    it('Memory(null) runs the task every time', async () => {
      const nonce = new Memory(null).cache(tasks.nonce);
      const first = await pool.map(nonce, range(4));
      const second = await pool.map(nonce, range(4));
      assert.ok(second.every((v, i) => v.nonce !== first[i]?.nonce));
      assert.ok(!existsSync(dir));
    });
  });
}

describe('Memory across processes and code versions', () => {
  it('two processes computing the same key at once both succeed and leave one valid entry', async () => {
    const writer = fileURLToPath(new URL('./fixtures/memory-writer.ts', import.meta.url));
    const barrier = join(root, 'barrier');
    mkdirSync(barrier);
    const run = (id: string) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', writer, dir, barrier, id], {
        env: { ...process.env, NODE_OPTIONS: '' },
      });
    const outputs = await Promise.all([run('A'), run('B')]);
    const results = outputs.map((o) => JSON.parse(o.stdout));
    assert.deepEqual(
      results.map((r) => r.value),
      [
        { x2: 42, by: 'A' },
        { x2: 42, by: 'B' },
      ],
      'each process got the result it computed',
    );
    for (const r of results) assert.deepEqual(r.stats, { hits: 0, misses: 1, corrupt: 0, rejected: 0 });
    assert.equal(entriesOf('rendezvous').length, 1, 'one entry');
    assert.deepEqual(leftovers(), [], 'no temporary folder left');
    const memory = new Memory(dir);
    const stored = memory.cache(tasks.rendezvous, { ignore: [1, 2] })(21, barrier, 'C');
    assert.ok(['A', 'B'].includes(stored.by), 'the entry is one of the two, whole');
    assert.equal((await memory.stats()).hits, 1);
  });

  const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
  it('works from compiled code under plain node', {
    skip: !existsSync(dist) && 'run `npm run build` first',
  }, async () => {
    const caller = fileURLToPath(new URL('./fixtures/memory-js-caller.mjs', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [caller, dir], {
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    assert.deepEqual(JSON.parse(stdout), {
      threads: [1, 8, 27],
      processes: [1, 8, 27],
      local: 8,
      stats: { hits: 4, misses: 3, corrupt: 0, rejected: 0 },
    });
  });

  for (const backend of ['threads', 'processes'] as const) {
    it(`editing a task module's source invalidates its entries (${backend})`, async () => {
      const fanout = pathToFileURL(fileURLToPath(new URL('../src/index.ts', import.meta.url))).href;
      const source = (version: string) =>
        `import { defineTasks } from '${fanout}';\n` +
        `export default defineTasks(import.meta.url, {\n` +
        `  version(x: number): string { return '${version}:' + x; },\n` +
        `});\n`;
      // .mts: ESM wherever it is (a temp folder has no package.json saying "type": "module").
      const file = join(root, 'editable-tasks.mts');
      writeFileSync(file, source('v1'));
      const module = (await import(pathToFileURL(file).href)) as {
        default: { version: TaskRef<(x: number) => string> };
      };
      const memory = new Memory(dir);
      const version = memory.cache(module.default.version);
      {
        await using pool = new Pool({ backend, workers: 1 });
        assert.deepEqual(await pool.map(version, [1, 2]), ['v1:1', 'v1:2']);
        assert.deepEqual(await pool.map(version, [1, 2]), ['v1:1', 'v1:2']);
      }
      assert.deepEqual(await memory.stats(), { hits: 2, misses: 2, corrupt: 0, rejected: 0 });

      writeFileSync(file, source('v2'));
      {
        // New workers import the edited module: its new code hash misses the v1 entries.
        await using pool = new Pool({ backend, workers: 1 });
        assert.deepEqual(await pool.map(version, [1, 2]), ['v2:1', 'v2:2']);
      }
      assert.deepEqual(await memory.stats(), { hits: 2, misses: 4, corrupt: 0, rejected: 0 });
      const codes = new Set(
        entriesOf('version').map((e) => JSON.parse(readFileSync(join(e, 'meta.json'), 'utf8')).code),
      );
      assert.equal(codes.size, 2, 'entries of both versions, told apart by their code hash');
      // This thread still runs v1 (a module is imported once): its calls find v1's entries.
      assert.equal(version(1), 'v1:1');
    });
  }
});
