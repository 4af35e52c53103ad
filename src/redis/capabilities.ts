/**
 * What the redis backend can do and asks of batches, known before its engine (and the drivers
 * behind it) is loaded: a pool answers `supports` and sizes batches from the start.
 */

import type { BackendSupports, BatchLimits } from '../scheduler/backend.js';

export const REDIS_SUPPORTS: BackendSupports = {
  crossesBoundary: true,
  // A cancelled running job is stopped by its worker (told on the control channel), which
  // replaces the thread of a task that ignores its signal.
  killRunning: true,
  sharedMemory: false,
  transfer: false,
  inlineFunctions: false,
  syncPrimitives: false,
  // A redis worker runs only the task modules it was started with: graphs run node by node.
  fanoutTasks: false,
};

/**
 * Batch bounds for Redis. A job costs ~0.2–0.4 ms of CPU (caller, Redis and worker together)
 * plus a network round trip that pipelining hides, so a batch should run ≥ 10 ms. Its size is
 * capped because Redis holds each batch twice (items in the job, results in the job and in the
 * event stream): 2^15 numbers is ~350 kB of base64 per copy.
 */
export const REDIS_BATCH_LIMITS: BatchLimits = { minMs: 10, maxItems: 1 << 15, measureRoundTrip: true };
