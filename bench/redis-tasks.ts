/** Tasks of the redis benchmark: a no-op, to measure what the backend itself costs per item. */

import { defineTasks } from '../src/index.js';

export default defineTasks(import.meta.url, {
  noop(_item?: unknown): void {},
});
