/**
 * Task graphs for the facades: `pool.compute(graph)` and `parallel()` over delayed calls with
 * delayed arguments. The graph is read once into a compact plan (scheduler/graph.ts: typed
 * arrays, one entry per node and per input place, no promise per node) and run by the graph
 * scheduler on the pool's backend. A delayed call used in several places is one node, computed
 * once; a future in the arguments is a node whose value comes from outside.
 */

import { crossingError } from '../codec/crossing.js';
import { InvalidArgValueError } from '../errors.js';
import { resolveCallOptions } from '../options/resolve.js';
import { MAP } from '../options/schema.js';
import type { GraphPlan, GraphTask, NodeOutcome } from '../scheduler/graph.js';
import { GraphRun } from '../scheduler/graph.js';
import { taskSpecOf } from '../tasks/task-spec.js';
import type { Settled } from '../types.js';
import type { CallSettings, PoolCore } from './core.js';
import { type DelayedCall, type Dependency, findDependencies, substitute } from './dependencies.js';
import { futureTaskName, TaskFuture } from './futures.js';

/** A plan, with the futures among its nodes and the node of each root. */
interface BuiltGraph {
  readonly plan: GraphPlan;
  /** Node of each root, in the order the roots were given (a root given twice: one node). */
  readonly rootNodes: Uint32Array;
  readonly futures: readonly { readonly node: number; readonly future: TaskFuture<unknown> }[];
}

/**
 * Number the nodes reachable from `roots`, breadth first: the roots first (so a parallel()
 * call's k-th delayed call is node k when they are distinct), then the inputs of node 0, of
 * node 1, ..., which makes every node's inputs one contiguous run of the input list. Iterative,
 * so a chain of a million calls does not overflow the stack.
 */
export function buildGraph(roots: readonly Dependency[], callName: string): BuiltGraph {
  const ids = new Map<Dependency, number>();
  const order: Dependency[] = [];
  const idOf = (dependency: Dependency): number => {
    let id = ids.get(dependency);
    if (id === undefined) {
      id = order.length;
      ids.set(dependency, id);
      order.push(dependency);
    }
    return id;
  };
  const rootNodes = Uint32Array.from(roots, idOf);
  const tasks: GraphTask[] = [];
  const taskIndex = new Map<unknown, number>();
  const taskOfList: number[] = [];
  const inputList: number[] = [];
  const inputStartList: number[] = [];
  const futures: { node: number; future: TaskFuture<unknown> }[] = [];
  for (let node = 0; node < order.length; node++) {
    const dependency = order[node] as Dependency;
    inputStartList.push(inputList.length);
    if (dependency instanceof TaskFuture) {
      taskOfList.push(-1);
      futures.push({ node, future: dependency });
      continue;
    }
    let task = taskIndex.get(dependency.task);
    if (task === undefined) {
      task = tasks.length;
      tasks.push(taskSpecOf(dependency.task, callName));
      taskIndex.set(dependency.task, task);
    }
    taskOfList.push(task);
    for (const input of dependency.dependencies?.inputs ?? []) inputList.push(idOf(input));
  }
  inputStartList.push(inputList.length);
  const isOutput = new Uint8Array(order.length);
  for (const node of rootNodes) isOutput[node] = 1;
  const taskOf = Int32Array.from(taskOfList);
  const plan: GraphPlan = {
    nodes: order.length,
    taskOf,
    inputStart: Uint32Array.from(inputStartList),
    inputs: Uint32Array.from(inputList),
    tasks,
    isOutput,
    argsOf: (node, input) => {
      const call = order[node] as DelayedCall;
      return call.dependencies ? substitute(call.args, call.dependencies, input) : (call.args as unknown[]);
    },
    nameOf: (node) => {
      const task = taskOf[node] as number;
      if (task >= 0) return (tasks[task] as GraphTask).name;
      return futureTaskName(order[node] as TaskFuture<unknown>) ?? 'a future';
    },
  };
  return { plan, rootNodes, futures };
}

/**
 * Run the graph of `roots` on `core`'s backend with call options `input` (the map options;
 * `ordered` does not apply). Resolves to each root's outcome, in order; with `errors: 'fail'`
 * (the default) rejects with the first failure instead.
 */
export async function runGraph(
  core: PoolCore,
  roots: readonly Dependency[],
  input: unknown,
  callName: string,
): Promise<NodeOutcome[]> {
  const options = resolveCallOptions(MAP, input, core.settings.callDefaults) as CallSettings;
  const { backend } = core;
  core.assertOpen();
  const seed = options.seed ?? core.claimSeed();
  const { plan, rootNodes, futures } = buildGraph(roots, callName);
  for (const task of plan.tasks) {
    if (task.spec.kind === 'inline' && !backend.supports.inlineFunctions) {
      throw new InvalidArgValueError(
        `Inline functions cannot run on the ${core.settings.backend} backend (only task modules travel there); use defineTasks`,
      );
    }
  }
  const crossing = backend.supports.crossesBoundary ? core.crossing : undefined;
  const contextProblem = options.context === undefined ? undefined : crossing?.(options.context);
  if (contextProblem) throw crossingError(`The \`context\` of ${callName}`, contextProblem);
  const observers = core.observers(options, plan.nodes);
  const outcomes = new Map<number, NodeOutcome>();
  const run = new GraphRun(backend, plan, {
    collect: options.errors === 'collect',
    batchSize: options.batchSize,
    preDispatch: options.preDispatch,
    timeout: options.timeout,
    retries: options.retries,
    retryOn: options.retryOn,
    seed,
    context: options.context,
    signal: options.signal,
    crossing,
    onOutput: (node, outcome) => outcomes.set(node, outcome),
    onProgress: observers.onProgress,
    onBatch: observers.onBatch,
    timeItems: observers.timeItems,
  });
  for (const { node, future } of futures) {
    future.then(
      (value) => run.provide(node, value),
      (error: unknown) => run.provideError(node, error),
    );
  }
  const running = (async () => {
    try {
      await run.done;
    } finally {
      await observers.finish();
    }
    return Array.from(rootNodes, (node) => outcomes.get(node) as NodeOutcome);
  })();
  core.track(running);
  return running;
}

/** An outcome as a settled record (`errors: 'collect'`). */
export function settledOf(outcome: NodeOutcome): Settled<unknown> {
  return outcome.ok
    ? { status: 'fulfilled', value: outcome.value }
    : { status: 'rejected', reason: outcome.error };
}

/**
 * `pool.compute(graph)`: every delayed call and future inside `graph` (itself one, or arrays
 * and plain objects holding them) computed as one graph; resolves to `graph` with each replaced
 * by its value (or, collecting, by its settled record).
 */
export async function compute(core: PoolCore, graph: unknown, input: unknown): Promise<unknown> {
  const { errors } = resolveCallOptions(MAP, input, core.settings.callDefaults);
  const found = findDependencies([graph]);
  if (!found) return graph;
  const outcomes = await runGraph(core, found.inputs, input, 'pool.compute');
  const collect = errors === 'collect';
  const values = outcomes.map((outcome) =>
    collect ? settledOf(outcome) : (outcome as { value: unknown }).value,
  );
  return substitute([graph], found, (place) => values[place])[0];
}
