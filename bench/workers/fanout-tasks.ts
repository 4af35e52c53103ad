/** The benchmark functions as a fanout task module (a worker imports this file to find them). */

import { defineTasks } from '../../src/tasks/tasks.js';
import { functions } from './functions.js';

export default defineTasks(import.meta.url, functions);
