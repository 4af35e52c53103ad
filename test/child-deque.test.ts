/**
 * Lazy task creation (worker/child-deque.ts, worker/nested.ts): a task's children wait in its
 * worker's deque and run there as direct calls; only while another worker is idle does the
 * oldest one go to the pool for it. Checked on a worker's NestedCalls alone, with the pool's
 * side played by the test: the hunger cell, and the messages the worker sends.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callSeed, Pool } from '../src/index.js';
import { type BatchState, ItemState, runWithItem } from '../src/tasks/context.js';
import type { Slots } from '../src/worker/batch-run.js';
import { NestedCalls } from '../src/worker/nested.js';
import type { CallMessage, FromWorker } from '../src/worker/protocol.js';
import { counter, stealTasks } from './fixtures/steal-tasks.js';

const slots: Slots = { free: () => true, take() {}, give() {}, wait() {} };

/** A worker's nested calls, `idle` other workers, and a root item of a batch seeded `seed`. */
function worker(idle: number, seed = 7) {
  const sent: FromWorker[] = [];
  const nested = new NestedCalls((message) => sent.push(message), slots);
  nested.hunger = new Int32Array([idle]);
  const batch: BatchState = {
    id: 1,
    seed,
    context: undefined,
    aborted: false,
    controller: undefined,
    report() {},
    poolFor: nested.poolFor,
  };
  const root = new ItemState(batch, 0);
  const calls = () => sent.filter((m): m is CallMessage => m.t === 'call');
  return { nested, batch, root, sent, calls };
}

describe('children in a worker: the deque', () => {
  it('while no other worker is idle, every child runs here: none is sent', async () => {
    const { root, calls } = worker(0);
    assert.equal(await runWithItem(root, () => stealTasks.fib(12)), 144);
    assert.deepEqual(calls(), []);
  });

  it('with one idle worker, the oldest child goes to it (once) and the rest run here', async () => {
    const { nested, root, sent, calls } = worker(1);
    const result = runWithItem(root, () => stealTasks.fib(8));
    // The parent submitted fib(7), then fib(6): the older, larger one is given away, one only.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(calls().length, 1, 'one child for one idle worker');
    const [call] = calls() as [CallMessage];
    assert.equal(call.call.taskName, 'fib');
    assert.deepEqual(call.call.items, [[7]]);
    // The worker said it is busy before it gave the child away: the pool must not send it back.
    assert.equal(sent[0]?.t, 'busy');
    assert.equal(nested.hunger[0], 0, 'the idle worker was claimed');
    nested.answered({ fanout: 'fanout/1', t: 'called', ref: call.ref, values: [13] });
    assert.equal(await result, 21);
    assert.deepEqual(
      sent.map((m) => m.t),
      ['busy', 'call', 'busy'],
      'busy, the child, and idle again once the deque is empty',
    );
  });

  it('a child has the seed it would have in the pool, and so do its own children', async () => {
    const { root, calls } = worker(0, 11);
    const seeds = await runWithItem(root, () => stealTasks.seeds(2));
    assert.deepEqual(calls(), []);
    // Child k of an item: callSeed(callSeed(item's seed, item's index), k); a `run` child has index 0.
    const child = callSeed(callSeed(11, 0), 1);
    const grandchild = callSeed(callSeed(child, 0), 1);
    assert.deepEqual(seeds, [11, child, grandchild]);
  });

  it('children of a parent whose call was cancelled before they started never run: they fail with ABORT_ERR', async () => {
    const { batch, root } = worker(0);
    counter.runs = 0;
    const parent = runWithItem(root, () => stealTasks.parentOf([1, 2, 3]));
    // Cancelled in the parent's synchronous part, before the deque is drained.
    batch.aborted = true;
    await assert.rejects(parent, { code: 'ABORT_ERR' });
    assert.equal(counter.runs, 0);
  });
});

describe('children in a pool: the same values and seeds wherever they run', () => {
  it('threads: a child and its own children draw from the seeds the pool would give them', async () => {
    await using pool = new Pool({ backend: 'threads', workers: 2 });
    const seeds = await pool.runWith(stealTasks.seeds, [3], { seed: 5 });
    const expected = [5];
    for (let level = 1; level <= 3; level++)
      expected.push(callSeed(callSeed(expected[level - 1] as number, 0), 1));
    assert.deepEqual(seeds, expected);
    assert.equal(await pool.run(stealTasks.fib, 15), 610);
  });
});
