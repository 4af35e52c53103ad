/** The conformance suite on every local backend: inline, threads and processes. */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { backends } from '../helpers.js';
import { CONFORMANCE_TEST_COUNT, conformanceSuite, registeredTests } from './suite.js';

for (const backend of backends) conformanceSuite(backend);

it('every backend registered the whole suite', () => {
  for (const backend of backends) {
    assert.equal(registeredTests.get(backend.name), CONFORMANCE_TEST_COUNT, backend.name);
  }
});
