/**
 * A local backend is transport only: start a worker, send it messages, hear from it, stop it.
 * Everything about lifecycle (readiness, crashes, replacement, timeouts, recycling) is written
 * once, in the worker set, for every backend.
 */

import type { TransferListItem } from 'node:worker_threads';
import type { FromWorker, ToWorker } from '../worker/protocol.js';

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
}

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
