/**
 * The wire protocol between the pool and a local worker (thread, process, or the inline
 * backend's runtime on the main thread), shared by both sides.
 * Every message carries the `fanout` brand so a task's own messages on the same channel (for
 * example `process.send` in a child process) are told apart and ignored.
 */

import type { MessagePort } from 'node:worker_threads';
import type { WireError, WireItemFailure } from '../codec/errors.js';
import type { Packed } from '../codec/values.js';
import type { SyncAttachment } from '../data/sync-serve.js';
import type { NestedCall, TaskSpec } from '../tasks/task-spec.js';

export const BRAND = 'fanout/1' as const;

/** A batch of items for one task: contiguous in the caller's input from `first`, or numbered by `indices`. */
export interface RunMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'run';
  readonly id: number;
  /** The key of a task registered on this worker by a `task` message. */
  readonly task: number;
  /** Call `task(...item)` instead of `task(item)`. */
  readonly spread?: boolean | undefined;
  readonly items: Packed;
  /** Index of `items[0]` in the caller's input; `taskContext().index` counts from here. */
  readonly first: number;
  /** Each item's index instead, when they are not contiguous (`BatchRequest.indices`). */
  readonly indices?: Int32Array | undefined;
  /** Report the start of every item (needed to time items out one by one). */
  readonly track?: boolean | undefined;
  /** Stop at the first item that throws (fail-fast calls). */
  readonly stopOnError?: boolean | undefined;
  /** Seed of the call's random streams. */
  readonly seed: number;
  /** Values given in `context` for inline functions. */
  readonly context?: unknown;
  /** For a `mixed` task: which of its tasks each item calls (absent: the first). */
  readonly taskIndex?: Int32Array | undefined;
  /**
   * Run this batch with nothing else in flight on the worker, and its items one at a time: an
   * isolated re-run after a crash, so the item that kills the worker is known.
   */
  readonly alone?: boolean | undefined;
  /**
   * The items or the context hold handles (data/handles.ts: broadcast values, synchronisation
   * primitives), sent to this worker before this batch: put them in place.
   */
  readonly handles?: true | undefined;
  /** Time each item (for traces): the reply carries `itemTimes`. */
  readonly timeItems?: boolean | undefined;
  /**
   * The batch's cell in this worker's claim array (see `ClaimsMessage`): the worker starts the
   * batch only if it can swap the cell from `id` to 0; the pool swaps it first to take it back.
   */
  readonly claim?: number | undefined;
}

/**
 * Shared-memory backends: the cells through which the pool and this worker agree, without a
 * message, on who runs a batch that is queued here but not started. The pool can then give
 * such a batch to an idle worker even while this one is blocked in a long task.
 */
export interface ClaimsMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'claims';
  readonly cells: Int32Array;
}

/** A broadcast value, sent once to each worker before the first batch that needs it. */
export interface BroadcastMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'broadcast';
  readonly id: number;
  readonly value: unknown;
}

/**
 * A synchronisation primitive (data/sync.ts), sent once to each worker before the first batch
 * that passes it: its shared memory (threads), or only what a proxy needs (processes).
 */
export interface AttachMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'attach';
  readonly attachment: SyncAttachment;
}

/** The broker's answer to a `sync` request of a process worker's proxy. */
export interface SyncReplyMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'sync-reply';
  readonly req: number;
  readonly value?: unknown;
  readonly error?: WireError;
}

/** Forget a broadcast value. */
export interface ReleaseMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'release';
  readonly id: number;
}

/**
 * A task this worker will be asked to run, sent once before the first batch that uses it, so
 * batches carry a small key instead of the task's module URL (a run message is cloned per batch,
 * and with one-item batches its size is most of the cost).
 */
export interface TaskMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'task';
  readonly key: number;
  readonly spec: TaskSpec;
}

export interface CancelMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'cancel';
  readonly id: number;
  /**
   * Take the batch back only if it has not started (answered with `cancelled`); a running batch
   * is left alone. The pool uses it to move queued batches to an idle worker.
   */
  readonly queuedOnly?: boolean | undefined;
}

