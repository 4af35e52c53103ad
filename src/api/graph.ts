/**
 * Task graphs for the facades: `pool.compute(graph)` and `parallel()` over delayed calls with
 * delayed arguments. The graph is read once into a compact plan (scheduler/graph.ts: typed
 * arrays, one entry per node and per input place, no promise per node) and run by the graph
 * scheduler on the pool's backend. A delayed call used in several places is one node, computed
 * once; a future in the arguments is a node whose value comes from outside.
 */

import { resolveCallOptions } from '../options/resolve.js';
import { MAP } from '../options/schema.js';
import {
  ARG_INPUT,
  ARG_NUMBER,
  ARG_OTHER,
  type GraphPlan,
  type GraphTask,
  type NodeOutcome,
} from '../scheduler/graph-plan.js';
import { taskSpecOf } from '../tasks/task-spec.js';
import type { Settled } from '../types.js';
import type { CallSettings, PoolCore } from './core.js';
import {
  DelayedCall,
  type Dependencies,
  type Dependency,
  findDependencies,
  isDependency,
  substitute,
} from './dependencies.js';
import { futureTaskName, TaskFuture } from './futures.js';

/** How many graphs have been read (each reading stamps its calls with its number). */
let readings = 0;

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
 * so a chain of a million calls does not overflow the stack. With `fusing` (the backend's
 * workers can run fanout's own piece task), the plan says which nodes may be fused and how.
 */
export function buildGraph(roots: readonly Dependency[], callName: string, fusing = true): BuiltGraph {
  // Delayed calls carry their node number, stamped with this reading's number; futures (few)
  // are in a Map.
  const reading = ++readings;
  const futureIds = new Map<Dependency, number>();
  const order: Dependency[] = [];
  const idOf = (dependency: Dependency): number => {
    if (dependency instanceof DelayedCall) {
      if (dependency.reading === reading) return dependency.node;
      dependency.reading = reading;
      dependency.node = order.length;
      order.push(dependency);
      return dependency.node;
    }
    let id = futureIds.get(dependency);
    if (id === undefined) {
      id = order.length;
      futureIds.set(dependency, id);
      order.push(dependency);
    }
    return id;
  };
  const rootNodes = new Uint32Array(roots.length);
  for (let i = 0; i < roots.length; i++) rootNodes[i] = idOf(roots[i] as Dependency);
  const tasks: GraphTask[] = [];
  const taskIndex = new Map<unknown, number>();
  // Typed arrays that double as they fill: number[] lists and `Uint32Array.from` (which
  // iterates) were a third of the time to read a 600,000-node graph.
  const fusableTask: number[] = [];
  let taskOf = new Int32Array(Math.max(16, order.length * 2));
  let fusable = new Uint8Array(taskOf.length);
  // The arguments of fusable nodes (see GraphFusion), as compressed rows.
  let argStart = new Uint32Array(taskOf.length + 1);
  let argKind = new Uint8Array(taskOf.length);
  let argNumber = new Float64Array(taskOf.length);
  let argCount = 0;
  let inputStart = new Uint32Array(taskOf.length + 1);
  let inputs = new Uint32Array(taskOf.length);
  let inputCount = 0;
  const futures: { node: number; future: TaskFuture<unknown> }[] = [];
  let lastTask: unknown;
  let lastIndex = -1;
  for (let node = 0; node < order.length; node++) {
    if (node + 1 >= taskOf.length) {
      taskOf = grown(taskOf, 2 * taskOf.length);
      fusable = grown(fusable, taskOf.length);
      argStart = grown(argStart, taskOf.length + 1);
      inputStart = grown(inputStart, taskOf.length + 1);
    }
    const dependency = order[node] as Dependency;
    inputStart[node] = inputCount;
    if (dependency instanceof TaskFuture) {
      taskOf[node] = -1;
      futures.push({ node, future: dependency });
      continue;
    }
    // Most graphs have a few tasks, and consecutive nodes often share one.
    if (dependency.task !== lastTask) {
      let task = taskIndex.get(dependency.task);
      if (task === undefined) {
        task = tasks.length;
        const named = taskSpecOf(dependency.task, callName);
        tasks.push(named);
        taskIndex.set(dependency.task, task);
        fusableTask.push(fusing && named.spec.kind === 'task' && !named.spec.wrapper ? 1 : 0);
      }
      lastTask = dependency.task;
      lastIndex = task;
    }
    taskOf[node] = lastIndex;
    argStart[node] = argCount;
    const { shape, args } = dependency;
    if (shape === 2) {
      const found = (dependency.nested as Dependencies).inputs;
      if (inputCount + found.length > inputs.length) {
        inputs = grown(inputs, Math.max(2 * inputs.length, inputCount + found.length));
      }
      for (const input of found) inputs[inputCount++] = idOf(input);
      continue;
    }
    // A node can join a fused piece when the worker can find its task by name and its inputs
    // are plain arguments: its arguments are recorded here, while the call is at hand, so that
    // shipping it later reads typed arrays only (scheduler/graph.ts, worker/piece-tasks.ts).
    const fuse = fusableTask[lastIndex] === 1;
    if (!fuse && shape === 0) continue;
    if (fuse) {
      fusable[node] = 1;
      if (argCount + args.length > argKind.length) {
        const length = Math.max(2 * argKind.length, argCount + args.length);
        argKind = grown(argKind, length);
        argNumber = grown(argNumber, length);
      }
    }
    if (shape === 1 && inputCount + args.length > inputs.length) {
      inputs = grown(inputs, Math.max(2 * inputs.length, inputCount + args.length));
    }
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      if (shape === 1 && isDependency(arg)) {
        inputs[inputCount++] = idOf(arg);
        if (fuse) argKind[argCount++] = ARG_INPUT;
      } else if (fuse) {
        if (typeof arg === 'number') {
          argKind[argCount] = ARG_NUMBER;
          argNumber[argCount] = arg;
        } else argKind[argCount] = ARG_OTHER;
        argCount++;
      }
    }
  }
  const nodes = order.length;
  inputStart[nodes] = inputCount;
  argStart[nodes] = argCount;
  const isOutput = new Uint8Array(nodes);
  for (const node of rootNodes) isOutput[node] = 1;
  const plan: GraphPlan = {
    nodes,
    taskOf: taskOf.subarray(0, nodes),
    inputStart: inputStart.subarray(0, nodes + 1),
    inputs: inputs.subarray(0, inputCount),
    tasks,
    isOutput,
    argsOf: (node, input) => {
      const call = order[node] as DelayedCall;
      if (call.shape === 0) return call.args as unknown[];
      if (call.shape === 2) return substitute(call.args, call.nested as Dependencies, input);
      const { args } = call;
      const out = new Array<unknown>(args.length);
      let place = 0;
      for (let i = 0; i < args.length; i++) {
        const arg = args[i];
        out[i] = isDependency(arg) ? input(place++) : arg;
      }
      return out;
    },
    ...(fusing
      ? {
          fusion: {
            fusable: fusable.subarray(0, nodes),
            argStart: argStart.subarray(0, nodes + 1),
            argKind: argKind.subarray(0, argCount),
            argNumber: argNumber.subarray(0, argCount),
            directArgs: (node: number) => (order[node] as DelayedCall).args,
          },
        }
      : {}),
    nameOf: (node) => {
      const task = taskOf[node] as number;
      if (task >= 0) return (tasks[task] as GraphTask).name;
      return futureTaskName(order[node] as TaskFuture<unknown>) ?? 'a future';
    },
  };
  return { plan, rootNodes, futures };
}

