/**
 * The worker set's side of the synchronisation primitives (sync.ts): what a worker is sent of
 * one, how a worker revives it, the broker's operations for process workers, and what a dead
 * worker held. Not part of the public surface.
 */

import { InvalidArgValueError } from '../errors.js';
import { show } from '../options/checks.js';
import { Barrier, Counter, Lock, Queue, Semaphore } from './sync.js';
import {
  BARRIER_CELLS,
  barrierBreak,
  barrierWait,
  counterAdd,
  counterGet,
  LOCK_CELLS,
  lockAcquire,
  lockHolderGone,
  lockRelease,
  QUEUE_HEADER_CELLS,
  queueClose,
  SEMAPHORE_CELLS,
  semaphoreAcquire,
  semaphoreHolderGone,
  semaphoreRelease,
} from './sync-memory.js';
import {
  attachState,
  type BrokerPort,
  bigOf,
  brokered,
  countRevived,
  queueOf,
  type SyncAttachment,
  type SyncKind,
  stateOf,
} from './sync-state.js';
import type { Deadline } from './sync-wait.js';

export { PROCESS_TAG_BASE } from './sync-memory.js';
export { type BrokerPort, type SyncAttachment, syncPrimitivesCreated, syncStateOf } from './sync-state.js';

/** What a worker must be sent so it can revive `primitive` (`shared`: it shares memory with the caller). */
export function syncAttachment(primitive: object, shared: boolean): SyncAttachment {
  const { kind, key, params, buffer } = stateOf(primitive);
  return shared ? { kind, key, params, buffer } : { kind, key, params };
}

const CLASSES: Record<SyncKind, { prototype: object }> = { Lock, Semaphore, Barrier, Counter, Queue };
const CELLS: Record<SyncKind, number> = {
  Lock: LOCK_CELLS,
  Semaphore: SEMAPHORE_CELLS,
  Barrier: BARRIER_CELLS,
  Counter: 2,
  Queue: QUEUE_HEADER_CELLS,
};

/** A worker's live primitive for an attachment: over the shared memory, or through `port`. */
export function reviveSync(attachment: SyncAttachment, port: BrokerPort | undefined): object {
  const { kind, key, params, buffer } = attachment;
  const Class = CLASSES[kind];
  if (!Class) throw new InvalidArgValueError(`Unknown synchronisation primitive ${show(kind)}`);
  const target = Object.create(Class.prototype) as object;
  countRevived();
  attachState(target, {
    kind,
    key,
    params,
    buffer,
    cells: buffer ? new Int32Array(buffer, 0, CELLS[kind]) : undefined,
    port: buffer ? undefined : port,
    held: 0,
  });
  return target;
}

/**
 * The broker: run a process worker's operation on the caller's primitive, as holder `tag`.
 * `deadline` carries the worker's timeout and a signal the broker aborts when the worker
 * cancels the wait or dies.
 */
export async function serveSync(
  primitive: object,
  op: string,
  arg: unknown,
  tag: number,
  deadline: Deadline,
): Promise<unknown> {
  const state = stateOf(primitive);
  // A process worker's proxy passed on to its own pool: its broker forwards to the caller's.
  if (!state.cells) {
    if (op === 'release' || op === 'abort' || op === 'close') return state.port?.post(state.key, op, arg);
    return brokered(state, op, arg, deadline);
  }
  const cells = state.cells;
  switch (`${state.kind}.${op}`) {
    case 'Lock.acquire':
      return lockAcquire(cells, tag, deadline);
    case 'Lock.release':
      return lockRelease(cells, tag);
    case 'Semaphore.acquire':
      return semaphoreAcquire(cells, tag, deadline);
    case 'Semaphore.release':
      return semaphoreRelease(cells, tag);
    case 'Barrier.wait':
      return barrierWait(cells, deadline);
    case 'Barrier.abort':
      return barrierBreak(cells);
    case 'Counter.add':
      return counterAdd(bigOf(state), arg as number);
    case 'Counter.get':
      return counterGet(bigOf(state));
    case 'Queue.put':
      return (primitive as Queue).put(arg, {
        signal: deadline.signal as AbortSignal,
        timeout: deadline.remaining(),
      });
    case 'Queue.get':
      return (primitive as Queue).get({
        signal: deadline.signal as AbortSignal,
        timeout: deadline.remaining(),
      });
    case 'Queue.close':
      return queueClose(queueOf(state));
    default:
      throw new InvalidArgValueError(`No operation ${show(op)} on a ${state.kind}`);
  }
}

/**
 * A worker died: free the locks its tag holds (the next waiter gets them), give back its
 * semaphore permits, and, when it died running a task that was given `primitive` (`party`),
 * break a barrier it may have left one party short.
 */
export function syncHolderGone(primitive: object, tag: number, party: boolean): void {
  const state = stateOf(primitive);
  const cells = state.cells;
  if (!cells) return;
  if (state.kind === 'Lock') lockHolderGone(cells, tag);
  else if (state.kind === 'Semaphore') semaphoreHolderGone(cells, tag);
  else if (state.kind === 'Barrier' && party) barrierBreak(cells);
}

/** The broker's semantics of an operation that holds something for the worker (to undo if it died meanwhile). */
export function syncOpHolds(primitive: object, op: string): boolean {
  const { kind } = stateOf(primitive);
  return op === 'acquire' && (kind === 'Lock' || kind === 'Semaphore');
}
