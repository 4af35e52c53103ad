/** The conformance suite on every local backend: inline, threads and processes. */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { backends } from '../helpers.js';
import { CONFORMANCE_TEST_COUNT, conformanceSuite, registeredTests } from './suite.js';

/**
 * The backends this file must cover, written out rather than read from `backends`, so that a
 * backend dropped from that list fails here instead of silently leaving the suite.
 */
const LOCAL_BACKENDS = ['inline', 'threads', 'processes'];

for (const backend of backends) conformanceSuite(backend);

it('every local backend registered the whole suite', () => {
  assert.deepEqual([...registeredTests.keys()], LOCAL_BACKENDS, 'the backends the suite ran on');
  for (const name of LOCAL_BACKENDS) assert.equal(registeredTests.get(name), CONFORMANCE_TEST_COUNT, name);
});
