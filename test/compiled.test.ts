/** The compiled package works for a caller under plain node with a compiled `.js` task module. */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const caller = fileURLToPath(new URL('./fixtures/js-caller.mjs', import.meta.url));

it('runs .js task modules from compiled code under plain node', {
  skip: !existsSync(dist) && 'run `npm run build` first',
}, async () => {
  // No --import tsx here: the child sees only JavaScript.
  const { stdout } = await promisify(execFile)(process.execPath, [caller], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  assert.deepEqual(JSON.parse(stdout), { threads: [1, 8, 27], processes: [1, 8, 27] });
});
