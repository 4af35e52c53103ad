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
import type { TaskSpec } from '../tasks/task-spec.js';
import type { BatchTrace, ProgressCounts } from '../types.js';
import type { BatchOutcome, BatchRequest, Dispatcher, Ticket } from './backend.js';
import { AutoBatchSizer, autoLimits, type BatchSizer, fixedBatchSizer } from './batch-size.js';
import { pipelineDepth } from './call.js';

/** A task of a graph: what its nodes' batches run. */
export interface GraphTask {
  readonly spec: TaskSpec;
  readonly name: string;
}

/**
 * A graph, compactly: node k runs `tasks[taskOf[k]]` (or, with -1, takes its value from outside:
 * a future, through `provide`), on arguments built from the values of
 * `inputs[inputStart[k]] … inputs[inputStart[k + 1] − 1]` (one entry per place an input appears,
 * in the order `argsOf` reads them).
 */
export interface GraphPlan {
  readonly nodes: number;
  readonly taskOf: Int32Array;
  readonly inputStart: Uint32Array;
  readonly inputs: Uint32Array;
  readonly tasks: readonly GraphTask[];
  /** Nodes whose value the caller wants (each reported once through `onOutput`). */
  readonly isOutput: Uint8Array;
  /** Node k's arguments, given the values of its input places in order. */
  argsOf(node: number, input: (place: number) => unknown): unknown[];
  /** For messages: the name of node k's task (for an outside node, what it stands for). */
  nameOf(node: number): string;
}

export type NodeOutcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

export interface GraphOptions {
  /** `errors: 'collect'`: every output settles; otherwise the first failure fails the run. */
  readonly collect: boolean;
  readonly batchSize: number | 'auto';
  readonly preDispatch: number | 'auto';
  readonly timeout: number | undefined;
  readonly retries: number;
  readonly retryOn: 'crash' | 'error';
  readonly seed: number;
  readonly context?: unknown;
  readonly signal: AbortSignal | undefined;
  /** Why an argument cannot cross (codec/crossing.ts), or undefined where nothing crosses. */
  readonly crossing: ((value: unknown) => string | undefined) | undefined;
  readonly onOutput: (node: number, outcome: NodeOutcome) => void;
  readonly onProgress?: ((counts: ProgressCounts) => void) | undefined;
  readonly onBatch?: ((trace: BatchTrace) => void) | undefined;
  readonly timeItems?: boolean | undefined;
}

const WAITING = 0;
const RUNNING = 2;
const DONE = 3;
const FAILED = 4;

/** See call.ts: a job whose worker died this often before it started is suspected after all. */
const UNSTARTED_LOSSES = 3;

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
  private readonly pending: Int32Array;
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
    this.ready = plan.tasks.map(() => new NodeQueue());
    this.sizers = plan.tasks.map(() =>
      options.batchSize === 'auto'
        ? new AutoBatchSizer(dispatcher.size, autoLimits(dispatcher.batchLimits))
        : fixedBatchSizer(options.batchSize),
    );
    const { ready } = this;
    for (let k = 0; k < n; k++) {
      const task = taskOf[k] as number;
      if (pending[k] === 0 && task >= 0) (ready[task] as NodeQueue).push(k);
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
      this.dispatchReady(best, queue.length < full ? sizer.next(queue.length) : full);
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
    const task = this.plan.tasks[job.task] as GraphTask;
    const request: BatchRequest = {
      task: task.spec,
      taskName: task.name,
      spread: true,
      items: job.items,
      first: job.nodes[0] as number,
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
    const task = this.plan.tasks[job.task] as GraphTask;
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
      if (failure) this.itemFailed(job, i, failure);
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
      const left = (pending[dependent] as number) - 1;
      pending[dependent] = left;
      if (left === 0 && this.state[dependent] === WAITING) {
        this.ready[plan.taskOf[dependent] as number]?.push(dependent);
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
        if (this.state[dependent] !== WAITING) continue;
        this.state[dependent] = FAILED;
        this.release(dependent);
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
