/**
 * A task graph as pure scheduling logic: nodes become ready as their inputs get values, ready
 * nodes of one task are cut into batches with the same adaptive sizes as a map, a failure fails
 * every node that depends on it (`ERR_DEPENDENCY_FAILED`, whose cause is the root failure), and
 * a value is dropped as soon as the last node that reads it has been dispatched.
 *
 * The state is per node in typed arrays (inputs and dependents as compressed rows), so a graph
 * of 2 M nodes holds a few numbers a node and no promise, closure or object of its own: the API
 * layer (api/graph.ts) builds the plan from `delayed` calls and futures, and says how to build
 * a node's arguments from its inputs' values. Values travel through the caller: a node's value
 * comes back from its worker and goes out again in its dependents' arguments.
 */

import { crossingError } from '../codec/crossing.js';
import type { ItemFailure } from '../codec/errors.js';
import { AbortError, DependencyFailedError, TaskError, WorkerCrashedError } from '../errors.js';
import { ownTask } from '../layout.js';
import type { TaskSpec } from '../tasks/task-spec.js';
import type { BatchOutcome, BatchRequest, Dispatcher, Ticket } from './backend.js';
import { AutoBatchSizer, autoLimits, type BatchSizer, fixedBatchSizer } from './batch-size.js';
import { pipelineDepth, type RunSettings } from './call.js';
import { findPieces, type Pieces } from './graph-pieces.js';
import {
  ARG_INPUT,
  ARG_NUMBER,
  ARG_OTHER,
  type GraphFusion,
  type GraphPlan,
  type GraphTask,
  type NodeOutcome,
} from './graph-plan.js';

export interface GraphOptions extends RunSettings {
  readonly onOutput: (node: number, outcome: NodeOutcome) => void;
}

const WAITING = 0;
/** Dispatched inside a fused piece (its inputs already released; see `Pieces`). */
const FUSED = 1;
const RUNNING = 2;
const DONE = 3;
const FAILED = 4;

/** See call.ts: a job whose worker died this often before it started is suspected after all. */
const UNSTARTED_LOSSES = 3;

/**
 * The most nodes in one fused piece (graph-pieces.ts). Large enough that a piece's per-item
 * cost (its arrays, its trip, its result) is spread over many nodes; small enough that a tree
 * still has many pieces to spread over the workers.
 */
const PIECE_LIMIT = 256;

/** The fewest nodes worth a piece (see findPieces). */
const PIECE_LEAST = 8;

/** What runs a batch of fused pieces (worker/piece-tasks.ts). */
export const PIECE_SPEC: TaskSpec & { readonly kind: 'task' } = {
  kind: 'task',
  ...ownTask('worker/piece-tasks', 'piece'),
};

interface Job {
  /** The batch's number in the run (for traces: `BatchTrace.batch`). */
  readonly id: number;
  /** The batches that made its nodes' inputs (for traces: `BatchTrace.after`). */
  readonly after: readonly number[];
  readonly task: number;
  readonly nodes: readonly number[];
  /** The nodes' arguments, kept to run them again if their worker dies. */
  readonly items: readonly unknown[][];
  readonly track: boolean;
  readonly unstartedLosses?: number;
}

/** The fused pieces of a run (none when nothing may be fused). */
interface Fused {
  readonly pieces: Pieces;
  /** The index of the pieces' queue and sizer, after the plan's tasks. */
  readonly slot: number;
  readonly task: GraphTask;
  /** Each plan task's [module, name] (for the worker to find it); one array shared by every piece. */
  readonly table: readonly (readonly [string, string])[];
  /** A node's position in the piece being encoded. */
  readonly local: Int32Array;
  /** Scratch for a piece's members. */
  members: Int32Array;
  /** Scratch for a piece's code. */
  code: Float64Array;
}

/** A growable queue of node numbers. */
class NodeQueue {
  private data = new Int32Array(64);
  private head = 0;
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  push(node: number): void {
    if (this.tail === this.data.length) {
      const live = this.tail - this.head;
      const grown = new Int32Array(Math.max(64, live * 2));
      grown.set(this.data.subarray(this.head, this.tail));
      this.data = grown;
      this.head = 0;
      this.tail = live;
    }
    this.data[this.tail++] = node;
  }

  shift(): number {
    return this.data[this.head++] as number;
  }
}

export class GraphRun {
  /** Inputs not yet done; with pieces, per piece root: the inputs the piece takes from outside. */
  private readonly pending: Int32Array;
  private readonly fused: Fused | undefined;
  /** Dependents not yet dispatched, plus one while the caller wants the value (outputs). */
  private readonly consumers: Int32Array;
  private readonly state: Uint8Array;
  /**
   * Values that are numbers live in a Float64Array: a generic array of a million doubles held
   * one boxed number each, and every write into that old, large array from a young box made
   * the young-generation collections scan it (200 ms pauses on a 600,000-node graph). Other
   * values go to `values`, made on first need.
   */
  private readonly numbers: Float64Array;
  private readonly isNumber: Uint8Array;
  private values: unknown[] | undefined;
  private readonly dependentStart: Uint32Array;
  private readonly dependents: Uint32Array;
  private readonly ready: NodeQueue[];
  private readonly sizers: BatchSizer[];
  private readonly attempts = new Map<number, number>();
  private readonly retryQueue: Job[] = [];
  private readonly tickets = new Set<Ticket>();
  private inFlight = 0;
  private nextJob = 0;
  /** The batch that made each node's value (−1 until then, and for outside nodes). */
  private readonly producer: Int32Array;
  /** Where the inputs of the node whose arguments are being built start (see `inputValue`). */
  private inputBase = 0;
  /** The value of input place k of that node: one function for every node, not one each. */
  private readonly inputValue = (place: number): unknown =>
    this.valueOf(this.plan.inputs[this.inputBase + place] as number);
  private outputsLeft = 0;
  private settled = 0;
  private failedCount = 0;
  private finished = false;
  private resolveDone!: () => void;
  private rejectDone!: (error: unknown) => void;
  /** Resolves when every output has settled; rejects at the first failure unless collecting. */
  readonly done: Promise<void>;
  private readonly onAbort = () => {
    const { signal } = this.options;
    this.fail(new AbortError('The operation was aborted', { cause: signal?.reason as unknown }));
  };

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly plan: GraphPlan,
    private readonly options: GraphOptions,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // A run nobody awaits (its facade failed first) must not be an unhandled rejection.
    this.done.catch(() => {});
    const n = plan.nodes;
    const { inputStart, inputs, taskOf, isOutput } = plan;
    // Locals in the loops below: a 2 M-node graph runs each of them millions of times.
    const pending = new Int32Array(n);
    const consumers = new Int32Array(n);
    this.pending = pending;
    this.consumers = consumers;
    this.state = new Uint8Array(n);
    this.producer = new Int32Array(n).fill(-1);
    this.numbers = new Float64Array(n);
    this.isNumber = new Uint8Array(n);
    // Dependents as compressed rows: count, prefix-sum, fill.
    const dependentStart = new Uint32Array(n + 1);
    for (let place = 0; place < inputs.length; place++) {
      const at = (inputs[place] as number) + 1;
      dependentStart[at] = (dependentStart[at] as number) + 1;
    }
    for (let k = 0; k < n; k++)
      dependentStart[k + 1] = (dependentStart[k + 1] as number) + (dependentStart[k] as number);
    const fill = dependentStart.slice(0, n);
    const dependents = new Uint32Array(inputs.length);
    for (let k = 0; k < n; k++) {
      const end = inputStart[k + 1] as number;
      pending[k] = end - (inputStart[k] as number);
      for (let place = inputStart[k] as number; place < end; place++) {
        const input = inputs[place] as number;
        const slot = fill[input] as number;
        fill[input] = slot + 1;
        dependents[slot] = k;
      }
    }
    this.dependentStart = dependentStart;
    this.dependents = dependents;
    let outputs = 0;
    for (let k = 0; k < n; k++) {
      consumers[k] =
        (dependentStart[k + 1] as number) - (dependentStart[k] as number) + (isOutput[k] as number);
      outputs += isOutput[k] as number;
    }
    this.outputsLeft = outputs;
    this.fused = this.fuse(options);
    const slots = plan.tasks.length + (this.fused ? 1 : 0);
    this.ready = Array.from({ length: slots }, () => new NodeQueue());
    this.sizers = Array.from({ length: slots }, () =>
      options.batchSize === 'auto'
        ? new AutoBatchSizer(dispatcher.size, autoLimits(dispatcher.batchLimits))
        : fixedBatchSizer(options.batchSize),
    );
    if (this.fused) {
      // A piece waits for the inputs it takes from outside; its inner nodes wait for nothing.
      const { merged, rootOf } = this.fused.pieces;
      pending.fill(0);
      for (let k = 0; k < n; k++) {
        const end = inputStart[k + 1] as number;
        for (let place = inputStart[k] as number; place < end; place++) {
          if (merged[inputs[place] as number] === 0) {
            const root = rootOf[k] as number;
            pending[root] = (pending[root] as number) + 1;
          }
        }
      }
    }
    const merged = this.fused?.pieces.merged;
    for (let k = 0; k < n; k++) {
      if (pending[k] === 0 && (taskOf[k] as number) >= 0 && merged?.[k] !== 1) this.queue(k);
    }
    const { signal } = options;
    if (signal?.aborted) {
      this.onAbort();
      return;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (this.outputsLeft === 0) this.finish();
    else this.pump();
  }

