/**
 * A fused piece of a task graph, evaluated where it runs (scheduler/graph.ts cuts the graph into
 * these): a small tree of nodes whose inner values have one reader each, inside the piece. The
 * worker runs its nodes in order and returns only the last one's value (the piece's root), so an
 * inner value never crosses back to the caller: it stays on the worker that made it, and the
 * caller handles one item per piece instead of one per node.
 *
 * The piece travels as `tasks`, the [module, name] of each of the graph's tasks, and its part
 * (`start` to `end`) of `code`, one Float64Array for the whole batch (both shared by every
 * piece of a batch, so sent once): per node
 * `task, node, argc`, then per argument `0, number` (a number), `k` (k ≥ 1: the value of the
 * piece's k-th node) or `−1` (the next entry of `others`, from `otherStart` on: the
 * arguments that are not numbers; also one list for the batch).
 * Values from outside the piece are in it as arguments.
 */

import { runningItemState } from '../tasks/context.js';
import { defineTasks, lookupTask } from '../tasks/tasks.js';
import type { AnyFunction } from '../types.js';

/** A failure of node `graphNode` (the graph's number of it); `cause` is what it threw. */
export interface NodeFailureRecord {
  readonly graphNode: number;
}

/** The tasks of a batch, resolved once per batch (the pieces of a batch share one `tasks` array). */
const resolved = new WeakMap<object, AnyFunction[]>();

function functionsOf(tasks: readonly (readonly [string, string])[]): AnyFunction[] | Promise<AnyFunction[]> {
  const known = resolved.get(tasks);
  if (known) return known;
  const found = tasks.map(([module, name]) => lookupTask(module, name));
  if (found.every((fn) => fn !== undefined)) {
    resolved.set(tasks, found as AnyFunction[]);
    return found as AnyFunction[];
  }
  // A task module not imported here yet: the pool sends pieces only of registered tasks
  // (`kind: 'task'`), so importing the module registers them.
  return Promise.all(tasks.map(([module]) => import(module))).then(() =>
    tasks.map(([module, name]) => {
      const fn = lookupTask(module, name);
      if (!fn) throw new Error(`fanout: task module ${module} has no task "${name}"`);
      return fn;
    }),
  );
}

/** One piece's evaluation, resumable after a node that returned a promise. */
class Piece {
  private readonly values: unknown[] = [];
  private readonly item = runningItemState();
  private readonly home = this.item?.index ?? 0;

  constructor(
    private readonly fns: readonly AnyFunction[],
    private readonly code: Float64Array,
    /** The next entry of `code` to read. */
    private at: number,
    private readonly end: number,
    private readonly others: readonly unknown[] | undefined,
    /** The next entry of `others` to read. */
    private other: number,
  ) {}

  /** Run nodes until the last (its value) or one that awaits (a promise of the rest). */
  run(): unknown {
    const { code, values, fns, item } = this;
    let value: unknown;
    while (this.at < this.end) {
      const at = this.at;
      const fn = fns[code[at] as number] as AnyFunction;
      const node = code[at + 1] as number;
      const argc = code[at + 2] as number;
      this.at = at + 3;
      // Up to two arguments (most graph tasks) in locals: no array per node.
      const a0 = argc > 0 ? this.argument() : undefined;
      const a1 = argc > 1 ? this.argument() : undefined;
      let rest: unknown[] | undefined;
      if (argc > 2) {
        rest = [a0, a1];
        for (let i = 2; i < argc; i++) rest.push(this.argument());
      }
      // taskContext() in the node: its index (and so its random stream) is the node's number.
      item?.moveTo(node);
      try {
        value = rest ? fn(...rest) : argc === 2 ? fn(a0, a1) : argc === 1 ? fn(a0) : fn();
      } catch (error) {
        throw this.failed(node, error);
      }
      if (
        value !== null &&
        typeof value === 'object' &&
        typeof (value as { then?: unknown }).then === 'function'
      ) {
        return (value as PromiseLike<unknown>).then(
          (settled) => {
            values.push(settled);
            return this.at < this.end ? this.run() : this.finish(settled);
          },
          (error: unknown) => {
            throw this.failed(node, error);
          },
        );
      }
      values.push(value);
    }
    return this.finish(value);
  }

  /** The next argument in the code: a number, an earlier node's value, or the next of `others`. */
  private argument(): unknown {
    const tag = this.code[this.at++] as number;
    if (tag === 0) return this.code[this.at++];
    if (tag > 0) return this.values[tag - 1];
    return this.others?.[this.other++];
  }

  private finish(value: unknown): unknown {
    this.item?.moveTo(this.home);
    return value;
  }

  private failed(node: number, error: unknown): Error {
    this.item?.moveTo(this.home);
    return Object.assign(new Error(`fanout: graph node ${node} failed`, { cause: error }), {
      graphNode: node,
    } satisfies NodeFailureRecord);
  }
}

export const graphTasks = defineTasks(import.meta.url, {
  /** Evaluate a fused piece of a graph (see the module's comment); returns its root's value. */
  piece(
    tasks: readonly (readonly [string, string])[],
    code: Float64Array,
    start: number,
    end: number,
    others: readonly unknown[] | undefined,
    otherStart: number,
  ): unknown {
    const fns = functionsOf(tasks);
    const piece = (f: AnyFunction[]) => new Piece(f, code, start, end, others, otherStart).run();
    return fns instanceof Promise ? fns.then(piece) : piece(fns);
  },
});
