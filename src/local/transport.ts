/**
 * A local backend is transport only: start a worker, send it messages, hear from it, stop it.
 * Everything about lifecycle (readiness, crashes, replacement, timeouts, recycling) is written
 * once, in the worker set, for every backend.
 */

import type { TransferListItem } from 'node:worker_threads';
import type { BackendSupports } from '../scheduler/backend.js';
import type { FromWorker, ToWorker } from '../worker/protocol.js';

export type { BackendSupports };

export interface WorkerListener {
  message(message: FromWorker): void;
  /** Called once, when the worker is gone: its exit code or signal, and the error it died of if known. */
  exit(code: number | null, signal: string | null, error: unknown): void;
}

export interface WorkerChannel {
  /** A number that identifies the worker to people (thread id or pid). */
  readonly label: string;
  /** Send a message, moving the `transfer` buffers where the transport can; throws when it cannot be serialized. */
  send(message: ToWorker, transfer?: TransferListItem[]): void;
  /** Stop the worker now (a running task is not finished). */
  kill(): void;
  /** A busy worker keeps the process alive; an idle one does not. */
  setBusy(busy: boolean): void;
}

export type LocalBackendName = 'inline' | 'threads' | 'processes';

export interface LocalBackend {
  readonly name: LocalBackendName;
  readonly supports: BackendSupports;
  /** Start a worker. May throw when it cannot even be created (the worker set treats it as a failed start). */
  spawn(listener: WorkerListener): WorkerChannel;
}
