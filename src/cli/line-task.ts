/**
 * The worker side of `fanout run`: the task runs wrapped so that each item's result comes back
 * already written as its output line (see json-line.ts). Encoding where the task runs spreads
 * the cost over the workers, and a result that no line can hold fails there, as its own item,
 * with the item's index, whatever the backend or the order of results.
 *
 * A wrapped task answers with its line (a string, or a number that is its own line) or with a
 * `LineFailure`, never with any other value.
 */

import { taskContext } from '../tasks/context.js';
import { defineTasks } from '../tasks/tasks.js';
import type { AnyFunction } from '../types.js';
import { encodeLine, exactNumber, Unwritable } from './json-line.js';

/**
 * An item with no result line: its input line was not a valid item (`input`), or its result
 * cannot be written (`result`, with what and where).
 */
export interface LineFailure {
  readonly failed: 'input' | 'result';
  readonly index: number;
  readonly problem?: string;
}

/**
 * How the command sends an input line that is not a valid item: as `undefined` (with --spread,
 * as the one argument `undefined`), which no JSON line can be. The wrapper answers for it without
 * calling the task, so the line keeps its place, its index and its turn in the output like any
 * other item.
 */
export function invalidItem(spread: boolean): unknown {
  return spread ? [undefined] : undefined;
}

function isInvalidItem(args: unknown[]): boolean {
  return args.length === 1 && args[0] === undefined;
}

/**
 * The item's line, or why it has none. A number JSON writes exactly is returned as it is: a batch
 * of numbers then crosses as one Float64Array instead of a string per item, and the command
 * writes its decimal form, which is its line.
 */
function lineOf(value: unknown, index: () => number): string | number | LineFailure {
  if (typeof value === 'number' && exactNumber(value)) return value;
  try {
    return encodeLine(value);
  } catch (error) {
    const problem =
      error instanceof Unwritable
        ? error.message
        : `reading it failed (${error instanceof RangeError ? 'nested too deeply' : safeDescription(error)})`;
    return { failed: 'result', index: index(), problem };
  }
}

/** The running item's index: asked only when a line fails, while that item is still current. */
const currentIndex = () => taskContext().index;

function safeDescription(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    return 'an error that cannot be described';
  }
}

export const lineTasks = defineTasks(import.meta.url, {
  /** `(fn) => fn whose result is its output line`: the factory signature of the runtime's wrappers. */
  jsonLine(fn: AnyFunction): AnyFunction {
    return function (this: unknown, ...args: unknown[]): unknown {
      if (isInvalidItem(args)) return { failed: 'input', index: currentIndex() } satisfies LineFailure;
      const result: unknown = fn.apply(this, args);
      // As the runtime does: anything with a `then` method is awaited. By the time it settles,
      // another item may be current: take the index now.
      if (typeof (result as { then?: unknown } | null)?.then === 'function') {
        const index = currentIndex();
        return Promise.resolve(result).then((value: unknown) => lineOf(value, () => index));
      }
      return lineOf(result, currentIndex);
    };
  },
});

/** The wrapper `fanout run` puts on its task. */
export const JSON_LINE_WRAPPER = {
  module: lineTasks.jsonLine.module,
  name: 'jsonLine',
  options: null,
} as const;
