/**
 * The task module of bench/startup/fanout.ts, as the README writes one: it imports `fanout/tasks`
 * (the built package's, dist/tasks.js, as the script imports dist/index.js).
 */

import { defineTasks } from 'fanout/tasks';
import { square } from './items.js';

export default defineTasks(import.meta.url, { square });
