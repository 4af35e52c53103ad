/**
 * The seam between the scheduler and whatever runs batches: a `Backend`. A call hands it
 * batches and gets outcomes back, with errors already rebuilt (codec/errors.ts); it never sees a
 * thread, a process, a message or a Redis client. Two backends sit under this one interface:
 * the local worker set (local/worker-set.ts), over a transport per kind of worker (threads,
 * processes, inline), and the redis backend (redis/engine.ts). Tests drive the scheduler with a
 * fake `Dispatcher`, the part of a backend a call uses.
 */

import type { TransferListItem } from 'node:worker_threads';
import type { ItemFailure } from '../codec/errors.js';
import type { NestedCall, TaskSpec } from '../tasks/task-spec.js';
import type { BroadcastHandle } from '../types.js';
import type { SpmdRelayMessage, ToWorker } from '../worker/protocol.js';

/**
 * A batch's items: an array, or a Float64Array when a call's input was an array of plain numbers
 * going to workers across a boundary (read straight into the form it travels in).
 */
export type BatchItems = readonly unknown[] | Float64Array;

/** A contiguous run of items of one call, ready to run. */
export interface BatchRequest {
  readonly task: TaskSpec;
  /** The task's name, for messages. */
  readonly taskName: string;
  readonly spread: boolean;
  readonly items: BatchItems;
  /** Index of `items[0]` in the call's input. */
  readonly first: number;
  /**
   * Each item's index (`taskContext().index`, and so its random stream) when the items are not
   * contiguous from `first`: a graph's ready nodes of one task, keyed by their node numbers so
   * that what a node draws does not depend on how nodes were batched. Absent: `first + i`.
   */
  readonly indices?: Int32Array | undefined;
  /** Per-item time limit in ms (the worker reports each item's start so the limit can be enforced). */
  readonly timeout: number | undefined;
  /** Report item starts even without a timeout: set for isolated re-runs, to blame the right item. */
  readonly track: boolean;
  /**
   * Run it with nothing else in flight on its worker (an isolated re-run after a crash: with
   * several async items in flight, the one that killed a worker could not be told apart).
   */
  readonly alone?: boolean | undefined;
  readonly stopOnError: boolean;
  readonly seed: number;
  readonly context?: unknown;
  /** Called when the batch starts: exactly when tracked, else when it reaches the head of its worker's queue. */
  readonly onStart?: () => void;
  readonly onProgress?: (amount: number) => void;
  /**
   * Called when every item of the batch has started and those not finished only await (async
   * tasks in flight): the batch holds no core any more, and its call may send more. `slots`:
   * how many async items its worker may hold in flight at once (`concurrentTasksPerWorker`).
   */
  readonly onParked?: (slots: number) => void;
  /** For a `mixed` task: which of its tasks each item calls. */
  readonly taskIndex?: Int32Array | undefined;
  /** Time each item (for traces). */
  readonly timeItems?: boolean | undefined;
  /**
   * What the call has timed so far: `perItemMs` is its smoothed time per item (undefined while
   * nothing is known). The worker set queues a batch behind a running one only when it can
   * predict when that one ends.
   */
  readonly pace?: { readonly perItemMs: number | undefined } | undefined;
  /**
   * ms a cancelled running batch has to stop before its worker is replaced, when not the worker
   * set's own (a redis worker applies each caller's `abortGrace`).
   */
  readonly abortGrace?: number | undefined;
}

/** The index in its call of a batch's item `offset` (what errors and reports name it by). */
export function itemIndex(request: Pick<BatchRequest, 'first' | 'indices'>, offset: number): number {
  return request.indices === undefined ? request.first + offset : (request.indices[offset] as number);
}

/** Which worker ran a batch and when (for traces and reports). */
export interface BatchTiming {
  readonly worker: number;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly duration: number;
}

export type BatchOutcome =
  /** The batch ran; `ran` < items.length only when it stopped at an error or was aborted. */
  | ({
      readonly kind: 'done';
      /** One value per item (an array, or a Float64Array when the batch was all numbers). */
      readonly values: ArrayLike<unknown> & Iterable<unknown>;
      readonly ran: number;
      readonly failures: readonly ItemFailure[] | undefined;
      /** With `timeItems`: each item's start (ms after `startedAt`) and duration, in pairs. */
      readonly itemTimes?: Float64Array | undefined;
      /**
       * When its items overlapped with others in the worker: the share of the worker it used,
       * in ms (what batch sizes are chosen by; `duration` is how long it was open).
       */
      readonly work?: number | undefined;
    } & BatchTiming)
  /** The batch could not run at all (module failed to load, no such task): fatal for the call. */
  | { readonly kind: 'failed'; readonly error: Error }
  /**
   * The worker died or was killed while the batch was its next or running one. `offset` is the
   * item that was running when it is known (tracked batches); `started` says whether any item had
   * started (false: it is known that none had, and the batch did not cause the death).
   */
  | {
      readonly kind: 'lost';
      readonly error: Error;
      readonly offset: number | undefined;
      readonly started: boolean;
    }
  /** Cancelled before it ran. */
  | { readonly kind: 'cancelled' };

export interface Ticket {
  readonly outcome: Promise<BatchOutcome>;
  /** Drop the batch if it has not started; abort its tasks' signal if it has. */
  cancel(): void;
}

