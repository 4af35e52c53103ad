/**
 * A task graph's plan: what api/graph.ts reads a graph into at the call, and the graph scheduler
 * (graph.ts, loaded with a program's first graph) runs. Its own module so that reading a graph
 * needs none of the scheduler's code.
 */

import type { TaskSpec } from '../tasks/task-spec.js';

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
  /** What fusing nodes into pieces needs to know (see `Pieces`); without it, nothing is fused. */
  readonly fusion?: GraphFusion;
}

/** An argument of a fusable node (`GraphFusion.argKind`): a number, in `argNumber`. */
export const ARG_NUMBER = 0;
/** An argument that is the node's next input place. */
export const ARG_INPUT = 1;
/** Another value: the argument as written (`directArgs`). */
export const ARG_OTHER = 2;

/**
 * How to ship node k inside a fused piece (worker/piece-tasks.ts): its arguments as compressed
 * rows of typed arrays, so that encoding a piece reads no call object (a 2 M-node graph's calls
 * are scattered over the heap: reading them again cost a cache miss each).
 */
export interface GraphFusion {
  /** 1 where node k may be fused: its task is registered (`kind: 'task'`, undecorated) and its inputs are plain arguments. */
  readonly fusable: Uint8Array;
  /** Fusable node k's arguments are entries `argStart[k]` to `argStart[k + 1] − 1`. */
  readonly argStart: Uint32Array;
  /** Each argument's kind: ARG_NUMBER, ARG_INPUT or ARG_OTHER. */
  readonly argKind: Uint8Array;
  /** The value of each ARG_NUMBER argument. */
  readonly argNumber: Float64Array;
  /** Node k's arguments as written (read for ARG_OTHER arguments only). */
  directArgs(node: number): readonly unknown[];
}

export type NodeOutcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };
