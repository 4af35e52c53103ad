/**
 * Memory trusts one user: a cache root, folder or entry that another user owns or may write is
 * refused with ERR_CACHE, and no link inside the cache is ever followed (issue 14, item 12).
 * Where tasks run in workers, see memory-backends.test.ts.
 */

import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Memory, type TaskRef } from '../src/index.js';
import { encodeOutput } from '../src/memory/cache-entry.js';
import { taskFolderName } from '../src/memory/store.js';
import tasks from './fixtures/memory-tasks.js';

/** Another user's uid (`nobody`). Only root can give a file to another user. */
const OTHER_USER = 65534;
const NEEDS_ROOT =
  process.geteuid?.() === 0 ? false : 'needs root: only root can chown a file to another user';
const NEEDS_POSIX =
  process.platform === 'win32'
    ? 'Windows has no uids or permission bits: fanout skips these checks there'
    : false;
const NEEDS_LINKS = process.platform === 'win32' ? 'symbolic links need privileges on Windows' : false;

let root: string;
let dir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'fanout-memory-trust-'));
  dir = join(root, 'cache');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A predicate for assert.throws / assert.rejects: an ERR_CACHE refusal naming `path` and why. */
function refusal(path: string, why: RegExp) {
  return (error: Error & { code?: string }) => {
    assert.equal(error.code, 'ERR_CACHE', error.stack);
    assert.ok(error.message.includes(path), `names ${path}: ${error.message}`);
    assert.match(error.message, why);
    return true;
  };
}

function taskFolder(task: TaskRef): string {
  return join(dir, taskFolderName({ module: task.module, name: task.taskName }));
}

/** The one entry folder of a task. */
function entryOf(task: TaskRef): string {
  const folder = taskFolder(task);
  const keys = readdirSync(folder).filter((name) => /^[0-9a-f]{32}$/.test(name));
  assert.equal(keys.length, 1);
  return join(folder, keys[0] as string);
}

/** A well-formed output.bin holding `value`: only its owner or its place gives it away. */
function forgedOutput(value: unknown): Buffer {
  const encoded = encodeOutput(value, false);
  assert.ok('bytes' in encoded);
  return encoded.bytes;
}

const FORGED = { x: 1, nonce: 'forged', pid: 0, threadId: 0 };

describe('Memory: the cache root must be yours alone', () => {
  it('refuses a root that others may write, naming it and the fix', { skip: NEEDS_POSIX }, () => {
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    assert.throws(() => new Memory(dir), refusal(dir, /others may write it \(mode 0o777\).*chmod go-w/));
  });

  it('refuses a root its group may write', { skip: NEEDS_POSIX }, () => {
    mkdirSync(dir);
    chmodSync(dir, 0o770);
    assert.throws(() => new Memory(dir), refusal(dir, /its group may write it/));
  });

  it('refuses a root another user owns', { skip: NEEDS_ROOT }, () => {
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, OTHER_USER, OTHER_USER);
    assert.throws(() => new Memory(dir), refusal(dir, /belongs to uid 65534, not to you/));
  });

  it('refuses a root made unsafe after the Memory was built, in every method', {
    skip: NEEDS_POSIX,
  }, async () => {
    const memory = new Memory(dir);
    const square = memory.cache(tasks.square);
    assert.equal(square(3), 9);
    chmodSync(dir, 0o777);
    const unsafe = refusal(dir, /others may write it/);
    assert.throws(() => square(4), unsafe, 'a write checks the root again');
    assert.throws(() => memory.cache(tasks.square)(3), unsafe, 'a new reader checks it first');
    await assert.rejects(memory.stats(), unsafe);
    await assert.rejects(memory.info(), unsafe);
    await assert.rejects(memory.clear(), unsafe);
    await assert.rejects(memory.reduceSize({ items: 0 }), unsafe);
    chmodSync(dir, 0o700);
    assert.equal(square(3), 9, 'usable again once private');
    assert.deepEqual(await memory.stats(), { hits: 1, misses: 2, corrupt: 0, rejected: 0 });
  });

  it('refuses a root reached through a link another user planted in a shared folder', {
    skip: NEEDS_ROOT,
  }, async () => {
    // /tmp-like: anyone may create there. The planted link points at a folder of yours, whose
    // contents clear() would delete if the link were trusted.
    const shared = join(root, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const mine = join(root, 'mine');
    mkdirSync(join(mine, 'precious'), { recursive: true, mode: 0o700 });
    const planted = join(shared, 'cache');
    symlinkSync(mine, planted);
    lchownSync(planted, OTHER_USER, OTHER_USER);
    assert.throws(
      () => new Memory(planted),
      refusal(planted, /belongs to uid 65534 and sits in .*shared, where anyone may create files/),
    );
    assert.ok(existsSync(join(mine, 'precious')));
  });

  it('refuses a root below a folder anyone may write without the sticky bit, before it exists', {
    skip: NEEDS_POSIX,
  }, () => {
    const open = join(root, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const inside = join(open, 'cache');
    assert.throws(
      () => new Memory(inside),
      refusal(inside, /anyone may write .*open on the way to it, which has no sticky bit/),
    );
    assert.ok(!existsSync(inside), 'nothing created there');
  });

  it('accepts a root that is your own link to your own folder', { skip: NEEDS_LINKS }, async () => {
    const mine = join(root, 'mine');
    mkdirSync(mine, { mode: 0o700 });
    symlinkSync(mine, dir);
    const memory = new Memory(dir);
    const nonce = memory.cache(tasks.nonce);
    assert.equal(nonce(1).nonce, nonce(1).nonce);
    assert.deepEqual(await memory.stats(), { hits: 1, misses: 1, corrupt: 0, rejected: 0 });
    assert.equal(readdirSync(mine).length, 1, 'the entry is in the linked folder');
  });
});

describe('Memory: entries must be yours, and links inside are never followed', () => {
  const parts: [string, (task: TaskRef) => string][] = [
    ['task folder', (task) => taskFolder(task)],
    ['entry folder', (task) => entryOf(task)],
    ['output.bin', (task) => join(entryOf(task), 'output.bin')],
  ];
  for (const [what, pathOf] of parts) {
    it(`refuses a forged entry whose ${what} another user owns, and never returns it`, {
      skip: NEEDS_ROOT,
    }, () => {
      const nonce = new Memory(dir).cache(tasks.nonce);
      nonce(1);
      const entry = entryOf(nonce);
      writeFileSync(join(entry, 'output.bin'), forgedOutput(FORGED));
      const forged = pathOf(nonce);
      chownSync(forged, OTHER_USER, OTHER_USER);
      assert.throws(() => nonce(1), refusal(forged, /belongs to uid 65534, not to you/));
    });
  }

  it('refuses an entry file, entry folder or task folder others may write', { skip: NEEDS_POSIX }, () => {
    const nonce = new Memory(dir).cache(tasks.nonce);
    nonce(1);
    const output = join(entryOf(nonce), 'output.bin');
    chmodSync(output, 0o666);
    assert.throws(() => nonce(1), refusal(output, /others may write it \(mode 0o666\)/));
    chmodSync(output, 0o600);
    chmodSync(entryOf(nonce), 0o775);
    assert.throws(() => nonce(1), refusal(entryOf(nonce), /its group may write it/));
    chmodSync(entryOf(nonce), 0o700);
    // Others could rename entries here, swapping one call's result for another's.
    chmodSync(taskFolder(nonce), 0o777);
    assert.throws(() => nonce(1), refusal(taskFolder(nonce), /others may write it/));
  });

  it('never follows a linked task folder: nothing is read or written outside the cache', {
    skip: NEEDS_LINKS,
  }, () => {
    const memory = new Memory(dir);
    memory.cache(tasks.square)(1); // the cache folder exists
    const outside = join(root, 'outside');
    mkdirSync(outside, { mode: 0o700 });
    const nonce = memory.cache(tasks.nonce);
    symlinkSync(outside, taskFolder(nonce));
    assert.throws(() => nonce(1), refusal(taskFolder(nonce), /symbolic link/));
    assert.deepEqual(readdirSync(outside), [], 'nothing written outside');
  });

  it('checks again at the write: a link planted while the task runs gets nothing', {
    skip: NEEDS_LINKS,
  }, async () => {
    const memory = new Memory(dir);
    memory.cache(tasks.square)(1); // the cache folder exists
    const outside = join(root, 'outside');
    mkdirSync(outside, { mode: 0o700 });
    const nonce = memory.cache(tasks.nonceAsync);
    const pending = nonce(1); // looked up (a miss) before it returns; stored when it resolves
    symlinkSync(outside, taskFolder(nonce));
    await assert.rejects(pending, refusal(taskFolder(nonce), /symbolic link/));
    assert.deepEqual(readdirSync(outside), [], 'nothing written outside');
  });

  it('never follows a linked entry folder or entry file', { skip: NEEDS_LINKS }, () => {
    const nonce = new Memory(dir).cache(tasks.nonce);
    nonce(1);
    const entry = entryOf(nonce);
    const output = join(entry, 'output.bin');
    const forged = join(root, 'forged.bin');
    writeFileSync(forged, forgedOutput(FORGED), { mode: 0o600 });
    rmSync(output);
    symlinkSync(forged, output);
    assert.throws(() => nonce(1), refusal(output, /symbolic link/));

    const moved = join(root, 'moved-entry');
    rmSync(output);
    writeFileSync(output, forgedOutput(FORGED), { mode: 0o600 });
    renameSync(entry, moved);
    symlinkSync(moved, entry);
    assert.throws(() => nonce(1), refusal(entry, /symbolic link/));
  });

  it('never follows a linked meta.json for validate', { skip: NEEDS_LINKS }, () => {
    const nonce = new Memory(dir).cache(tasks.nonce, { validate: tasks.acceptAll });
    nonce(1);
    const meta = join(entryOf(nonce), 'meta.json');
    const elsewhere = join(root, 'meta.json');
    renameSync(meta, elsewhere);
    symlinkSync(elsewhere, meta);
    assert.throws(() => nonce(1), refusal(meta, /symbolic link/));
  });

  it('stats() refuses a linked counter folder', { skip: NEEDS_LINKS }, async () => {
    const memory = new Memory(dir);
    memory.cache(tasks.square)(1);
    const outside = join(root, 'outside');
    mkdirSync(outside, { mode: 0o700 });
    symlinkSync(outside, join(dir, '.stats'));
    await assert.rejects(memory.stats(), refusal(join(dir, '.stats'), /symbolic link/));
  });

  it('clear() and info() never follow a link inside the cache', {
    skip: NEEDS_LINKS,
  }, async () => {
    const memory = new Memory(dir);
    memory.cache(tasks.square)(1);
    const outside = join(root, 'outside');
    mkdirSync(join(outside, 'precious'), { recursive: true, mode: 0o700 });
    symlinkSync(outside, join(dir, 'linked-000000000000'));
    assert.equal((await memory.info()).tasks.length, 1, 'a link is not listed as a task');
    await memory.clear();
    assert.ok(existsSync(join(outside, 'precious')));
  });
});