  /** An outside node (a future) has its value. */
  provide(node: number, value: unknown): void {
    if (this.finished || this.state[node] !== WAITING) return;
    this.nodeDone(node, value);
    this.pump();
  }

  /** An outside node failed (or was cancelled); `error` is what it rejected with. */
  provideError(node: number, error: unknown): void {
    if (this.finished || this.state[node] !== WAITING) return;
    this.nodeFailed(node, error);
    this.pump();
  }

  /**
   * The pieces to fuse the graph into, unless a call option asks for a node on its own: a
   * `timeout` is per node, and so is a retry after an error.
   */
  private fuse(options: GraphOptions): Fused | undefined {
    const { plan } = this;
    const fusion = plan.fusion;
    if (!fusion || options.timeout !== undefined || (options.retryOn === 'error' && options.retries > 0)) {
      return undefined;
    }
    const pieces = findPieces(
      { ...plan, dependentStart: this.dependentStart, dependents: this.dependents, fusable: fusion.fusable },
      PIECE_LIMIT,
      PIECE_LEAST,
    );
    const table = plan.tasks.map((t): readonly [string, string] =>
      t.spec.kind === 'task' ? [t.spec.module, t.spec.name] : ['', ''],
    );
    const fusedTasks = plan.tasks.filter((t) => t.spec.kind === 'task' && !t.spec.wrapper);
    const names = fusedTasks.map((t) => t.name);
    const fusedSpecs = fusedTasks.map((t) => t.spec);
    return {
      pieces,
      slot: plan.tasks.length,
      // A mixed spec without `taskIndex` calls its first task (the piece) for every item; the
      // others are there so that a worker loads their modules before the batch starts.
      task: {
        spec: { kind: 'mixed', specs: [PIECE_SPEC, ...fusedSpecs], name: names.join(', ') },
        name: names.join(', '),
      },
      table,
      local: new Int32Array(plan.nodes),
      members: new Int32Array(64),
      code: new Float64Array(1024),
    };
  }

  /** Node (a piece's root, without pieces any node) is ready: queue it for its batch. */
  private queue(node: number): void {
    const fused = this.fused;
    const slot = fused && fused.pieces.isPiece[node] === 1 ? fused.slot : (this.plan.taskOf[node] as number);
    (this.ready[slot] as NodeQueue).push(node);
  }

  private taskAt(slot: number): GraphTask {
    return slot === this.fused?.slot ? this.fused.task : (this.plan.tasks[slot] as GraphTask);
  }

  /** Stop: nothing more is dispatched, batches in flight are cancelled. */
  close(): void {
    if (!this.finished) this.fail(new AbortError('The graph was closed before it finished'));
  }

  private get inFlightLimit(): number {
    const { preDispatch } = this.options;
    let estimate: number | undefined;
    for (const sizer of this.sizers) {
      if (sizer.growing) continue;
      const ms = sizer.estimatedBatchMs;
      if (ms !== undefined && (estimate === undefined || ms < estimate)) estimate = ms;
    }
    let trip = 0;
    for (const sizer of this.sizers) trip = Math.max(trip, sizer.roundTripMs ?? 0);
    const limit = this.dispatcher.size * pipelineDepth(estimate, trip);
    return preDispatch === 'auto' ? limit : Math.min(limit, preDispatch);
  }

