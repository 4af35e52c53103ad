/**
 * The task module of bench/startup/fanout.ts, as the README writes one: it imports `fanout/tasks`
 * (the built package's, dist/tasks.js, as the script imports dist/index.js).
 */

import { square } from './items.js';

type FanoutTasks = typeof import('../../src/tasks.js');
const { defineTasks } = (await import(
  new URL('../../../dist/tasks.js', import.meta.url).href
)) as FanoutTasks;

export default defineTasks(import.meta.url, { square });
