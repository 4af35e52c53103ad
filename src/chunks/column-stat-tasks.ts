/**
 * The column statistics' per-chunk tasks (column-math.ts), registered under this module's URL:
 * a worker imports this file to run `columnStats.*.map`. The reducers (column-stats.ts) name the
 * tasks by this URL without importing it.
 */

import { defineTasks } from '../tasks/tasks.js';
import { columnTasks } from './column-math.js';

export default defineTasks(import.meta.url, columnTasks);
