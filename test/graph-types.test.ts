/**
 * The types of task graphs: a `TaskFuture<T>` or a `Delayed<T>` is accepted wherever a task takes
 * a `T` (at the top level, inside arrays and objects), a wrong one is refused, and inference is
 * as good as without them. The type assertions are checked by `npm run typecheck` (this file is
 * in the project); the test runs the same calls, so they are also true at run time.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Computed,
  type Delayed,
  delayed,
  Pool,
  parallel,
  type Settled,
  type TaskFuture,
} from '../src/index.js';
import tasks from './fixtures/tasks.js';

/** True when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const expectType = <T extends true>(_proof: T): void => {};

describe('task graph types', () => {
  it('accept futures and delayed calls where values go, and infer the results', async () => {
    await using pool = new Pool({ backend: 'inline' });
    const a = pool.run(tasks.add, 1, 2);
    expectType<Equal<typeof a, TaskFuture<number>>>(true);
    const b = pool.run(tasks.add, a, delayed(tasks.square)(3));
    expectType<Equal<typeof b, TaskFuture<number>>>(true);
    const total = pool.run(tasks.sum, [a, b, 4]);
    expectType<Equal<typeof total, TaskFuture<number>>>(true);
    // @ts-expect-error a future of a string is not a number
    pool.run(tasks.add, pool.run(tasks.identity, 'x') as TaskFuture<string>, 1).catch(() => {});
    // @ts-expect-error nor is a delayed call returning one, inside an array
    pool.run(tasks.sum, [delayed(tasks.fail)('x') as Delayed<string>]).catch(() => {});
    assert.equal(await total, 3 + 12 + 4);

    const node = delayed(tasks.add)(delayed(tasks.leaf)(1), pool.run(tasks.leaf, 2));
    expectType<Equal<typeof node, Delayed<number>>>(true);
    // @ts-expect-error delayed checks its arguments the same way
    delayed(tasks.add)(delayed(tasks.fail)('x') as Delayed<string>, 1);

    const computed = await pool.compute({ sum: node, list: [delayed(tasks.square)(4)], label: 'k' });
    expectType<Equal<typeof computed, { sum: number; list: number[]; label: string }>>(true);
    assert.deepEqual(computed, { sum: 3, list: [16], label: 'k' });
    const collected = await pool.compute([node], { errors: 'collect' });
    expectType<Equal<typeof collected, Settled<number>[]>>(true);
    assert.deepEqual(collected, [{ status: 'fulfilled', value: 3 }]);
    expectType<Equal<Computed<Delayed<number>[]>, number[]>>(true);

    const [x, y] = await parallel({ pool })([node, delayed(tasks.leaf)(3)]);
    expectType<Equal<typeof x, number | undefined>>(true);
    assert.deepEqual([x, y], [3, 3]);
  });
});
