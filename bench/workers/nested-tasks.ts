/** The `async-io` and `fib` rows' functions as a fanout task module (bench/nested.ts). */

import { defineTasks } from '../../src/tasks/tasks.js';
import { ioThenCompute } from './nested-functions.js';

export default defineTasks(import.meta.url, { ioThenCompute });
