/** The conformance suite on every local backend: inline, threads and processes. */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { backends } from '../helpers.js';
import { conformanceSuite, registeredTests } from './suite.js';

for (const backend of backends) conformanceSuite(backend);

it('every backend registered the whole suite', () => {
  const counts = backends.map((b) => registeredTests.get(b.name) ?? 0);
  assert.ok(
    counts.every((n) => n === counts[0] && n >= 30),
    `tests per backend: ${counts.join(', ')}`,
  );
});
