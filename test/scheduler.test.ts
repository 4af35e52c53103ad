/**
 * The scheduler as pure logic: a fake dispatcher stands in for the workers and decides when
 * each batch finishes and how long the "worker" says it ran (the scheduler's only clock is the
 * duration each batch reports, so these durations are the fake clock).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crossingProblem } from '../src/codec/crossing.js';
import { AbortError, TaskError, WorkerCrashedError } from '../src/index.js';
import type { BatchOutcome, BatchRequest, Dispatcher, Ticket } from '../src/scheduler/backend.js';
import {
  AutoBatchSizer,
  autoLimits,
  fixedBatchSizer,
  MAX_ITEMS,
  MIN_BATCH_MS,
} from '../src/scheduler/batch-size.js';
import { type CallOptions, CallRun, pipelineDepth } from '../src/scheduler/call.js';
import { readerOf } from '../src/scheduler/input.js';

interface Submitted {
  readonly request: BatchRequest;
  cancelled: boolean;
  settle(outcome: BatchOutcome): void;
}

/** A dispatcher whose batches finish only when the test says so. */
class FakeDispatcher implements Dispatcher {
  readonly submitted: Submitted[] = [];
  constructor(readonly size = 2) {}
  submit(request: BatchRequest): Ticket {
    let settle!: (o: BatchOutcome) => void;
    const outcome = new Promise<BatchOutcome>((resolve) => {
      settle = resolve;
    });
    const entry: Submitted = { request, cancelled: false, settle };
    this.submitted.push(entry);
    return {
      outcome,
      cancel: () => {
        entry.cancelled = true;
        settle({ kind: 'cancelled' });
      },
    };
  }
  /** The batches submitted and not yet finished. */
  get open(): Submitted[] {
    return this.submitted.filter((s) => !s.cancelled && !finished.has(s));
  }
  /** Finish a batch as a worker would: each item's value computed by `value`. */
  finish(entry: Submitted, durationMs: number, value = (item: unknown) => item): void {
    finished.add(entry);
    const values = Array.from(entry.request.items, (item) => value(item));
    entry.settle({
      kind: 'done',
      values,
      ran: values.length,
      failures: undefined,
      worker: 0,
      startedAt: 0,
      duration: durationMs,
    });
  }
  settle(entry: Submitted, outcome: BatchOutcome): void {
    finished.add(entry);
    entry.settle(outcome);
  }
}
const finished = new WeakSet<Submitted>();

const tick = () => new Promise((resolve) => setImmediate(resolve));

function options(overrides: Partial<CallOptions> = {}): CallOptions {
  return {
    task: { kind: 'task', module: 'file:///fake.js', name: 'double' },
    taskName: 'double',
    spread: false,
    ordered: true,
    collect: false,
    batchSize: 'auto',
    preDispatch: 'auto',
    timeout: undefined,
    retries: 0,
    retryOn: 'crash',
    seed: 1,
    signal: undefined,
    crossing: (value) => crossingProblem(value, { crossesBoundary: true, sharedMemory: true }),
    ...overrides,
  };
}

async function drain(call: CallRun): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const chunk of call.chunks()) out.push(...chunk);
  return out;
}

