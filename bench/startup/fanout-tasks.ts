/** The task module of bench/startup/fanout.ts. */

import { defineTasks } from '../../src/index.js';
import { square } from './items.js';

export default defineTasks(import.meta.url, { square });
