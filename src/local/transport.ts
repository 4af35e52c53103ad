/**
 * A transport is how the worker set reaches one kind of local worker (a thread, a process, a
 * runtime on the main thread): start one, send it messages, hear from it, stop it. Everything
 * about lifecycle (readiness, crashes, replacement, timeouts, recycling) is written once, in
 * the worker set (worker-set.ts), which is the backend (scheduler/backend.ts) every transport
 * sits under.
 */

import type { TransferListItem } from 'node:worker_threads';
import type { BackendSupports } from '../scheduler/backend.js';
import type { LocalBackendName } from '../types.js';
import type { FromWorker, ToWorker } from '../worker/protocol.js';

export interface WorkerListener {
  message(message: FromWorker): void;
  /** Called once, when the worker is gone: its exit code or signal, and the error it died of if known. */
  exit(code: number | null, signal: string | null, error: unknown): void;
}

export interface WorkerChannel {
  /** A number that identifies the worker to people (thread id or pid). */
  readonly label: string;
  /**
   * A thread's holder tag for synchronisation primitives (its thread id + 1, data/sync-memory.ts):
   * the worker set frees the locks it held when it dies. Absent for processes (their broker tags them).
   */
  readonly syncTag?: number | undefined;
  /** Send a message, moving the `transfer` buffers where the transport can; throws when it cannot be serialized. */
  send(message: ToWorker, transfer?: TransferListItem[]): void;
  /** Stop the worker now (a running task is not finished). */
  kill(): void;
  /** A busy worker keeps the process alive; an idle one does not. */
  setBusy(busy: boolean): void;
}

export interface Transport {
  readonly name: LocalBackendName;
  readonly supports: BackendSupports;
  /**
   * Start a worker. May throw when it cannot even be created (the worker set treats it as a
   * failed start). `modules`: task modules its first batch will need, which a transport may have
   * it import while it starts (see threadBootstrap); it imports them anyway when a batch comes.
   */
  spawn(listener: WorkerListener, modules?: readonly string[]): WorkerChannel;
}