  /** Dispatch what is ready, as full batches while workers are busy, smaller ones when they idle. */
  private pump(): void {
    while (!this.finished && this.inFlight < this.inFlightLimit) {
      const retry = this.retryQueue.shift();
      if (retry) {
        this.submit(retry);
        continue;
      }
      // The task with the most ready nodes goes first.
      let best = -1;
      for (let t = 0; t < this.ready.length; t++) {
        const count = (this.ready[t] as NodeQueue).length;
        if (count > 0 && (best < 0 || count > (this.ready[best] as NodeQueue).length)) best = t;
      }
      if (best < 0) return;
      const queue = this.ready[best] as NodeQueue;
      const sizer = this.sizers[best] as BatchSizer;
      const full = sizer.next(undefined);
      // While every worker has work, wait for a full batch: batches in flight will add to it.
      if (queue.length < full && this.inFlight >= this.dispatcher.size) return;
      const size = queue.length < full ? sizer.next(queue.length) : full;
      if (best === this.fused?.slot) this.dispatchPieces(size);
      else this.dispatchReady(best, size);
    }
  }

  private dispatchReady(task: number, size: number): void {
    const queue = this.ready[task] as NodeQueue;
    const nodes: number[] = [];
    const items: unknown[][] = [];
    const after = new Set<number>();
    const tracing = this.options.onBatch !== undefined;
    const { plan } = this;
    const { inputs, inputStart, isOutput } = plan;
    const crossing = this.options.crossing;
    while (nodes.length < size && queue.length > 0) {
      const node = queue.shift();
      if (this.state[node] !== WAITING) continue;
      const base = inputStart[node] as number;
      this.inputBase = base;
      const args = plan.argsOf(node, this.inputValue);
      // Each input has one reader fewer; a value no one reads any more is dropped.
      const end = inputStart[node + 1] as number;
      for (let place = base; place < end; place++) {
        const input = inputs[place] as number;
        // Dependency edges between batches, for traces only.
        if (tracing) {
          const producer = this.producer[input] as number;
          if (producer >= 0) after.add(producer);
        }
        if (this.dropReader(input) && !isOutput[input]) this.drop(input);
      }
      const problem = crossing ? this.argumentProblem(node, args, crossing) : undefined;
      if (problem) {
        this.nodeFailed(node, problem);
        if (this.finished) return;
        continue;
      }
      this.state[node] = RUNNING;
      nodes.push(node);
      items.push(args);
    }
    if (nodes.length > 0)
      this.submit({ id: this.nextJob++, after: [...after], task, nodes, items, track: false });
  }

  /**
   * The members of the piece rooted at `root`, readers before their inputs (so read backwards,
   * every node comes after its inputs); returns how many.
   */
  private membersOf(root: number): number {
    const fused = this.fused as Fused;
    const { merged } = fused.pieces;
    const { inputs, inputStart } = this.plan;
    let members = fused.members;
    // The members themselves serve as the stack: each is visited once, after its reader.
    members[0] = root;
    let count = 1;
    for (let at = 0; at < count; at++) {
      const node = members[at] as number;
      const end = inputStart[node + 1] as number;
      for (let place = inputStart[node] as number; place < end; place++) {
        const input = inputs[place] as number;
        if (merged[input] !== 1) continue;
        if (count === members.length) {
          members = grownMembers(members);
          fused.members = members;
        }
        members[count++] = input;
      }
    }
    return count;
  }

