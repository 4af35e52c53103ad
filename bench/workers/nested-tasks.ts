/** The `async-io` and `fib` rows' functions as a fanout task module (bench/nested.ts). */

import { taskContext } from '../../src/tasks/context.js';
import { defineTasks } from '../../src/tasks/tasks.js';
import { ioThenCompute } from './nested-functions.js';

const tasks = defineTasks(import.meta.url, {
  ioThenCompute,
  /** The nested example: each call submits its two children to the pool that runs it. */
  async fib(n: number): Promise<number> {
    if (n < 2) return n;
    const { pool } = taskContext();
    const [a, b] = await Promise.all([pool.run(tasks.fib, n - 1), pool.run(tasks.fib, n - 2)]);
    return a + b;
  },
});

export default tasks;