/** Bounds a backend puts on adaptive batches; they only ever tighten the scheduler's own. */
export interface BatchLimits {
  /** Each batch should run at least this many ms (the scheduler's minimum applies when larger). */
  readonly minMs?: number;
  /** A batch never holds more items than this (the scheduler's maximum applies when smaller). */
  readonly maxItems?: number;
  /**
   * A batch's round trip costs more than the ~1 ms local sizing assumes (a network): automatic
   * sizing measures it as the call runs and sizes batches from it (batch-size.ts).
   */
  readonly measureRoundTrip?: boolean;
}

/** What a backend can do; optional parts of the conformance suite switch on these. */
export interface BackendSupports {
  /** Values cross a boundary (are copied): arguments and results must be plain data. */
  readonly crossesBoundary: boolean;
  /** A running task can be stopped by killing its worker (false for the main thread). */
  readonly killRunning: boolean;
  /** SharedArrayBuffer reaches the worker without a copy. */
  readonly sharedMemory: boolean;
  /** ArrayBuffers can be transferred (moved) instead of copied. */
  readonly transfer: boolean;
  /** Inline functions (source text) may be sent. */
  readonly inlineFunctions: boolean;
  /** Synchronisation primitives (Lock, Queue, ...) may be passed to tasks (data/sync.ts). */
  readonly syncPrimitives: boolean;
  /**
   * A worker can load fanout's own task modules, as it loads the caller's (the fused pieces of a
   * task graph run as one, worker/piece-tasks.ts). False where workers run only the modules they
   * were started with (redis); absent means true.
   */
  readonly fanoutTasks?: boolean;
}

/**
 * What a pool runs on. A backend runs batches on `size` workers at once, says what crosses its
 * boundary, and may ask for longer, bounded batches (a remote backend pays a fixed cost per
 * batch). It settles every batch it accepted with an outcome; errors in outcomes are Errors
 * (or, for a task that threw a non-error, that value), never wire records.
 */
export interface Backend {
  /** How many batches can run at the same time (the number of workers). */
  readonly size: number;
  readonly supports: BackendSupports;
  /** Bounds on adaptive batches beyond the scheduler's defaults (optional). */
  readonly batchLimits?: BatchLimits | undefined;
  /** Workers alive now (0 before first use and after close). */
  readonly liveWorkers: number;
  submit(batch: BatchRequest): Ticket;
  /**
   * A call of `task` has been accepted and is about to submit its batches: a backend whose
   * workers start on demand may start one now (optional: a hint, never required for progress).
   */
  expect?(task: TaskSpec): void;
  /** Finish what was submitted, then stop every worker. */
  close(): Promise<void>;
  /** Stop now; what was not finished fails with ERR_POOL_CLOSED. */
  terminate(): Promise<void>;
  /**
   * Where the child calls of its tasks go (`taskContext().pool`): set once by the pool that owns
   * the backend (absent: a backend whose workers send no child calls to the caller).
   */
  setNested?(runner: NestedRunner): void;
  /** A value sent once to each worker (absent when the backend cannot keep values in workers). */
  broadcast?<T>(value: T): BroadcastHandle<T>;
  /**
   * Address single workers (local backends; absent where a worker cannot be addressed): resolves
   * with `count` distinct live workers (`'all'`: the pool's full size, starting the missing ones),
   * each pinned until `unpin()`. The least pinned workers are chosen, and a new one is started
   * instead while the pool is not full. More than the pool's size is ERR_INVALID_ARG_VALUE.
   */
  pin?(count: number | 'all'): Promise<WorkerPin[]>;
}

/**
 * One worker, held by its pinner (an actor, `runOnEach`, an SPMD gang). What is submitted through
 * it runs on that worker only, in submission order, after what that worker already holds: it is
 * never stolen or moved. A pinned worker is not retired while pinned (idle timeout, recycling),
 * except when its pool closes. When it dies, `onGone` listeners hear it first; then the batch it
 * was running is `lost` and the others `failed` with the crash, and later submissions fail with
 * `gone` at once.
 */
export interface WorkerPin extends Dispatcher {
  /** The worker's number in its pool (as in traces). */
  readonly worker: number;
  /** Why the worker is gone (a WorkerCrashedError, or PoolClosedError when its pool stopped it); undefined while it lives. */
  readonly gone: Error | undefined;
  /** Called once, when the worker is gone, before its pinned batches settle. */
  onGone(listener: (error: Error) => void): void;
  /** Let the worker go (idempotent). */
  unpin(): void;
  /**
   * Post a message of the worker protocol to this worker now, ahead of batches submitted after
   * it (an SPMD group's `spmd-*` messages); dropped when the worker is gone.
   */
  post(message: ToWorker, transfer?: TransferListItem[]): void;
  /** Hear the peer messages this worker asks the pool to pass on (SPMD without ports). */
  onRelay(listener: ((message: SpmdRelayMessage) => void) | undefined): void;
}

/** Runs a task's child calls on the backend's own pool: their values, in order. */
export type NestedRunner = (call: NestedCall, signal: AbortSignal) => Promise<unknown[]>;

/** The part of a backend one call uses (the scheduler's tests fake just this). */
export type Dispatcher = Pick<Backend, 'size' | 'batchLimits' | 'submit'>;
