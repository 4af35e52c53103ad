/** Inline functions: sent as source once per worker, values through `context`, outer variables refused. */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type AnyFunction, InlineFunctionError, Pool } from '../src/index.js';
import { freeVariables } from '../src/tasks/inline-functions.js';
import { backends, range, rejectsWith } from './helpers.js';

describe('freeVariables', () => {
  it('finds names a function reads but does not declare, ignoring globals', () => {
    assert.deepEqual(freeVariables('(x) => x * factor + Math.sqrt(offset)'), ['factor', 'offset']);
    assert.deepEqual(freeVariables('function f(a, { b = c }, ...d) { const e = a + b; return [e, d, f]; }'), [
      'c',
    ]);
    assert.deepEqual(
      freeVariables('(x) => { try { return JSON.parse(x); } catch (err) { return err; } }'),
      [],
    );
    assert.deepEqual(freeVariables('(o) => ({ a: o.b, [key]: 1, shorthand })'), ['key', 'shorthand']);
    assert.deepEqual(
      freeVariables('async (x) => { for (const y of x) await y; label: for (;;) break label; }'),
      [],
    );
    assert.deepEqual(freeVariables('(x) => class { m() { return x + this.y; } }'), []);
  });
});

/**
 * What tsx (esbuild with keepNames) makes of `(x) => { function inner(y) {...} ... }`: a call of
 * its `__name` helper after the nested function, which the caller's module defines. Built here
 * with the helper passed in, so the test does not depend on how this file was compiled.
 */
const keepNamesOutput = new Function(
  '__name',
  'return (x) => { function inner(y) { return y + 1; } __name(inner, "inner"); return inner.name + ":" + inner(x); }',
)((target: AnyFunction, value: string) =>
  Object.defineProperty(target, 'name', { value, configurable: true }),
);

describe('inline functions compiled by tsx', () => {
  it("a nested named function runs as it does compiled (esbuild's `__name` helper is defined for it)", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./fixtures/nested-inline.ts', import.meta.url))],
      { env: { ...process.env, NODE_OPTIONS: '' } },
    );
    const { source, results } = JSON.parse(stdout);
    // The case this test is for: tsx wrote the helper call into the function.
    assert.match(source, /__name\(inner, ?"inner"\)/);
    const expected = ['inner:2', 'inner:3'];
    assert.deepEqual(results, { threads: expected, processes: expected, inline: expected });
  });
});

for (const backend of backends) {
  describe(`${backend.name}: inline functions`, () => {
    it('a compiler helper call (`__name`) is defined in the worker; an outer `__name` read as a value is refused', async () => {
      await using pool = backend.pool();
      assert.deepEqual(await pool.map(keepNamesOutput, [1, 2]), ['inner:2', 'inner:3']);
      const __name = 'outer';
      await rejectsWith(
        pool.map((x: number) => `${__name}${x}`, [1]),
        'ERR_INLINE_FUNCTION',
      );
    });

    it('run from source, with values from `context` as the last argument', async () => {
      await using pool = backend.pool();
      assert.deepEqual(
        await pool.map((x: number) => x * x, range(100)),
        range(100).map((x) => x * x),
      );
      const scaled = await pool.map((x: number, ctx: { factor: number }) => x * ctx.factor, [1, 2, 3], {
        context: { factor: 10 },
      });
      assert.deepEqual(scaled, [10, 20, 30]);
      assert.deepEqual(await pool.starmap((a: number, b: number) => a - b, [[5, 3]]), [2]);
      assert.equal(await pool.run(async (a: number) => a + 1, 41), 42);
    });

    it('refuses a function that reads an outer variable, naming it and both fixes', async () => {
      await using pool = backend.pool();
      const factor = 3;
      const error = await rejectsWith(
        pool.map((x: number) => x * factor, [1]),
        'ERR_INLINE_FUNCTION',
      );
      assert.ok(error instanceof InlineFunctionError);
      assert.match(error.message, /reads `factor`/);
      assert.match(error.message, /context: \{ factor \}/);
      assert.match(error.message, /task module/);
    });
  });
}

describe('inline functions elsewhere', () => {
  it('a method written in shorthand works; a native function is refused', async () => {
    await using pool = new Pool({ workers: 1 });
    const helpers = {
      twice(x: number) {
        return 2 * x;
      },
    };
    assert.deepEqual(await pool.map(helpers.twice, [4]), [8]);
    await rejectsWith(pool.map(Math.sqrt, [4]), 'ERR_INLINE_FUNCTION');
  });

  it('a context that cannot cross is refused before anything is sent', async () => {
    await using pool = new Pool({ workers: 1 });
    await rejectsWith(
      pool.map((x: number, ctx: { f: () => number }) => x + ctx.f(), [1], { context: { f: () => 1 } }),
      'ERR_NOT_CLONEABLE',
    );
  });
});