describe('AutoBatchSizer', () => {
  it('starts at one item and at most doubles per finished batch while batches are short', () => {
    const sizer = new AutoBatchSizer(2);
    const sizes = [sizer.next(undefined)];
    for (let i = 0; i < 12; i++) {
      sizer.observe(sizer.current, sizer.current * 0.001); // 1 µs per item: far below the target
      sizes.push(sizer.next(undefined));
    }
    assert.deepEqual(sizes, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]);
  });

  it('grows past doubling only as far as the items already timed, when older batches finished too', () => {
    const sizer = new AutoBatchSizer(2);
    sizer.observe(1, 0.001);
    assert.equal(sizer.current, 2);
    // Thirty more single-item batches, cut before the size grew, finish: they do not move it...
    for (let i = 0; i < 30; i++) sizer.observe(1, 0.001);
    assert.equal(sizer.current, 2);
    // ...but the next batch of the current size may hold as many items as were timed in all.
    sizer.observe(2, 0.002);
    assert.equal(sizer.current, 1 + 30 + 2);
    // With 1 µs items the ideal is far away, so the cap is the evidence, not the target.
    sizer.observe(33, 0.033);
    assert.equal(sizer.current, 66);
  });

  it('settles where one batch takes between MIN and MAX, then holds', () => {
    const sizer = new AutoBatchSizer(2);
    for (let i = 0; i < 40; i++) sizer.observe(sizer.current, sizer.current * 0.01); // 10 µs per item
    const settled = sizer.current;
    assert.ok(
      settled * 0.01 >= MIN_BATCH_MS && settled * 0.01 <= 2 * 2 * MIN_BATCH_MS,
      `settled at ${settled}`,
    );
    sizer.observe(settled, settled * 0.01);
    assert.equal(sizer.current, settled);
  });

  it('shrinks at once when items get slow', () => {
    const sizer = new AutoBatchSizer(2);
    for (let i = 0; i < 40; i++) sizer.observe(sizer.current, sizer.current * 0.01);
    const before = sizer.current;
    for (let i = 0; i < 10; i++) sizer.observe(sizer.current, sizer.current * 5); // now 5 ms per item
    assert.ok(sizer.current < before / 10, `${before} → ${sizer.current}`);
    assert.ok(sizer.current >= 1);
  });

  it('smooths: one slow outlier does not collapse a settled size', () => {
    const sizer = new AutoBatchSizer(2);
    for (let i = 0; i < 40; i++) sizer.observe(sizer.current, sizer.current * 0.01);
    const before = sizer.current;
    sizer.observe(before, before * 0.01 * 2); // one batch twice as slow
    assert.equal(sizer.current, before);
  });

  it('caps the size for near-free items', () => {
    const sizer = new AutoBatchSizer(2);
    for (let i = 0; i < 60; i++) sizer.observe(sizer.current, 0);
    assert.equal(sizer.current, MAX_ITEMS);
  });

  it('splits the tail across workers when the remaining count is known', () => {
    const sizer = new AutoBatchSizer(2);
    // 1 ms an item: the size stops at 64 (past the 50 ms minimum), and 1 ms is one item.
    for (let i = 0; i < 20; i++) sizer.observe(sizer.current, sizer.current * 1);
    assert.equal(sizer.current, 64);
    assert.equal(sizer.next(100_000), 64);
    assert.equal(sizer.next(400), 50);
    assert.equal(sizer.next(80), 10);
    assert.equal(sizer.next(3), 1);
  });

  it('keeps about 1 ms of work in a tail batch, however few items are left', () => {
    const sizer = new AutoBatchSizer(2);
    // 1 µs an item: a batch of 1000 runs 1 ms.
    for (let i = 0; i < 30; i++) sizer.observe(sizer.current, sizer.current * 0.001);
    assert.equal(sizer.current, MAX_ITEMS);
    assert.equal(sizer.next(100_000), 12_500);
    assert.equal(sizer.next(4000), 1000);
    assert.equal(sizer.next(80), 1000, 'the reader gives the 80 left');
  });

  it('across a network, sizes from the measured round trip: full batches in a few rounds, tails that hide the trip', () => {
    const limits = autoLimits({ minMs: 10, maxItems: 1 << 15, measureRoundTrip: true });
    /** Rounds until the size stops growing, for items of 1 µs and batches whose overhead is `trip` ms. */
    const grow = (sizer: AutoBatchSizer, trip: number) => {
      let rounds = 0;
      while (sizer.growing && rounds < 100) {
        sizer.observe(sizer.current, sizer.current * 0.001);
        sizer.observeRoundTrip?.(trip);
        rounds++;
      }
      return rounds;
    };
    const local = new AutoBatchSizer(2, autoLimits({ minMs: 10, maxItems: 1 << 15 }));
    const remote = new AutoBatchSizer(2, limits);
    const localRounds = grow(local, 40);
    const remoteRounds = grow(remote, 40);
    assert.equal(local.roundTripMs, 0, 'measured only when the backend asks');
    assert.equal(remote.roundTripMs, 40);
    assert.equal(local.current, 1 << 15);
    assert.equal(remote.current, 1 << 15);
    assert.ok(remoteRounds <= 4 && localRounds >= 14, `${remoteRounds} rounds against ${localRounds}`);
    // The trip is the smallest overhead seen: a batch that waited in its worker does not raise it.
    remote.observeRoundTrip?.(500);
    assert.equal(remote.roundTripMs, 40);
    // A tail batch keeps the trip's worth of work (40 ms: 40,000 items of 1 µs), not 1 ms.
    assert.equal(remote.next(100_000), Math.min(1 << 15, 40_000));
    assert.equal(local.next(100_000), 12_500);
    // A long trip (300 ms) raises the band's top with its bottom: sizes settle past 500 ms of work.
    const far = new AutoBatchSizer(2, limits);
    far.observeRoundTrip?.(300);
    for (let i = 0; i < 40; i++) far.observe(far.current, far.current * 0.5);
    const settled = far.current;
    assert.ok(settled * 0.5 >= 300, `${settled} items of 0.5 ms`);
    far.observe(settled * 2, settled * 2 * 0.5); // a batch cut earlier at twice the size, ~600 ms
    far.observe(settled, settled * 0.5);
    assert.equal(far.current, settled, 'held, not shrunk');
    const bigger = new AutoBatchSizer(2, limits);
    bigger.observeRoundTrip?.(300);
    for (let i = 0; i < 12; i++) bigger.observe(bigger.current, bigger.current * 0.5);
    bigger.observe(bigger.current, 3000); // one slow batch: the estimate (~840 ms) is inside the band now
    assert.ok(bigger.current * 0.5 >= 300, 'not shrunk below the trip');
    // Enough batches in flight to cover the trip.
    assert.equal(pipelineDepth(5, remote.roundTripMs), 9);
    assert.equal(pipelineDepth(5), 2);
  });

  it('gives exactly the size asked for when fixed', () => {
    const sizer = fixedBatchSizer(1000);
    assert.equal(sizer.next(3), 1000);
    sizer.observe(1000, 5000);
    assert.equal(sizer.next(undefined), 1000);
  });

  it("a parked batch (async items awaiting) grows a climbing size to the worker's slots, never a settled one", () => {
    const sizer = new AutoBatchSizer(2);
    assert.equal(sizer.next(undefined), 1);
    sizer.observeParked(16);
    assert.equal(sizer.next(undefined), 16, "one batch fills a worker's 16 slots");
    assert.equal(sizer.next(40), 5, 'the tail still shares the last items out');
    sizer.observeParked(4);
    assert.equal(sizer.current, 16, 'it never shrinks the size');
    // Items of 10 ms: the size is in its band (5 items, 50 ms); a park does not move it.
    const settled = new AutoBatchSizer(2);
    for (let i = 0; i < 10; i++) settled.observe(settled.current, settled.current * 10);
    const size = settled.current;
    assert.ok(!settled.growing);
    settled.observeParked(64);
    assert.equal(settled.current, size);
  });

  it('keeps more batches in flight when batches are short', () => {
    assert.equal(pipelineDepth(undefined), 2);
    assert.equal(pipelineDepth(50), 2);
    assert.ok(pipelineDepth(0.01) > 2);
    assert.equal(pipelineDepth(0.0001), 16);
  });
});

