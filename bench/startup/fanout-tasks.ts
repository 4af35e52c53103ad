/** The task module of bench/startup/fanout.ts, as the README writes one: it imports `fanout/tasks`. */

import { defineTasks } from '../../src/tasks.js';
import { square } from './items.js';

export default defineTasks(import.meta.url, { square });
