/**
 * The state of a synchronisation primitive (sync.ts), kept under a symbol on its object, and
 * what both the public classes and the worker set's side (sync-serve.ts) read of it.
 */

import { HANDLE_MARKER } from '../codec/crossing.js';
import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { show } from '../options/checks.js';
import { OWN_TAG, type QueueMemory, queueMemory } from './sync-memory.js';
import type { Deadline } from './sync-wait.js';

export type SyncKind = 'Lock' | 'Semaphore' | 'Barrier' | 'Counter' | 'Queue';

/** What a primitive needs besides its memory (a process worker's proxy has only this). */
export interface SyncParams {
  readonly permits?: number;
  readonly parties?: number;
  readonly capacity?: number;
  readonly bytes?: number;
}

/**
 * How a process worker's proxy reaches the caller's broker: `call` waits for the answer,
 * `post` does not (a release). Implemented by the worker runtime over its channel.
 */
export interface BrokerPort {
  call(key: string, op: string, arg: unknown, deadline: Deadline): Promise<unknown>;
  post(key: string, op: string, arg: unknown): void;
}

/** What a worker is sent of a primitive, once, before the first batch that passes it. */
export interface SyncAttachment {
  readonly kind: SyncKind;
  readonly key: string;
  readonly params: SyncParams;
  /** The shared memory, to workers that share memory with the caller (threads). */
  readonly buffer?: SharedArrayBuffer | undefined;
}

const STATE = Symbol('fanout.sync');

export interface SyncState {
  readonly kind: SyncKind;
  readonly key: string;
  readonly params: SyncParams;
  readonly buffer: SharedArrayBuffer | undefined;
  readonly cells: Int32Array | undefined;
  readonly port: BrokerPort | undefined;
  /** Brokered: the locks or permits this worker holds (it may release only those). */
  held: number;
  big?: BigInt64Array;
  queue?: QueueMemory;
}

/** Keys name a primitive across threads and processes: unique per creating thread and process. */
let created = 0;
const keyPrefix = `${process.pid}.${OWN_TAG}.`;
/** A worker given a primitive may pass it on to a pool of its own (nested): it counts too. */
let revived = 0;

/** Count a primitive revived in this worker (see syncPrimitivesCreated). */
export function countRevived(): void {
  revived++;
}

/** Whether this thread ever made or revived a primitive (when not, batches are not scanned for them). */
export function syncPrimitivesCreated(): boolean {
  return created + revived > 0;
}

export function initialise(
  target: object,
  kind: SyncKind,
  cells: number,
  params: SyncParams,
  extraBytes = 0,
): void {
  const buffer = new SharedArrayBuffer(4 * cells + extraBytes);
  const key = keyPrefix + ++created;
  attachState(target, {
    kind,
    key,
    params,
    buffer,
    cells: new Int32Array(buffer, 0, cells),
    port: undefined,
    held: 0,
  });
}

export function attachState(target: object, state: SyncState): void {
  Object.defineProperty(target, HANDLE_MARKER, {
    value: Object.freeze({ kind: state.kind, key: state.key }),
    enumerable: true,
  });
  Object.defineProperty(target, STATE, { value: state });
}

export function stateOf(target: object): SyncState {
  const state = (target as { [STATE]?: SyncState })[STATE];
  if (!state)
    throw new InvalidArgTypeError(`Expected a fanout synchronisation primitive, got ${show(target)}`);
  return state;
}

/** The primitive's state when `value` is one (the caller's object or a worker's revived one). */
export function syncStateOf(value: unknown): SyncState | undefined {
  return typeof value === 'object' && value !== null ? (value as { [STATE]?: SyncState })[STATE] : undefined;
}

export function bigOf(state: SyncState): BigInt64Array {
  state.big ??= new BigInt64Array(state.buffer as SharedArrayBuffer, 0, 1);
  return state.big;
}

export function queueOf(state: SyncState): QueueMemory {
  state.queue ??= queueMemory(state.buffer as SharedArrayBuffer, state.params.capacity as number);
  return state.queue;
}

/** A process worker's operation: the broker's (see BrokerPort). */
export function brokered(state: SyncState, op: string, arg: unknown, deadline: Deadline): Promise<unknown> {
  if (!state.port)
    throw new InvalidArgValueError(`This ${state.kind} has neither shared memory nor a broker`);
  return state.port.call(state.key, op, arg, deadline);
}