describe('CallRun', () => {
  it('keeps input order whatever order batches finish in', async () => {
    const dispatcher = new FakeDispatcher();
    const call = new CallRun(dispatcher, readerOf([1, 2, 3, 4, 5, 6]), options({ batchSize: 2 }));
    const result = drain(call);
    await tick();
    const open = dispatcher.open;
    assert.equal(open.length, 3);
    for (const entry of [...open].reverse()) dispatcher.finish(entry, 1, (x) => (x as number) * 10);
    assert.deepEqual(await result, [10, 20, 30, 40, 50, 60]);
  });

  it('yields in completion order when unordered', async () => {
    const dispatcher = new FakeDispatcher();
    const call = new CallRun(dispatcher, readerOf([1, 2, 3, 4]), options({ batchSize: 2, ordered: false }));
    const result = drain(call);
    await tick();
    const [first, second] = dispatcher.open;
    dispatcher.finish(second as Submitted, 1);
    await tick();
    dispatcher.finish(first as Submitted, 1);
    assert.deepEqual(await result, [3, 4, 1, 2]);
  });

  it("fills a worker's async slots in one batch once a batch parked, not one round trip per item", async () => {
    const dispatcher = new FakeDispatcher(2);
    const call = new CallRun(dispatcher, readerOf(Array.from({ length: 1000 }, (_, i) => i)), options());
    const result = drain(call);
    await tick();
    // Nothing is known yet: single items, two per worker.
    assert.deepEqual(
      dispatcher.submitted.map((s) => s.request.items.length),
      [1, 1, 1, 1],
    );
    // The first one's item awaits in a worker that holds 16 such items in flight: it parks.
    (dispatcher.submitted[0] as Submitted).request.onParked?.(16);
    await tick();
    assert.equal(dispatcher.submitted.length, 5);
    assert.equal((dispatcher.submitted[4] as Submitted).request.items.length, 16);
    for (;;) {
      await tick();
      const open = dispatcher.open;
      if (open.length === 0) break;
      for (const entry of open) dispatcher.finish(entry, entry.request.items.length);
    }
    assert.equal((await result).length, 1000);
  });

  it('grows batches as fast batches finish', async () => {
    const dispatcher = new FakeDispatcher(1);
    const n = 5000;
    const call = new CallRun(dispatcher, readerOf(Array.from({ length: n }, (_, i) => i)), options());
    const result = drain(call);
    for (;;) {
      await tick();
      if (dispatcher.open.length === 0) break;
      for (const entry of dispatcher.open) dispatcher.finish(entry, entry.request.items.length * 0.001);
    }
    assert.equal((await result).length, n);
    const sizes = dispatcher.submitted.map((s) => s.request.items.length);
    assert.equal(sizes[0], 1);
    assert.ok(Math.max(...sizes) >= 256, `largest batch ${Math.max(...sizes)}`);
  });

  it('keeps two batches per worker in flight while automatic sizes grow, more once they stop', async () => {
    const dispatcher = new FakeDispatcher(2);
    const n = 2_000_000;
    const call = new CallRun(dispatcher, readerOf(Array.from({ length: n }, (_, i) => i)), options());
    const result = drain(call);
    let mostWhileGrowing = 0;
    let mostAfter = 0;
    for (;;) {
      await tick();
      const open = dispatcher.open;
      if (open.length === 0) break;
      if (call.batchSize < MAX_ITEMS) mostWhileGrowing = Math.max(mostWhileGrowing, open.length);
      else mostAfter = Math.max(mostAfter, open.length);
      // 10 ns an item: batches stay far shorter than the 1 ms a deep pipeline is there to cover.
      const first = open[0] as Submitted;
      dispatcher.finish(first, first.request.items.length * 1e-5);
    }
    assert.equal((await result).length, n);
    assert.equal(mostWhileGrowing, 4, 'two per worker while the size climbs');
    assert.ok(mostAfter > 4, `then deeper, to cover the round trip (${mostAfter})`);
  });

  it('sends a run of plain numbers as a Float64Array when the reader packs them', async () => {
    const dispatcher = new FakeDispatcher(1);
    const input = [
      ...Array.from({ length: 10 }, (_, i) => i / 4),
      { not: 'a number' },
      -0,
      ...Array.from({ length: 13 }, (_, i) => i),
    ];
    const reader = readerOf(input, 'items', { packNumbers: true });
    const call = new CallRun(dispatcher, reader, options({ batchSize: 10 }));
    const result = drain(call);
    for (;;) {
      await tick();
      const open = dispatcher.open;
      if (open.length === 0) break;
      for (const entry of open) dispatcher.finish(entry, 1);
    }
    assert.deepEqual(
      dispatcher.submitted.map((s) => s.request.items instanceof Float64Array),
      [true, false, true],
      'runs of numbers packed, whatever their length; a run with an object as it is',
    );
    const back = await result;
    assert.deepEqual(back, input);
    assert.ok(Object.is(back[11], -0));
  });

  it('reads no further than the window allows while results are not consumed', async () => {
    const dispatcher = new FakeDispatcher(2);
    let read = 0;
    function* endless() {
      for (;;) yield read++;
    }
    const call = new CallRun(dispatcher, readerOf(endless()), options({ batchSize: 10, preDispatch: 4 }));
    await tick();
    assert.equal(read, 40, 'four batches of ten dispatched ahead');
    // Finishing batches frees no window: their results wait for the consumer.
    for (const entry of dispatcher.open) dispatcher.finish(entry, 1);
    await tick();
    assert.equal(read, 40);
    const iterator = call.chunks();
    await iterator.next();
    await tick();
    assert.equal(read, 50, 'consuming one batch lets one more in');
    await iterator.return(undefined);
  });

  it('stops at the first error: rejects, reads and dispatches nothing more, cancels the rest', async () => {
    const dispatcher = new FakeDispatcher(2);
    let read = 0;
    function* endless() {
      for (;;) yield read++;
    }
    const call = new CallRun(dispatcher, readerOf(endless()), options({ batchSize: 5 }));
    const result = drain(call);
    await tick();
    const [first, ...others] = dispatcher.open;
    dispatcher.settle(first as Submitted, {
      kind: 'done',
      values: [0, 1, 2],
      ran: 3,
      failures: [{ offset: 2, kind: 'threw', error: new Error('boom') }],
      worker: 0,
      startedAt: 0,
      duration: 1,
    });
    const error = await result.then(
      () => assert.fail('should reject'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof TaskError);
    assert.equal(error.index, 2);
    const submittedBefore = dispatcher.submitted.length;
    const readBefore = read;
    await tick();
    assert.equal(dispatcher.submitted.length, submittedBefore);
    assert.equal(read, readBefore);
    assert.ok(others.every((o) => o.cancelled));
  });

  it('after a crash whose item is unknown, re-runs the batch one item at a time to find it', async () => {
    const dispatcher = new FakeDispatcher(2);
    const call = new CallRun(dispatcher, readerOf([1, 2, 3]), options({ batchSize: 3, collect: true }));
    const result = drain(call);
    await tick();
    const [batch] = dispatcher.open;
    const crash = new WorkerCrashedError('exited with code 1');
    dispatcher.settle(batch as Submitted, { kind: 'lost', error: crash, offset: undefined, started: true });
    await tick();
    const singles = dispatcher.open;
    assert.deepEqual(
      singles.map((s) => [s.request.items, s.request.track]),
      [
        [[1], true],
        [[2], true],
        [[3], true],
      ],
    );
    dispatcher.finish(singles[0] as Submitted, 1);
    dispatcher.settle(singles[1] as Submitted, { kind: 'lost', error: crash, offset: 0, started: true });
    dispatcher.finish(singles[2] as Submitted, 1);
    const settled = (await result) as { status: string; reason?: unknown }[];
    assert.deepEqual(
      settled.map((s) => s.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    const blamed = settled[1]?.reason as WorkerCrashedError;
    assert.ok(blamed instanceof WorkerCrashedError);
    assert.equal(blamed.index, 1, 'the crash is blamed on the item found to cause it');
    assert.equal(blamed.reason, crash.reason);
  });

  it('runs again, blaming nothing, a tracked batch whose worker died before it started', async () => {
    const dispatcher = new FakeDispatcher(1);
    const call = new CallRun(dispatcher, readerOf([1, 2]), options({ batchSize: 2, collect: true }));
    const result = drain(call);
    await tick();
    const crash = new WorkerCrashedError('exited with code 1');
    // Re-run one by one (tracked) after an untracked loss ...
    dispatcher.settle(dispatcher.open[0] as Submitted, {
      kind: 'lost',
      error: crash,
      offset: undefined,
      started: true,
    });
    await tick();
    const [first, second] = dispatcher.open as [Submitted, Submitted];
    dispatcher.finish(first, 1);
    // ... the worker dies after the first returned, before the second started: no item is at fault.
    dispatcher.settle(second, { kind: 'lost', error: crash, offset: undefined, started: false });
    await tick();
    const [again] = dispatcher.open as [Submitted];
    assert.deepEqual([again.request.items, again.request.track], [[2], true]);
    dispatcher.finish(again, 1);
    assert.deepEqual(await result, [
      { status: 'fulfilled', value: 1 },
      { status: 'fulfilled', value: 2 },
    ]);
  });

  it('blames an item whose worker dies again and again before it starts', async () => {
    const dispatcher = new FakeDispatcher(1);
    const call = new CallRun(dispatcher, readerOf([5]), options({ collect: true }));
    const result = drain(call);
    const crash = new WorkerCrashedError('killed by signal SIGKILL');
    await tick();
    dispatcher.settle(dispatcher.open[0] as Submitted, {
      kind: 'lost',
      error: crash,
      offset: undefined,
      started: true,
    });
    for (let loss = 0; loss < 3; loss++) {
      await tick();
      const [single] = dispatcher.open as [Submitted];
      assert.equal(single.request.track, true);
      dispatcher.settle(single, { kind: 'lost', error: crash, offset: undefined, started: false });
    }
    const [settled] = (await result) as { status: string; reason?: WorkerCrashedError }[];
    assert.equal(settled?.status, 'rejected');
    assert.equal(settled?.reason?.index, 0);
    assert.equal(dispatcher.submitted.length, 4);
  });

  it('retries an item whose worker died, up to `retries` times', async () => {
    const dispatcher = new FakeDispatcher(1);
    const call = new CallRun(dispatcher, readerOf([7]), options({ retries: 2 }));
    const result = drain(call);
    const crash = new WorkerCrashedError('killed by signal SIGKILL');
    for (let attempt = 0; attempt < 2; attempt++) {
      await tick();
      dispatcher.settle(dispatcher.open[0] as Submitted, {
        kind: 'lost',
        error: crash,
        offset: 0,
        started: true,
      });
    }
    await tick();
    dispatcher.finish(dispatcher.open[0] as Submitted, 1);
    assert.deepEqual(await result, [7]);
    assert.equal(dispatcher.submitted.length, 3);
  });

  it('aborts promptly on its signal with AbortError and cancels batches in flight', async () => {
    const dispatcher = new FakeDispatcher(2);
    const controller = new AbortController();
    const call = new CallRun(
      dispatcher,
      readerOf([1, 2, 3, 4]),
      options({ batchSize: 1, signal: controller.signal }),
    );
    const result = drain(call);
    await tick();
    controller.abort(new Error('user stop'));
    const error = await result.then(
      () => assert.fail('should reject'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof AbortError);
    assert.equal((error.cause as Error).message, 'user stop');
    assert.ok(dispatcher.submitted.every((s) => s.cancelled));
  });
});
