/** Tasks of `npm run bench:sync` (bench/sync/main.ts): each times its own loop and returns ns per operation. */

import { type Counter, defineTasks, type Lock, type Queue } from '../../src/index.js';

const now = () => performance.now();

export default defineTasks(import.meta.url, {
  /** The floor: a compare-and-swap and a store on a shared cell, what a free lock costs at least. */
  bareCas(cell: Int32Array, n: number): number {
    const start = now();
    for (let i = 0; i < n; i++) {
      if (Atomics.compareExchange(cell, 0, 0, 1) === 0) Atomics.store(cell, 0, 0);
    }
    return ((now() - start) * 1e6) / n;
  },
  /** Uncontended tryAcquire() + release(): no promise. */
  tryAcquireRelease(lock: Lock, n: number): number {
    const start = now();
    for (let i = 0; i < n; i++) lock.tryAcquire()?.release();
    return ((now() - start) * 1e6) / n;
  },
  /** The floor of any awaited acquire: a bare `await Promise.resolve()`, one microtask turn. */
  async awaitFloor(n: number): Promise<number> {
    const start = now();
    for (let i = 0; i < n; i++) await Promise.resolve();
    return ((now() - start) * 1e6) / n;
  },
  /** Uncontended `await acquire()` + release(): one resolved promise and one await each. */
  async acquireRelease(lock: Lock, n: number): Promise<number> {
    const start = now();
    for (let i = 0; i < n; i++) (await lock.acquire()).release();
    return ((now() - start) * 1e6) / n;
  },
  /** Contended: a non-atomic increment of a shared cell under the lock, `n` times. */
  async lockedIncrements(lock: Lock, cell: Int32Array, n: number): Promise<number> {
    const start = now();
    for (let i = 0; i < n; i++) {
      const held = await lock.acquire();
      cell[0] = (cell[0] as number) + 1;
      held.release();
    }
    return ((now() - start) * 1e6) / n;
  },
  /** Contended, on a process worker (the cell is a Counter there: no shared memory). */
  async lockedCounter(lock: Lock, counter: Counter, n: number): Promise<number> {
    const start = now();
    for (let i = 0; i < n; i++) {
      const held = await lock.acquire();
      await counter.add(1);
      held.release();
    }
    return ((now() - start) * 1e6) / n;
  },
  async adds(counter: Counter, n: number): Promise<number> {
    const start = now();
    for (let i = 0; i < n; i++) await counter.add(1);
    return ((now() - start) * 1e6) / n;
  },
  async produce(queue: Queue<number>, n: number): Promise<number> {
    const start = now();
    for (let i = 0; i < n; i++) await queue.put(i);
    return ((now() - start) * 1e6) / n;
  },
  async consume(queue: Queue<number>, n: number): Promise<number> {
    const start = now();
    let sum = 0;
    for (let i = 0; i < n; i++) sum += await queue.get();
    if (sum !== (n * (n - 1)) / 2) throw new Error(`queue lost or changed items: sum ${sum}`);
    return ((now() - start) * 1e6) / n;
  },
});