/**
 * How the worker runs async items: at most `concurrentTasks` items awaiting at once (items
 * awaiting their own child tasks do not count). Sent once, before the first batch.
 */
export interface ConfigMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'config';
  readonly concurrentTasks: number;
  /**
   * What the worker adds to its monotonic clock to read the pool's (worker/clock.ts), measured
   * by the pool: a worker's batch start times then read the pool's clock without the worker
   * loading perf_hooks. Absent: the worker measures it itself on first use.
   */
  readonly clockShift?: number | undefined;
  /**
   * Shared-memory backends: cell 0 holds how many of the pool's workers could take a batch now
   * (idle, or not started). While it is above 0, a worker gives the oldest child task waiting in
   * its deque to the pool, and lowers the count by one (worker/child-deque.ts); at 0, children
   * run where they were submitted.
   */
  readonly hunger?: Int32Array | undefined;
}

/** Backends without shared memory: the `hunger` count changed (sent to workers that made child calls). */
export interface HungerMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'hunger';
  readonly idle: number;
}

/** The answer to a `call`: the child call's values, or why it failed. */
export interface CalledMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'called';
  readonly ref: number;
  readonly values?: unknown[];
  readonly error?: WireError;
}

export interface StopMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'stop';
}

/** Several batches in one message: posting costs more than cloning a small batch. */
export interface RunsMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'runs';
  readonly messages: readonly RunMessage[];
}

/**
 * A message between two ranks of an SPMD group (worker/comm.ts): on a MessagePort between them,
 * or relayed by the pool (`spmd-relay` up, `spmd-msg` down) where workers have no ports.
 */
export interface PeerMessage {
  readonly from: number;
  readonly tag: number;
  /** Part of a collective (its tag is the collective's sequence number), not a user's send. */
  readonly collective: boolean;
  readonly value: unknown;
}

/** This worker runs rank `rank` of SPMD group `group`: its ports to the other ranks, or none (relay). */
export interface SpmdOpenMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'spmd-open';
  readonly group: number;
  readonly rank: number;
  readonly size: number;
  /** `ports[r]` reaches rank r (null for this rank itself); absent: messages go through the pool. */
  readonly ports?: readonly (MessagePort | null)[] | undefined;
}

/** A relayed peer message for rank `to` of `group`. */
export interface SpmdDeliverMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'spmd-msg';
  readonly group: number;
  readonly to: number;
  readonly message: PeerMessage;
}

/** Another rank failed: every pending and later receive of `group` here rejects with `reason`. */
export interface SpmdAbortMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'spmd-abort';
  readonly group: number;
  readonly reason: string;
}

/** The group is over: close its ports, forget it. */
export interface SpmdEndMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'spmd-end';
  readonly group: number;
}

export type ToWorker =
  | SpmdOpenMessage
  | SpmdDeliverMessage
  | SpmdAbortMessage
  | SpmdEndMessage
  | RunMessage
  | RunsMessage
  | TaskMessage
  | ClaimsMessage
  | ConfigMessage
  | HungerMessage
  | CalledMessage
  | CancelMessage
  | StopMessage
  | BroadcastMessage
  | ReleaseMessage
  | AttachMessage
  | SyncReplyMessage;

export interface ReadyMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'ready';
}

/** A task module finished importing in this worker (clears the pool's load timer). */
export interface LoadedMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'loaded';
  readonly module: string;
}

/** Sent before each item of a tracked batch. */
export interface StartMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'start';
  readonly id: number;
  readonly offset: number;
}

/**
 * A batch has started every item it will, and the ones not finished only await: the worker can
 * take other batches meanwhile (sent only for batches with items in flight).
 */
export interface ParkedMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'parked';
  readonly id: number;
}

/**
 * Tracked batches: item `offset` returned a promise and awaits (`wait`), or that promise
 * settled (`ended`). Meanwhile later items of the batch may start, so the item's time limit
 * runs from its `start` to its `ended`, not to the next item's `start`.
 */
export interface ItemWaitMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'wait' | 'ended';
  readonly id: number;
  readonly offset: number;
}