  /**
   * Dispatch up to `size` ready pieces as one batch: each an item of the piece task (its code
   * and the values it takes from outside, see worker/piece-tasks.ts), whose value is its root's.
   */
  private dispatchPieces(size: number): void {
    const fused = this.fused as Fused;
    const queue = this.ready[fused.slot] as NodeQueue;
    const fusion = this.plan.fusion as GraphFusion;
    const { plan, state } = this;
    const { inputs, inputStart, isOutput, taskOf } = plan;
    const { merged } = fused.pieces;
    const { local } = fused;
    const { argStart, argKind, argNumber } = fusion;
    const tracing = this.options.onBatch !== undefined;
    const crossing = this.options.crossing;
    const roots: number[] = [];
    const items: unknown[][] = [];
    const after = new Set<number>();
    /** Each piece's start and end in `code`, and where its entries of `others` start. */
    const starts: number[] = [];
    let code = fused.code;
    let at = 0;
    let others: unknown[] | undefined;
    pieces: while (roots.length < size && queue.length > 0) {
      const root = queue.shift();
      if (state[root] !== WAITING) continue;
      const count = this.membersOf(root);
      const members = fused.members;
      if (crossing) {
        for (let m = count - 1; m >= 0; m--) {
          const node = members[m] as number;
          const problem = this.pieceArgumentProblem(node, crossing);
          if (problem) {
            this.nodeFailed(node, problem);
            if (this.finished) return;
            continue pieces;
          }
        }
      }
      // The piece's code, in the form worker/piece-tasks.ts reads: numbers in one Float64Array
      // for the whole batch (one copy to send), other arguments in a list beside it.
      const start = at;
      const otherStart = others?.length ?? 0;
      for (let m = count - 1, position = 1; m >= 0; m--, position++) {
        const node = members[m] as number;
        local[node] = position;
        state[node] = FUSED;
        const first = argStart[node] as number;
        const argc = (argStart[node + 1] as number) - first;
        // Each argument takes at most two entries.
        if (at + 3 + 2 * argc > code.length) {
          code = grownCode(code, at + 3 + 2 * argc);
          fused.code = code;
        }
        code[at++] = taskOf[node] as number;
        code[at++] = node;
        code[at++] = argc;
        let place = inputStart[node] as number;
        for (let a = first; a < first + argc; a++) {
          const kind = argKind[a];
          if (kind === ARG_NUMBER) {
            code[at++] = 0;
            code[at++] = argNumber[a] as number;
            continue;
          }
          let value: unknown;
          if (kind === ARG_OTHER) value = fusion.directArgs(node)[a - first];
          else {
            const input = inputs[place++] as number;
            if (merged[input] === 1) {
              code[at++] = local[input] as number;
              continue;
            }
            value = this.valueOf(input);
            if (tracing) {
              const producer = this.producer[input] as number;
              if (producer >= 0) after.add(producer);
            }
            if (this.dropReader(input) && !isOutput[input]) this.drop(input);
          }
          if (typeof value === 'number') {
            code[at++] = 0;
            code[at++] = value;
          } else {
            code[at++] = -1;
            (others ??= []).push(value);
          }
        }
      }
      roots.push(root);
      starts.push(start, at, otherStart);
    }
    if (roots.length > 0) {
      const batchCode = code.slice(0, at);
      for (let i = 0; i < roots.length; i++) {
        items.push([fused.table, batchCode, starts[3 * i], starts[3 * i + 1], others, starts[3 * i + 2]]);
      }
      this.submit({
        id: this.nextJob++,
        after: [...after],
        task: fused.slot,
        nodes: roots,
        items,
        track: false,
      });
    }
  }