/** `array` copied into a new one of `length` elements. */
function grown<A extends Int32Array | Uint32Array | Uint8Array | Float64Array>(array: A, length: number): A {
  const next = new (array.constructor as new (n: number) => A)(length);
  next.set(array);
  return next;
}

/** A future's outcome, for the node it stands for. */
type Provided =
  | { readonly node: number; readonly ok: true; readonly value: unknown }
  | { readonly node: number; readonly ok: false; readonly error: unknown };

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
  const { plan, rootNodes, futures } = buildGraph(roots, callName, backend.supports.fanoutTasks !== false);
  const crossing = core.checkRun(
    plan.tasks.map((task) => task.spec),
    options,
    callName,
  );
  const observers = core.observers(options, plan.nodes, callName, plan.tasks.map((t) => t.name).join(', '));
  // The call is read, checked, accepted (tracked: a close() now waits for it) and has its seed:
  // the scheduler's code loads with a program's first graph (a program that runs none never
  // compiles it), and the run starts once it has. The futures' outcomes are taken now, so one
  // that fails meanwhile is handled here, not an unhandled rejection.
  const provided = futures.map(({ node, future }) =>
    future.then(
      (value): Provided => ({ node, ok: true, value }),
      (error: unknown): Provided => ({ node, ok: false, error }),
    ),
  );
  const running = (async () => {
    try {
      const { GraphRun } = await import('../scheduler/graph.js');
      const outcomes = new Map<number, NodeOutcome>();
      const run = new GraphRun(backend, plan, {
        ...core.runSettings(options, seed, crossing, observers),
        onOutput: (node, outcome) => outcomes.set(node, outcome),
      });
      for (const outcome of provided) {
        void outcome.then((o) => (o.ok ? run.provide(o.node, o.value) : run.provideError(o.node, o.error)));
      }
      await run.done;
      return Array.from(rootNodes, (node) => outcomes.get(node) as NodeOutcome);
    } finally {
      await observers.finish();
    }
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
