/**
 * Child calls of running tasks (`taskContext().pool`), run on the pool that runs their parents:
 * a plain ordered, fail-fast call of automatic batches on the same backend, with the child's own
 * seed and no options of the parent's call (no time limit, no retries). Its values go back to
 * the parent; its error, already coded, fails the parent's await.
 */

import { crossingProblem } from '../codec/crossing.js';
import type { Backend, NestedRunner } from '../scheduler/backend.js';
import { CallRun } from '../scheduler/call.js';
import { readerOf } from '../scheduler/input.js';
import { collectResults } from './results.js';

/** The runner a backend hands its tasks' child calls to. */
export function nestedRunner(backend: Backend): NestedRunner {
  const { supports } = backend;
  const crossing = supports.crossesBoundary
    ? (value: unknown) => crossingProblem(value, supports)
    : undefined;
  return (call, signal) => {
    const reader = readerOf(call.items, 'items', { packNumbers: supports.crossesBoundary && !call.spread });
    const run = new CallRun(backend, reader, {
      task: call.spec,
      taskName: call.taskName,
      spread: call.spread,
      ordered: true,
      collect: false,
      batchSize: 'auto',
      preDispatch: 'auto',
      timeout: undefined,
      retries: 0,
      retryOn: 'crash',
      seed: call.seed,
      signal,
      crossing,
    });
    return collectResults({ run, finish: async () => {} });
  };
}
