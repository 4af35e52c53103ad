/**
 * Tests that need something this machine may lack: redis-server, openssl, Chromium, Python with
 * joblib, a build. Two decisions live here, for every such test:
 * - `requirement`: missing and demanded by its FANOUT_REQUIRE_* variable (CI sets them all in
 *   .ci/run): the file fails; missing otherwise: a loud notice, and the tests are skipped.
 * - `gate`: skipped tests are still registered, each with the reason, so the summary counts them
 *   as skipped. (node:test's own `{ skip }` on a `describe` never runs its body: the summary then
 *   counts 0 tests, and a file that skipped everything looks like a file with nothing in it.)
 */

import * as nodeTest from 'node:test';

export interface Requirement {
  /** Why the tests cannot run here (e.g. "redis-server is not on PATH"), or undefined when they can. */
  readonly missing: string | undefined;
  /** The variable that demands these tests, e.g. FANOUT_REQUIRE_REDIS. */
  readonly env: `FANOUT_REQUIRE_${string}`;
  /** How to get what is missing, e.g. "apt-get install redis-server". */
  readonly install: string;
}

/**
 * A skip reason for the tests of `file` that need `requirement`, or false when they can run.
 * Throws when it is missing and its FANOUT_REQUIRE_* variable is 1.
 */
export function requirement(file: string, { missing, env, install }: Requirement): string | false {
  if (missing === undefined) return false;
  if (process.env[env] === '1')
    throw new Error(`${file}: ${env}=1 but ${missing}. To run its tests: ${install}.`);
  const line = '#'.repeat(78);
  process.stderr.write(
    `\n${line}\n# SKIPPED: tests in ${file}: ${missing}.\n# To run them: ${install}. CI sets ${env}=1.\n${line}\n\n`,
  );
  return `SKIPPED: ${missing}`;
}

/** node:test's functions for a group of tests that may have to be skipped as a whole. */
export interface Gate {
  readonly describe: typeof nodeTest.describe;
  readonly it: typeof nodeTest.it;
  readonly before: typeof nodeTest.before;
  readonly after: typeof nodeTest.after;
  readonly beforeEach: typeof nodeTest.beforeEach;
  readonly afterEach: typeof nodeTest.afterEach;
}

const open: Gate = {
  describe: nodeTest.describe,
  it: nodeTest.it,
  before: nodeTest.before,
  after: nodeTest.after,
  beforeEach: nodeTest.beforeEach,
  afterEach: nodeTest.afterEach,
};

/**
 * node:test's functions, unchanged when `skip` is false. With a reason, every test registered
 * through them is skipped with it (suites still run their bodies, so every test is counted), and
 * hooks do nothing: what they would start (a server, a browser) is what is missing.
 *
 * @example
 * ```ts
 * const { describe, it, before } = gate(requirement('test/x.test.ts', { missing, env, install }));
 * ```
 */
export function gate(skip: string | false): Gate {
  if (!skip) return open;
  const noHook = () => {};
  return {
    describe: nodeTest.describe,
    it: ((...args: unknown[]) => {
      const name = typeof args[0] === 'string' ? args[0] : undefined;
      const options = args.find((a) => typeof a === 'object' && a !== null) ?? {};
      const fn = args.find((a) => typeof a === 'function');
      return nodeTest.it(name, { ...options, skip }, fn as nodeTest.TestFn | undefined);
    }) as typeof nodeTest.it,
    before: noHook,
    after: noHook,
    beforeEach: noHook,
    afterEach: noHook,
  };
}
