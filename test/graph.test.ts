/**
 * The graph scheduler as pure logic (scheduler/graph.ts), over a fake dispatcher whose batches
 * finish when the test says; and how graphs are read from delayed calls (api/graph.ts), and the
 * argument walk that finds dependencies (api/dependencies.ts). Backends are the conformance
 * suite's business (its "task graphs" section).
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { findDependencies, substitute } from '../src/api/dependencies.js';
import { buildGraph } from '../src/api/graph.js';
import { packTuples, unpack } from '../src/codec/values.js';
import {
  AbortError,
  DependencyFailedError,
  delayed,
  Pool,
  type Settled,
  TaskError,
  WorkerCrashedError,
} from '../src/index.js';
import { criticalPath } from '../src/observe/critical-path.js';
import { renderReport } from '../src/observe/report.js';
import {
  type BatchOutcome,
  type BatchRequest,
  type Dispatcher,
  itemIndex,
  type Ticket,
} from '../src/scheduler/backend.js';
import { type GraphOptions, GraphRun } from '../src/scheduler/graph.js';
import type { GraphPlan, NodeOutcome } from '../src/scheduler/graph-plan.js';
import faults from './fixtures/faults.js';
import tasks from './fixtures/tasks.js';

interface Submitted {
  readonly request: BatchRequest;
  cancelled: boolean;
  settle(outcome: BatchOutcome): void;
}

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
  /** Run a batch as a worker would: each item (an argument tuple) through `fn`; `fail` names offsets that throw. */
  run(entry: Submitted, fn: (...args: never[]) => unknown, fail: ReadonlySet<number> = new Set()): void {
    const items = entry.request.items as unknown[][];
    const values = items.map((args, i) => (fail.has(i) ? undefined : fn(...(args as never[]))));
    const failures = [...fail].map((offset) => ({
      kind: 'threw' as const,
      offset,
      error: new RangeError(`offset ${offset} threw`),
    }));
    entry.settle({
      kind: 'done',
      values,
      ran: values.length,
      failures: failures.length ? failures : undefined,
      worker: 0,
      startedAt: 0,
      duration: 1,
    });
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A plan from a list of nodes: each names its task and its inputs; `args` puts the input values
 * in order (the API layer's substitution, here by hand).
 */
function planOf(nodes: { task: number; inputs: number[]; args?: unknown[] }[], outputs: number[]): GraphPlan {
  const inputStart = new Uint32Array(nodes.length + 1);
  const inputs: number[] = [];
  nodes.forEach((node, k) => {
    inputStart[k] = inputs.length;
    inputs.push(...node.inputs);
  });
  inputStart[nodes.length] = inputs.length;
  const isOutput = new Uint8Array(nodes.length);
  for (const k of outputs) isOutput[k] = 1;
  const names = ['leaf', 'add', 'outside'];
  return {
    nodes: nodes.length,
    taskOf: Int32Array.from(nodes, (n) => n.task),
    inputStart,
    inputs: Uint32Array.from(inputs),
    tasks: [
      { spec: { kind: 'task', module: 'file:///fake.js', name: 'leaf' }, name: 'leaf' },
      { spec: { kind: 'task', module: 'file:///fake.js', name: 'add' }, name: 'add' },
    ],
    isOutput,
    argsOf: (k, input) => {
      const node = nodes[k] as { inputs: number[]; args?: unknown[] };
      return node.inputs.length === 0 ? (node.args ?? []) : node.inputs.map((_, place) => input(place));
    },
    nameOf: (k) =>
      names[(nodes[k] as { task: number }).task === -1 ? 2 : (nodes[k] as { task: number }).task] as string,
  };
}

function options(overrides: Partial<GraphOptions> & Pick<GraphOptions, 'onOutput'>): GraphOptions {
  return {
    collect: false,
    batchSize: 'auto',
    preDispatch: 'auto',
    timeout: undefined,
    retries: 0,
    retryOn: 'crash',
    seed: 1,
    signal: undefined,
    crossing: undefined,
    ...overrides,
  };
}

const add = (a: number, b: number) => a + b;
const leaf = (x: number) => x;

/** leaves 0..3 (task 0, values 10, 20, 30, 40), node 4 = 0 + 1, node 5 = 2 + 3, node 6 = 4 + 5 */
const tree = () =>
  planOf(
    [
      { task: 0, inputs: [], args: [10] },
      { task: 0, inputs: [], args: [20] },
      { task: 0, inputs: [], args: [30] },
      { task: 0, inputs: [], args: [40] },
      { task: 1, inputs: [0, 1] },
      { task: 1, inputs: [2, 3] },
      { task: 1, inputs: [4, 5] },
    ],
    [6],
  );

describe('the graph scheduler', () => {
  it('runs a node once its inputs have values, and batches ready nodes of one task together', async () => {
    const dispatcher = new FakeDispatcher(1);
    const outputs = new Map<number, NodeOutcome>();
    const run = new GraphRun(
      dispatcher,
      tree(),
      options({ batchSize: 4, onOutput: (k, o) => outputs.set(k, o) }),
    );
    assert.equal(dispatcher.submitted.length, 1, 'the four leaves went as one batch; nothing else is ready');
    assert.deepEqual(dispatcher.submitted[0]?.request.items, [[10], [20], [30], [40]]);
    dispatcher.run(dispatcher.submitted[0] as Submitted, leaf);
    await tick();
    assert.equal(dispatcher.submitted.length, 2);
    assert.equal(dispatcher.submitted[1]?.request.taskName, 'add');
    assert.deepEqual(dispatcher.submitted[1]?.request.items, [
      [10, 20],
      [30, 40],
    ]);
    // Each item is named by its node number (its taskContext().index, its random stream):
    // nodes 4 and 5 run on from the first, so `first` says it.
    assert.equal(dispatcher.submitted[1]?.request.indices, undefined);
    assert.equal(dispatcher.submitted[1]?.request.first, 4);
    dispatcher.run(dispatcher.submitted[1] as Submitted, add);
    await tick();
    assert.deepEqual(dispatcher.submitted[2]?.request.items, [[30, 70]]);
    dispatcher.run(dispatcher.submitted[2] as Submitted, add);
    await run.done;
    assert.deepEqual(outputs.get(6), { ok: true, value: 100 });
  });

  it('names each item of a batch by its node number: a batch of nodes 0 and 2 carries them as its indices', async () => {
    const dispatcher = new FakeDispatcher(1);
    const plan = planOf(
      [
        { task: 0, inputs: [], args: [1] },
        { task: 1, inputs: [0, 2] },
        { task: 0, inputs: [], args: [2] },
      ],
      [1],
    );
    const run = new GraphRun(dispatcher, plan, options({ batchSize: 4, onOutput: () => {} }));
    const leaves = dispatcher.submitted[0] as Submitted;
    assert.deepEqual(leaves.request.items, [[1], [2]]);
    assert.deepEqual(
      [0, 1].map((i) => itemIndex(leaves.request, i)),
      [0, 2],
    );
    assert.deepEqual([...(leaves.request.indices ?? [])], [0, 2]);
    dispatcher.run(leaves, leaf);
    await tick();
    dispatcher.run(dispatcher.submitted[1] as Submitted, add);
    await run.done;
  });

  it('collect: a failure settles its node, and each node that depends on it with ERR_DEPENDENCY_FAILED naming the root', async () => {
    const dispatcher = new FakeDispatcher(1);
    const plan = tree();
    (plan.isOutput as Uint8Array).fill(1);
    const outputs = new Map<number, NodeOutcome>();
    const run = new GraphRun(
      dispatcher,
      plan,
      options({ collect: true, batchSize: 4, onOutput: (k, o) => outputs.set(k, o) }),
    );
    dispatcher.run(dispatcher.submitted[0] as Submitted, leaf, new Set([1]));
    await tick();
    // Node 5 (30 + 40) still runs: it does not depend on the failure.
    assert.deepEqual(dispatcher.submitted[1]?.request.items, [[30, 40]]);
    dispatcher.run(dispatcher.submitted[1] as Submitted, add);
    await run.done;
    const root = outputs.get(1);
    assert.ok(root && !root.ok && root.error instanceof TaskError);
    for (const k of [4, 6]) {
      const outcome = outputs.get(k);
      assert.ok(outcome && !outcome.ok && outcome.error instanceof DependencyFailedError, `node ${k}`);
      assert.equal(outcome.error.cause, root.error, 'the cause is the root failure itself');
      assert.equal(outcome.error.dependency, 'leaf');
      assert.equal(outcome.error.dependencyIndex, 1);
      assert.equal(outcome.error.index, k);
    }
    assert.deepEqual(outputs.get(5), { ok: true, value: 70 });
    assert.deepEqual(outputs.get(0), { ok: true, value: 10 });
  });

  it('fail-fast: the first failure rejects the run with itself and cancels what is in flight', async () => {
    const dispatcher = new FakeDispatcher(2);
    const run = new GraphRun(dispatcher, tree(), options({ batchSize: 2, onOutput: () => {} }));
    assert.equal(dispatcher.submitted.length, 2);
    dispatcher.run(dispatcher.submitted[0] as Submitted, leaf, new Set([0]));
    await assert.rejects(run.done, (error: unknown) => error instanceof TaskError && error.task === 'leaf');
    assert.equal(dispatcher.submitted[1]?.cancelled, true);
  });

  it('an outside node (a future) gives its value through provide(), or its failure through provideError()', async () => {
    const nodes = [
      { task: 1, inputs: [1, 2] },
      { task: -1, inputs: [] },
      { task: 0, inputs: [], args: [5] },
    ];
    const dispatcher = new FakeDispatcher(1);
    const outputs = new Map<number, NodeOutcome>();
    const run = new GraphRun(
      dispatcher,
      planOf(nodes, [0]),
      options({ batchSize: 1, onOutput: (k, o) => outputs.set(k, o) }),
    );
    dispatcher.run(dispatcher.submitted[0] as Submitted, leaf);
    await tick();
    assert.equal(dispatcher.submitted.length, 1, 'the add waits for the outside value');
    run.provide(1, 2);
    assert.deepEqual(dispatcher.submitted[1]?.request.items, [[2, 5]]);
    dispatcher.run(dispatcher.submitted[1] as Submitted, add);
    await run.done;
    assert.deepEqual(outputs.get(0), { ok: true, value: 7 });

    const cancelled = new AbortError('The task was cancelled before it started');
    const second = new GraphRun(
      new FakeDispatcher(1),
      planOf(nodes, [0]),
      options({ collect: true, batchSize: 1, onOutput: (k, o) => outputs.set(k, o) }),
    );
    second.provideError(1, cancelled);
    await second.done;
    const outcome = outputs.get(0);
    assert.ok(outcome && !outcome.ok && outcome.error instanceof DependencyFailedError);
    assert.equal(outcome.error.cause, cancelled);
    assert.match(outcome.error.message, /dependency "outside" \(node 1\) was cancelled/);
  });

  it('a worker that dies loses only its batch: its nodes run again one by one, the culprit fails with ERR_WORKER_CRASHED, and its dependents with ERR_DEPENDENCY_FAILED', async () => {
    const dispatcher = new FakeDispatcher(1);
    const plan = tree();
    (plan.isOutput as Uint8Array).fill(1);
    const outputs = new Map<number, NodeOutcome>();
    const run = new GraphRun(
      dispatcher,
      plan,
      options({ collect: true, batchSize: 4, onOutput: (k, o) => outputs.set(k, o) }),
    );
    const crash = new WorkerCrashedError('exit code 1');
    (dispatcher.submitted[0] as Submitted).settle({
      kind: 'lost',
      error: crash,
      offset: undefined,
      started: true,
    });
    // Play the workers: node 1 (the leaf 20) kills its worker again; the rest run.
    const played = new Set<Submitted>([dispatcher.submitted[0] as Submitted]);
    for (let round = 0; round < 20 && played.size < dispatcher.submitted.length + 1; round++) {
      await tick();
      for (const entry of dispatcher.submitted) {
        if (played.has(entry) || entry.cancelled) continue;
        played.add(entry);
        if (entry.request.taskName === 'add') dispatcher.run(entry, add);
        else if ((entry.request.items as unknown[][])[0]?.[0] === 20) {
          entry.settle({ kind: 'lost', error: crash, offset: 0, started: true });
        } else dispatcher.run(entry, leaf);
      }
    }
    await run.done;
    const leaves = dispatcher.submitted.slice(1).filter((s) => s.request.taskName === 'leaf');
    assert.deepEqual(
      leaves.map((s) => [s.request.items, s.request.track]).sort(),
      [
        [[[10]], true],
        [[[20]], true],
        [[[30]], true],
        [[[40]], true],
      ],
      'each node again, alone and tracked',
    );
    const adds = dispatcher.submitted.filter((s) => s.request.taskName === 'add');
    assert.deepEqual(
      adds.map((s) => s.request.items),
      [[[30, 40]]],
      'only the add that does not need node 1',
    );
    const culprit = outputs.get(1);
    assert.ok(culprit && !culprit.ok && culprit.error instanceof WorkerCrashedError);
    assert.equal(culprit.error.index, 1);
    for (const k of [4, 6]) {
      const outcome = outputs.get(k);
      assert.ok(outcome && !outcome.ok && outcome.error instanceof DependencyFailedError);
      assert.equal(outcome.error.cause, culprit.error);
    }
    assert.deepEqual(outputs.get(5), { ok: true, value: 70 });
  });

  it('an abort rejects the run with ABORT_ERR and cancels its batches', async () => {
    const dispatcher = new FakeDispatcher(1);
    const controller = new AbortController();
    const run = new GraphRun(dispatcher, tree(), options({ signal: controller.signal, onOutput: () => {} }));
    controller.abort();
    await assert.rejects(run.done, (error: unknown) => error instanceof AbortError);
    assert.ok(dispatcher.submitted.every((s) => s.cancelled));
  });
});

describe('reading a graph of delayed calls', () => {
  it('numbers the roots first, each shared call once, and lists inputs per node in argument order', () => {
    const shared = delayed(tasks.square)(3);
    const a = delayed(tasks.add)(shared, shared);
    const b = delayed(tasks.identity)({ list: [shared, a], other: 1 });
    const { plan, rootNodes } = buildGraph([a, b, a] as never, 'test');
    assert.deepEqual([...rootNodes], [0, 1, 0]);
    assert.equal(plan.nodes, 3, 'a, b and the shared square');
    assert.deepEqual([...plan.inputs.subarray(plan.inputStart[0], plan.inputStart[1])], [2, 2]);
    assert.deepEqual([...plan.inputs.subarray(plan.inputStart[1], plan.inputStart[2])], [2, 0]);
    const values = [9, 18];
    assert.deepEqual(
      plan.argsOf(1, (place) => values[place]),
      [{ list: [9, 18], other: 1 }],
    );
    assert.deepEqual(
      plan.argsOf(0, () => 9),
      [9, 9],
    );
    assert.deepEqual([plan.nameOf(0), plan.nameOf(1), plan.nameOf(2)], ['add', 'identity', 'square']);
  });

  it('reads a chain deeper than the stack without recursion', () => {
    let node = delayed(tasks.leaf)(0);
    for (let i = 0; i < 200_000; i++) node = delayed(tasks.add)(node, 1);
    assert.equal(buildGraph([node] as never, 'test').plan.nodes, 200_001);
  });
});

describe('dependencies in arguments', () => {
  it('are found at the top level and inside arrays and plain objects, in walk order; other values are left alone', () => {
    const d = delayed(tasks.square)(2);
    const e = delayed(tasks.square)(3);
    assert.equal(findDependencies([1, 'x', [1, 2], { a: 1 }, new Map([[1, d]])]), undefined);
    const shared = [e];
    const found = findDependencies([d, { x: [e, { y: d }] }, shared, shared]);
    assert.deepEqual(found?.inputs, [d, e, d, e]);
    assert.equal(found?.nested, true);
    const values = [4, 9, 4, 9];
    const args = substitute([d, { x: [e, { y: d }] }, shared, shared], found as never, (k) => values[k]);
    assert.deepEqual(args, [4, { x: [9, { y: 4 }] }, [9], [9]]);
    assert.equal(args[2], args[3], 'a container met twice is one copy');
  });
});

describe('argument tuples packed for workers', () => {
  it('go as one Float64Array when every tuple holds the same number of numbers, and come back the same', () => {
    const tuples = Array.from({ length: 10 }, (_, i) => [i, -0, Number.NaN, i / 3]);
    const packed = packTuples(tuples);
    assert.ok(packed && packed.arity === 4);
    assert.deepEqual(Array.from(unpack(packed)), tuples);
    assert.ok(Object.is((Array.from(unpack(packed))[0] as number[])[1], -0));
  });

  it('are left as they are for any other shape', () => {
    const base = Array.from({ length: 10 }, (_, i) => [i, i]);
    assert.equal(packTuples([...base, [1, 2, 3]]), undefined);
    assert.equal(packTuples([...base, [1, '2']]), undefined);
    assert.equal(packTuples([...base, 5]), undefined);
    assert.equal(packTuples(base.slice(0, 3)), undefined, 'a few tuples clone faster as they are');
  });
});

describe('a graph run seen', () => {
  const batch = (id: number, startedAt: number, duration: number, after: number[]) => ({
    worker: id % 2,
    startedAt,
    duration,
    first: 0,
    count: 1,
    taskName: 't',
    batch: id,
    after,
  });

  it('the critical path goes back from the last batch through the input batch that ended last', () => {
    // 0 and 1 have no inputs; 2 waits for both (1 ends later); 3 waits for 2; 4 ends early.
    const batches = [
      batch(0, 0, 5, []),
      batch(1, 0, 9, []),
      batch(2, 9, 3, [0, 1]),
      batch(3, 12, 4, [2]),
      batch(4, 1, 2, [0]),
    ];
    assert.deepEqual([...criticalPath(batches)].sort(), [1, 2, 3]);
    assert.equal(criticalPath([{ ...batch(0, 0, 1, []), batch: undefined }]).size, 0, 'a map has none');
  });

  it('a node that times out in a batch is named by its node number, not its place in the batch', async () => {
    await using pool = new Pool({ backend: 'threads', workers: 1 });
    // The spins are nodes 1 and 3, one batch of two; node 3 never ends in time.
    const settled = (await pool.compute(
      [
        delayed(tasks.leaf)(0),
        delayed(faults.spin)(1),
        delayed(tasks.leaf)(1),
        delayed(faults.spin)(600_000),
      ],
      { timeout: 1000, batchSize: 2, errors: 'collect' },
    )) as unknown as Settled<number>[];
    const timedOut = settled[3];
    assert.ok(timedOut?.status === 'rejected');
    assert.equal((timedOut.reason as TaskError).code, 'ERR_TASK_TIMEOUT');
    assert.equal((timedOut.reason as TaskError).index, 3);
    assert.deepEqual(
      settled.slice(0, 3).map((s) => s.status),
      ['fulfilled', 'fulfilled', 'fulfilled'],
    );
  });

  it('a traced graph has dependency arrows and its critical path, in the trace file and the report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-graph-trace-'));
    try {
      await using pool = new Pool({ backend: 'inline' });
      const trace = join(dir, 'trace.json');
      const batches: Parameters<typeof renderReport>[0]['batches'] & object = [];
      const leaves = [1, 2, 3, 4].map((x) => delayed(tasks.leaf)(x));
      const root = delayed(tasks.add)(
        delayed(tasks.add)(leaves[0] as never, leaves[1] as never),
        delayed(tasks.add)(leaves[2] as never, leaves[3] as never),
      );
      assert.equal(
        await pool.compute(root, { trace, batchSize: 1, onBatch: (b) => (batches as unknown[]).push(b) }),
        10,
      );
      const events = (
        JSON.parse(readFileSync(trace, 'utf8')) as { traceEvents: { ph: string; cat?: string }[] }
      ).traceEvents;
      const starts = events.filter((e) => e.ph === 's').length;
      assert.equal(starts, events.filter((e) => e.ph === 'f').length);
      assert.equal(starts, 6, 'one arrow per input: 4 leaves into 2 adds, 2 adds into the root');
      assert.equal(
        events.filter((e) => e.cat === 'batch,critical-path').length,
        3,
        'a leaf, an add and the root',
      );
      const html = renderReport({ title: 'graph', batches });
      assert.equal(html.match(/class="edge/g)?.length, 6);
      assert.equal(html.match(/class="critical"/g)?.length, 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