export interface DoneMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'done';
  readonly id: number;
  /** One value per item that ran (packed); `undefined` where `failures` has the item. */
  readonly values: Packed;
  /** How many items ran (fewer than `values.length` only when the batch stopped on an error). */
  readonly ran: number;
  readonly failures?: WireItemFailure[];
  /**
   * Why the whole batch could not run (its module failed to load, no such task, an inline
   * function that does not compile, a decorator that threw): the fanout error saying so, built
   * in the worker (`TaskModuleLoadError`, `TaskNotFoundError`, ...), in transit.
   */
  readonly batchFailure?: WireError;
  /** When the batch started, in ms since the epoch (performance.timeOrigin + now()). */
  readonly startedAt: number;
  /** How long the batch ran in the worker, in ms. */
  readonly duration: number;
  /**
   * Set when its items were in flight together with others: the share of the worker it used,
   * in ms (its own running time, plus its items' awaiting time divided by the worker's limit of
   * items in flight). Batches are sized by this, not by how long they were open.
   */
  readonly work?: number | undefined;
  /** The worker's heap after the batch, in bytes. */
  readonly heapUsed: number;
  /** With `timeItems`: for each item that ran, its start (ms after `startedAt`) and its duration. */
  readonly itemTimes?: Float64Array | undefined;
}

export interface CancelledMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'cancelled';
  readonly id: number;
}

/** An uncaught exception or unhandled rejection, reported just before the worker exits. */
export interface FatalMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'fatal';
  readonly error: WireError;
  /**
   * The batches it had started and not finished when the error was raised. One it was sent but
   * had not started did not cause it (a stray rejection of an item that had already returned,
   * say): the pool runs that one again elsewhere rather than count it lost.
   */
  readonly running?: readonly number[];
}

/** A task's own progress report (`taskContext().progress(n)`). */
export interface ProgressMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'progress';
  readonly id: number;
  readonly amount: number;
}

/**
 * A task submitted child tasks (`taskContext().pool`): a call on the pool that runs it, to be
 * answered with `called`. `batch` is the submitting item's batch: cancelling it cancels them.
 */
export interface CallMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'call';
  readonly ref: number;
  readonly batch: number;
  readonly call: NestedCall;
}

/** A child call's signal aborted in the worker: cancel call `ref` (its answer will be ignored). */
export interface UncallMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'uncall';
  readonly ref: number;
}

/**
 * The worker is running child tasks of its own deque (worker/child-deque.ts), or stopped: while
 * `on`, it is not idle even if its batches only await, and the pool sends it no batches.
 */
export interface BusyMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'busy';
  readonly on: boolean;
}

/**
 * A process worker's proxy asks the caller's broker to run an operation on a primitive (`key`)
 * for it: answered with `sync-reply` when `req` > 0; a release (`req` 0) is not answered. A
 * `cancel` operation withdraws the wait of request `arg`.
 */
export interface SyncMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'sync';
  readonly req: number;
  readonly key: string;
  readonly op: string;
  readonly arg?: unknown;
  /** ms the wait may last (absent: no limit). */
  readonly timeout?: number | undefined;
}

/** Several results in one message (a worker finishing many short batches in a row). */
export interface DonesMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'dones';
  readonly messages: readonly DoneMessage[];
}

/** A peer message for rank `to` of `group`, for the pool to pass on (workers without ports). */
export interface SpmdRelayMessage {
  readonly fanout: typeof BRAND;
  readonly t: 'spmd-relay';
  readonly group: number;
  readonly to: number;
  readonly message: PeerMessage;
}

export type FromWorker =
  | SpmdRelayMessage
  | ReadyMessage
  | DonesMessage
  | LoadedMessage
  | StartMessage
  | ParkedMessage
  | ItemWaitMessage
  | CallMessage
  | UncallMessage
  | BusyMessage
  | DoneMessage
  | CancelledMessage
  | FatalMessage
  | ProgressMessage
  | SyncMessage;

export function isProtocolMessage(value: unknown): value is ToWorker | FromWorker {
  return typeof value === 'object' && value !== null && (value as { fanout?: unknown }).fanout === BRAND;
}
