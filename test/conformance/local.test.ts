/** The conformance suite on every local backend: inline, threads and processes. */

import { backends } from '../helpers.js';
import { conformanceSuite } from './suite.js';

for (const backend of backends) conformanceSuite(backend);