  /**
   * Why an argument of node (in a piece) cannot cross, as its error; the values it takes from
   * outside included. Numbers are passed over without a look.
   */
  private pieceArgumentProblem(
    node: number,
    crossing: (value: unknown) => string | undefined,
  ): Error | undefined {
    const { argStart, argKind } = this.plan.fusion as GraphFusion;
    const { merged } = (this.fused as Fused).pieces;
    let place = this.plan.inputStart[node] as number;
    const first = argStart[node] as number;
    const end = argStart[node + 1] as number;
    for (let a = first; a < end; a++) {
      const kind = argKind[a];
      if (kind === ARG_NUMBER) continue;
      let value: unknown;
      if (kind === ARG_INPUT) {
        const input = this.plan.inputs[place++] as number;
        // An inner value never crosses: it stays on the worker.
        if (merged[input] === 1 || this.isNumber[input] === 1) continue;
        value = this.valueOf(input);
      } else value = (this.plan.fusion as GraphFusion).directArgs(node)[a - first];
      if (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol') continue;
      const problem = crossing(value);
      if (problem) {
        return crossingError(
          `Task "${this.plan.nameOf(node)}": argument ${a - first} of node ${node}`,
          problem,
        );
      }
    }
    return undefined;
  }

  /** A piece ran: its inner nodes are done (their values stayed on the worker), its root has `value`. */
  private pieceDone(root: number, job: number, value: unknown): void {
    this.settleInner(root);
    this.producer[root] = job;
    this.nodeDone(root, value);
  }

  /** The inner nodes of a piece that did not fail settle as done (nobody outside reads them). */
  private settleInner(root: number): void {
    const count = this.membersOf(root);
    const members = (this.fused as Fused).members;
    for (let m = 0; m < count; m++) {
      const node = members[m] as number;
      if (node === root || this.state[node] !== FUSED) continue;
      this.state[node] = DONE;
      this.settled++;
    }
    this.options.onProgress?.({ done: this.settled, failed: this.failedCount, total: this.plan.nodes });
  }

  /**
   * A piece failed. A node in it threw (the worker names it: `graphNode`): that node fails with
   * a TaskError and its readers, inside the piece and beyond, with ERR_DEPENDENCY_FAILED, as if
   * each had run on its own. The root's value could not cross: the root fails. Anything else
   * (its tasks could not be found) fails the run, as a batch's failure does.
   */
  private pieceFailed(root: number, failure: ItemFailure): void {
    if (failure.kind === 'not-cloneable') {
      this.settleInner(root);
      const name = this.plan.nameOf(root);
      this.nodeFailed(root, crossingError(`Task "${name}": the result of node ${root}`, failure.problem));
      return;
    }
    const thrown = failure.error as (Error & { graphNode?: unknown }) | undefined;
    const node = thrown?.graphNode;
    if (typeof node !== 'number' || this.state[node] !== FUSED) {
      this.fail(failure.error);
      return;
    }
    this.nodeFailed(node, new TaskError({ task: this.plan.nameOf(node), index: node }, thrown?.cause));
    if (!this.finished) this.settleInner(root);
  }

  private argumentProblem(
    node: number,
    args: readonly unknown[],
    crossing: (value: unknown) => string | undefined,
  ): Error | undefined {
    for (let position = 0; position < args.length; position++) {
      const arg = args[position];
      if (typeof arg !== 'object' && typeof arg !== 'function' && typeof arg !== 'symbol') continue;
      const problem = crossing(arg);
      if (problem) {
        return crossingError(
          `Task "${this.plan.nameOf(node)}": argument ${position} of node ${node}`,
          problem,
        );
      }
    }
    return undefined;
  }

  private submit(job: Job): void {
    const o = this.options;
    const task = this.taskAt(job.task);
    const request: BatchRequest = {
      task: task.spec,
      taskName: task.name,
      spread: true,
      items: job.items,
      first: job.nodes[0] as number,
      // Each node's index is its node number, not its place in this batch: what it draws
      // (randomStream(seed, node)) is the same however ready nodes were batched. A piece's
      // nodes each take their own number on the worker (piece-tasks.ts).
      indices: nodeIndices(job.nodes),
      timeout: o.timeout,
      track: job.track,
      stopOnError: !o.collect,
      seed: o.seed,
      context: o.context,
      timeItems: o.timeItems,
      pace: this.sizers[job.task],
    };
    const submitted = performance.now();
    const ticket = this.dispatcher.submit(request);
    this.tickets.add(ticket);
    this.inFlight++;
    ticket.outcome.then(
      (outcome) => {
        this.tickets.delete(ticket);
        this.inFlight--;
        // As a map's batches do (call.ts): a backend across a network sizes from its round trip.
        if (outcome.kind === 'done') {
          this.sizers[job.task]?.observeRoundTrip?.(performance.now() - submitted - outcome.duration);
        }
        if (!this.finished) this.receive(job, outcome);
        this.pump();
      },
      (error: unknown) => {
        this.tickets.delete(ticket);
        this.inFlight--;
        this.fail(error);
      },
    );
  }

  private receive(job: Job, outcome: BatchOutcome): void {
    switch (outcome.kind) {
      case 'done':
        this.receiveDone(job, outcome);
        return;
      case 'failed':
        this.fail(outcome.error);
        return;
      case 'lost':
        this.receiveLost(job, outcome);
        return;
      case 'cancelled':
        return;
    }
  }

  private receiveDone(job: Job, outcome: Extract<BatchOutcome, { kind: 'done' }>): void {
    const { nodes } = job;
    const task = this.taskAt(job.task);
    const pieces = job.task === this.fused?.slot;
    if (outcome.ran > 0) (this.sizers[job.task] as BatchSizer).observe(outcome.ran, outcome.duration);
    this.options.onBatch?.({
      worker: outcome.worker,
      startedAt: outcome.startedAt,
      duration: outcome.duration,
      first: nodes[0] as number,
      count: outcome.ran,
      taskName: task.name,
      itemTimes: outcome.itemTimes,
      batch: job.id,
      after: job.after,
    });
    const failures = outcome.failures ? new Map<number, ItemFailure>() : undefined;
    for (const failure of outcome.failures ?? []) failures?.set(failure.offset, failure);
    const { values, ran } = outcome;
    for (let i = 0; i < ran && !this.finished; i++) {
      const node = nodes[i] as number;
      const failure = failures?.get(i);
      if (pieces) {
        if (failure) this.pieceFailed(node, failure);
        else this.pieceDone(node, job.id, values[i]);
      } else if (failure) this.itemFailed(job, i, failure);
      else {
        this.producer[node] = job.id;
        this.nodeDone(node, values[i]);
      }
    }
    if (ran < nodes.length && !this.finished) {
      // The batch stopped early without failing the run (an abort raced with it): run the rest.
      this.retryQueue.push({
        ...job,
        id: this.nextJob++,
        nodes: nodes.slice(ran),
        items: job.items.slice(ran),
      });
    }
  }

  private itemFailed(job: Job, offset: number, failure: ItemFailure): void {
    const node = job.nodes[offset] as number;
    const name = this.plan.nameOf(node);
    if (failure.kind === 'not-cloneable') {
      this.nodeFailed(node, crossingError(`Task "${name}": the result of node ${node}`, failure.problem));
      return;
    }
    if (this.options.retryOn === 'error' && this.mayRetry(node)) {
      this.retryQueue.unshift(this.single(job, offset, false));
      return;
    }
    this.nodeFailed(node, new TaskError({ task: name, index: node }, failure.error));
  }

  private single(job: Job, offset: number, track: boolean): Job {
    return {
      id: this.nextJob++,
      after: job.after,
      task: job.task,
      nodes: [job.nodes[offset] as number],
      items: [job.items[offset] as unknown[]],
      track,
    };
  }

  private receiveLost(job: Job, outcome: Extract<BatchOutcome, { kind: 'lost' }>): void {
    const count = job.nodes.length;
    let lostAt = outcome.offset;
    if (lostAt === undefined) {
      const losses = (job.unstartedLosses ?? 0) + (outcome.started ? 0 : 1);
      if (!outcome.started && losses < UNSTARTED_LOSSES) {
        this.retryQueue.unshift({ ...job, unstartedLosses: losses });
        return;
      }
      if (count > 1 || !job.track) {
        // Which node killed the worker is unknown: run them one by one, tracked, to find out.
        for (let i = 0; i < count; i++) this.retryQueue.push(this.single(job, i, true));
        return;
      }
      lostAt = 0;
    }
    for (let i = 0; i < count; i++) if (i !== lostAt) this.retryQueue.push(this.single(job, i, job.track));
    const node = job.nodes[lostAt] as number;
    if (this.mayRetry(node)) {
      this.retryQueue.unshift(this.single(job, lostAt, true));
      return;
    }
    const { error } = outcome;
    const located =
      error instanceof WorkerCrashedError && error.index === undefined
        ? error.at({ task: this.plan.nameOf(node), index: node })
        : error;
    this.nodeFailed(node, located);
  }

  private mayRetry(node: number): boolean {
    const used = this.attempts.get(node) ?? 0;
    if (used >= this.options.retries) return false;
    this.attempts.set(node, used + 1);
    return true;
  }

  private nodeDone(node: number, value: unknown): void {
    this.state[node] = DONE;
    if (this.consumers[node] !== 0) this.keep(node, value);
    const { dependentStart, dependents, pending, plan } = this;
    const end = dependentStart[node + 1] as number;
    for (let e = dependentStart[node] as number; e < end; e++) {
      const dependent = dependents[e] as number;
      const waiter = this.fused ? (this.fused.pieces.rootOf[dependent] as number) : dependent;
      const left = (pending[waiter] as number) - 1;
      pending[waiter] = left;
      if (left === 0 && this.state[waiter] === WAITING && (plan.taskOf[waiter] as number) >= 0) {
        this.queue(waiter);
      }
    }
    this.settle(node, true, value);
  }

  /**
   * Node `root` failed with `error`: it settles with it, and every node that depends on it,
   * directly or not, settles with `ERR_DEPENDENCY_FAILED` naming `root`. A failure that is
   * itself a dependency failure (a future that failed for want of its own dependency) passes on
   * its root cause, so the cause is always the first failure.
   */
  private nodeFailed(root: number, error: unknown): void {
    this.state[root] = FAILED;
    let cause = error;
    let failed = { task: this.plan.nameOf(root), index: root as number | undefined };
    if (error instanceof DependencyFailedError) {
      cause = error.cause;
      failed = { task: error.dependency, index: undefined };
    }
    this.settle(root, false, error);
    if (this.finished) return;
    const { dependentStart, dependents, plan } = this;
    const stack = [root];
    while (stack.length > 0) {
      const node = stack.pop() as number;
      const end = dependentStart[node + 1] as number;
      for (let e = dependentStart[node] as number; e < end; e++) {
        const dependent = dependents[e] as number;
        const was = this.state[dependent];
        if (was !== WAITING && was !== FUSED) continue;
        this.state[dependent] = FAILED;
        // A node dispatched in a piece released its inputs then.
        if (was === WAITING) this.release(dependent);
        const where = { task: plan.nameOf(dependent), index: dependent };
        this.settle(dependent, false, new DependencyFailedError(where, failed, cause));
        stack.push(dependent);
      }
    }
  }

  private keep(node: number, value: unknown): void {
    if (typeof value === 'number') {
      this.numbers[node] = value;
      this.isNumber[node] = 1;
    } else {
      (this.values ??= new Array(this.plan.nodes))[node] = value;
    }
  }

  private valueOf(node: number): unknown {
    return this.isNumber[node] ? this.numbers[node] : this.values?.[node];
  }

  /** No one reads node's value any more: let it go. */
  private drop(node: number): void {
    if (this.values && !this.isNumber[node]) this.values[node] = undefined;
  }

  /** Node `input` has one reader fewer; true when none is left. */
  private dropReader(input: number): boolean {
    const left = (this.consumers[input] as number) - 1;
    this.consumers[input] = left;
    return left === 0;
  }

  /** A node that will not run reads none of its inputs: they have one reader fewer. */
  private release(node: number): void {
    const { inputs, inputStart, isOutput } = this.plan;
    const end = inputStart[node + 1] as number;
    for (let place = inputStart[node] as number; place < end; place++) {
      const input = inputs[place] as number;
      if (this.dropReader(input) && !isOutput[input]) this.drop(input);
    }
  }

  /** Node settled with a value (`ok`) or an error; an outcome object is made for outputs only. */
  private settle(node: number, ok: boolean, valueOrError: unknown): void {
    this.settled++;
    if (!ok) this.failedCount++;
    this.options.onProgress?.({ done: this.settled, failed: this.failedCount, total: this.plan.nodes });
    if (!ok && !this.options.collect) {
      this.fail(valueOrError);
      return;
    }
    if (!this.plan.isOutput[node]) return;
    this.options.onOutput(node, ok ? { ok, value: valueOrError } : { ok, error: valueOrError });
    if (--this.outputsLeft === 0) this.finish();
  }

  private fail(error: unknown): void {
    this.finish({ error });
  }

  /** End the run: resolved when every output settled, or rejected with `failure`. */
  private finish(failure?: { error: unknown }): void {
    if (this.finished) return;
    this.finished = true;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    for (const ticket of this.tickets) ticket.cancel();
    this.tickets.clear();
    this.retryQueue.length = 0;
    if (failure) this.rejectDone(failure.error);
    else this.resolveDone();
  }
}

/**
 * A batch's node numbers as its items' indices, or undefined when they run on from the first
 * (then `first + i` says the same, and no array is made or sent).
 */
function nodeIndices(nodes: readonly number[]): Int32Array | undefined {
  const n = nodes.length;
  const first = nodes[0] as number;
  let k = 1;
  while (k < n && nodes[k] === first + k) k++;
  if (k === n) return undefined;
  const indices = new Int32Array(n);
  for (let i = 0; i < n; i++) indices[i] = nodes[i] as number;
  return indices;
}

/** A piece's member list, twice as long. */
function grownMembers(members: Int32Array): Int32Array {
  const next = new Int32Array(members.length * 2);
  next.set(members);
  return next;
}

/** A piece's code scratch, long enough for `needed` entries. */
function grownCode(code: Float64Array, needed: number): Float64Array {
  const next = new Float64Array(Math.max(needed, code.length * 2));
  next.set(code);
  return next;
}
