/**
 * Every error a user can catch from fanout carries a stable `code`.
 *
 * `instanceof FanoutError` is true for all of them, including the option errors that are
 * real `RangeError`/`TypeError` instances (they cannot also extend `FanoutError`, so the
 * check uses a brand instead of the prototype chain).
 */

import { isProxy } from 'node:util/types';

const brand = Symbol.for('fanout.error');

/** Stable error codes. */
export type FanoutErrorCode =
  | 'ERR_TASK_FAILED'
  | 'ERR_WORKER_CRASHED'
  | 'ERR_TASK_TIMEOUT'
  | 'ABORT_ERR'
  | 'ERR_NOT_CLONEABLE'
  | 'ERR_TASK_NOT_FOUND'
  | 'ERR_TASK_MODULE_LOAD'
  | 'ERR_POOL_CLOSED'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INLINE_FUNCTION'
  | 'ERR_BACKEND_UNAVAILABLE'
  | 'ERR_CACHE'
  | 'ERR_CHUNK_PARSE'
  | 'ERR_WAIT_TIMEOUT'
  | 'ERR_JOB_MALFORMED'
  | 'ERR_WRAPPER_NOT_ALLOWED'
  | 'ERR_NO_TASK_CONTEXT'
  | 'ERR_SLURM'
  | 'ERR_DEPENDENCY_FAILED'
  | 'ERR_DASHBOARD'
  | 'ERR_ACTOR_DIED'
  | 'ERR_LOCK_NOT_HELD'
  | 'ERR_BARRIER_BROKEN'
  | 'ERR_QUEUE_CLOSED';

function mark(error: Error, code: FanoutErrorCode): void {
  Object.defineProperty(error, brand, { value: true });
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
}

/**
 * The options of an error's constructor: its `cause`. Written out rather than the standard
 * library's `ErrorOptions` (ES2022), so the public declarations compile for a consumer whose
 * `target` or `lib` is older (`tsc --module commonjs` alone targets ES5).
 */
export interface ErrorCause {
  /** The error that caused this one. */
  readonly cause?: unknown;
}

/**
 * Base class of fanout's errors.
 *
 * @example
 * ```ts
 * try { await pool.map(tasks.parse, lines); }
 * catch (e) { if (e instanceof FanoutError && e.code === 'ERR_TASK_FAILED') console.error(e.cause); }
 * ```
 */
export class FanoutError extends Error {
  declare readonly code: FanoutErrorCode;
  /**
   * The error that caused this one (a task's own error, a crashed worker's, ...). Declared here
   * as well as by ES2022's `Error`, so a consumer compiled for an older `lib` can read it.
   */
  declare cause?: unknown;

  constructor(code: FanoutErrorCode, message: string, options?: ErrorCause) {
    super(message, options);
    mark(this, code);
  }

  /**
   * `x instanceof FanoutError` is true for every fanout error (by brand); for a subclass the
   * ordinary prototype check applies, so `new TaskError(...) instanceof PoolClosedError` is false.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class on the right of instanceof.
    if (this !== FanoutError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** Where in a call a failure happened: the task's name and the item's index in the input. */
export interface TaskLocation {
  task: string;
  index: number;
}

/** `ERR_TASK_FAILED`: the task threw. `cause` is the original error, rebuilt on this side. */
export class TaskError extends FanoutError {
  readonly task: string;
  readonly index: number;
  constructor(location: TaskLocation, cause: unknown) {
    super('ERR_TASK_FAILED', `Task "${location.task}" failed on item ${location.index}: ${describe(cause)}`, {
      cause,
    });
    this.task = location.task;
    this.index = location.index;
  }
}

/** `ERR_WORKER_CRASHED`: the worker died while running the task (exit code or signal in the message). */
export class WorkerCrashedError extends FanoutError {
  readonly task: string | undefined;
  readonly index: number | undefined;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** What happened to the worker, without the location. */
  readonly reason: string;
  constructor(
    reason: string,
    details: {
      exitCode?: number | null;
      signal?: string | null;
      location?: TaskLocation;
      cause?: unknown;
    } = {},
  ) {
    const where = details.location
      ? ` while running task "${details.location.task}" on item ${details.location.index}`
      : '';
    super('ERR_WORKER_CRASHED', `Worker crashed${where}: ${reason}`, { cause: details.cause });
    this.reason = reason;
    this.exitCode = details.exitCode ?? null;
    this.signal = details.signal ?? null;
    this.task = details.location?.task;
    this.index = details.location?.index;
  }

  /** The same crash, blamed on the item found to have caused it. */
  at(location: TaskLocation): WorkerCrashedError {
    return new WorkerCrashedError(this.reason, {
      exitCode: this.exitCode,
      signal: this.signal,
      location,
      cause: this.cause,
    });
  }
}

/** `ERR_TASK_TIMEOUT`: the task ran past its `timeout`; its worker was replaced. */
export class TaskTimeoutError extends FanoutError {
  readonly task: string;
  readonly index: number;
  readonly timeout: number;
  constructor(location: TaskLocation, timeout: number) {
    super(
      'ERR_TASK_TIMEOUT',
      `Task "${location.task}" on item ${location.index} ran longer than ${timeout} ms`,
    );
    this.task = location.task;
    this.index = location.index;
    this.timeout = timeout;
  }
}

/** `ABORT_ERR`: the caller's signal aborted, or the future was cancelled (Node's convention). */
export class AbortError extends FanoutError {
  constructor(message = 'The operation was aborted', options?: ErrorCause) {
    super('ABORT_ERR', message, options);
  }
}

/** `ERR_NOT_CLONEABLE`: an argument or a result cannot cross to or from a worker; the message names it. */
export class NotCloneableError extends FanoutError {
  constructor(message: string, options?: ErrorCause) {
    super('ERR_NOT_CLONEABLE', message, options);
  }
}

/**
 * `ERR_DEPENDENCY_FAILED`: a task of a graph could not run because one of its dependencies (a
 * future or a nested `delayed` call in its arguments) failed or was cancelled. `cause` is the
 * root failure (the `TaskError` of the task that threw, or the `AbortError` of a cancellation),
 * never another `DependencyFailedError`; `dependency` names the task that failed first.
 */
export class DependencyFailedError extends FanoutError {
  /** The task that could not run. */
  readonly task: string;
  /** Its position (a graph node's number, or a parallel() call's index), when known. */
  readonly index: number | undefined;
  /** The task whose failure this is (the root of the chain). */
  readonly dependency: string;
  /** The failed task's position, when known. */
  readonly dependencyIndex: number | undefined;
  constructor(
    where: { task: string; index?: number | undefined },
    failed: { task: string; index?: number | undefined },
    cause: unknown,
  ) {
    const at = (index: number | undefined) => (index === undefined ? '' : ` (node ${index})`);
    // A TaskError's own message names the task again: say what it threw.
    const root = cause instanceof TaskError ? cause.cause : cause;
    const what = cause instanceof AbortError ? 'was cancelled' : `failed: ${describe(root)}`;
    super(
      'ERR_DEPENDENCY_FAILED',
      `Task "${where.task}"${at(where.index)} did not run: its dependency "${failed.task}"${at(failed.index)} ${what}`,
      { cause },
    );
    this.task = where.task;
    this.index = where.index;
    this.dependency = failed.task;
    this.dependencyIndex = failed.index;
  }
}

/** `ERR_TASK_NOT_FOUND`: the task module loaded but has no task of that name. */
export class TaskNotFoundError extends FanoutError {
  constructor(message: string) {
    super('ERR_TASK_NOT_FOUND', message);
  }
}

/** `ERR_TASK_MODULE_LOAD`: the task module failed to import (or never finished); `cause` says why. */
export class TaskModuleLoadError extends FanoutError {
  readonly module: string;
  constructor(module: string, reason: string, options?: ErrorCause) {
    super('ERR_TASK_MODULE_LOAD', `Task module ${module} failed to load: ${reason}`, options);
    this.module = module;
  }
}

/** `ERR_POOL_CLOSED`: the pool was used after `close()` or `terminate()`. */
export class PoolClosedError extends FanoutError {
  constructor(message = 'The pool is closed') {
    super('ERR_POOL_CLOSED', message);
  }
}

/** `ERR_INLINE_FUNCTION`: an inline function cannot run as written (it reads an outer variable, or the backend is remote). */
export class InlineFunctionError extends FanoutError {
  constructor(message: string) {
    super('ERR_INLINE_FUNCTION', message);
  }
}

/** `ERR_BACKEND_UNAVAILABLE`: the backend's infrastructure (e.g. Redis) stayed unreachable past its limit. */
export class BackendUnavailableError extends FanoutError {
  constructor(message: string, options?: ErrorCause) {
    super('ERR_BACKEND_UNAVAILABLE', message, options);
  }
}

/**
 * `ERR_CACHE`: `Memory` could not use its cache as asked (an argument that cannot be hashed, a
 * task module whose code cannot be read, a `validate` that cannot reach a worker), or refused a
 * cache folder or entry that is not safe to use: another user's, writable by group or others, or
 * a link inside the cache (the message names the path, why, and the fix).
 */
export class CacheError extends FanoutError {
  constructor(message: string, options?: ErrorCause) {
    super('ERR_CACHE', message, options);
  }
}

/**
 * `ERR_CHUNK_PARSE`: a chunked file does not hold what its source says (a malformed record, a
 * partial row). Names the file and the byte offset where the bad record starts.
 */
export class ChunkParseError extends FanoutError {
  /** The file, as given to the chunk source (resolved to an absolute path). */
  readonly path: string;
  /** Where the bad record (or partial row) starts, in bytes from the start of the file. */
  readonly byteOffset: number;
  /** What is wrong, without the location. */
  readonly reason: string;
  constructor(path: string, byteOffset: number, reason: string, options?: ErrorCause) {
    super('ERR_CHUNK_PARSE', `Cannot parse ${path} at byte ${byteOffset}: ${reason}`, options);
    this.path = path;
    this.byteOffset = byteOffset;
    this.reason = reason;
  }
}

/**
 * `ERR_WAIT_TIMEOUT`: `asCompleted` waited longer than its `timeout` (the futures keep running),
 * or a wait on a synchronisation primitive (`lock.acquire({ timeout })`, ...) ran past its own.
 */
export class WaitTimeoutError extends FanoutError {
  constructor(message: string) {
    super('ERR_WAIT_TIMEOUT', message);
  }
}

/**
 * `ERR_LOCK_NOT_HELD`: a `Lock` released by a holder that does not hold it (it is free, or
 * another worker holds it), or a `Semaphore` released more times than it was acquired.
 */
export class LockNotHeldError extends FanoutError {
  constructor(message: string) {
    super('ERR_LOCK_NOT_HELD', message);
  }
}

/**
 * `ERR_BARRIER_BROKEN`: a `Barrier` can no longer be passed: one of its parties timed out, was
 * aborted, or its worker died while the barrier was among its task's arguments; or `abort()`.
 * Every party waiting, and every later `wait()`, gets it (Python's BrokenBarrierError).
 */
export class BarrierBrokenError extends FanoutError {
  constructor(message: string) {
    super('ERR_BARRIER_BROKEN', message);
  }
}

/** `ERR_QUEUE_CLOSED`: `put()` on a closed `Queue`, or `get()` on one closed and empty. */
export class QueueClosedError extends FanoutError {
  constructor(message: string) {
    super('ERR_QUEUE_CLOSED', message);
  }
}

/**
 * `ERR_JOB_MALFORMED`: a redis worker refused a job it cannot read as a fanout batch: another
 * job format (caller and worker run different fanout versions), a payload its Node.js cannot
 * deserialize, or counts that do not match the payload or pass the limits. Nothing of it ran.
 */
export class MalformedJobError extends FanoutError {
  constructor(message: string) {
    super('ERR_JOB_MALFORMED', message);
  }
}

/**
 * `ERR_WRAPPER_NOT_ALLOWED`: a redis worker refused a job whose task is decorated (by
 * `memory.cache`, or a file source of `pool.reduceChunks`) because its operator did not allow
 * that decoration (`fanout worker --allow`), or because the job named something else as one.
 */
export class WrapperNotAllowedError extends FanoutError {
  constructor(message: string) {
    super('ERR_WRAPPER_NOT_ALLOWED', message);
  }
}

/**
 * `ERR_NO_TASK_CONTEXT`: `taskContext()` was called where no task is running (module top level,
 * the caller's own code, a callback that outlived its task).
 */
export class NoTaskContextError extends FanoutError {
  constructor(message: string) {
    super('ERR_NO_TASK_CONTEXT', message);
  }
}

/**
 * `ERR_SLURM`: a Slurm command that `slurmWorkers` runs is missing (`sbatch` not on PATH: the
 * message says what to install) or failed (`sbatch` refused the job, `squeue` cannot reach the
 * controller), or Slurm's jobs did not end in time. `command` names it; `stderr` is what it said.
 */
export class SlurmError extends FanoutError {
  /** The command, e.g. `sbatch`. */
  readonly command: string;
  /** What it wrote on stderr (trimmed), when it ran. */
  readonly stderr: string;
  constructor(command: string, message: string, options?: ErrorCause & { stderr?: string }) {
    super('ERR_SLURM', message, options);
    this.command = command;
    this.stderr = options?.stderr ?? '';
  }
}

/**
 * `ERR_DASHBOARD`: a dashboard (or a worker's metrics endpoint) cannot serve: its port is taken
 * or not allowed, its address does not exist here, or it was asked to listen on a non-loopback
 * address without a token.
 */
export class DashboardError extends FanoutError {
  constructor(message: string, options?: ErrorCause) {
    super('ERR_DASHBOARD', message, options);
  }
}

/**
 * `ERR_ACTOR_DIED`: an actor's method call could not run because the actor is gone: its worker
 * died (the crash is the `cause`; calls pending then and later all reject, unless `maxRestarts`
 * rebuilds it for the later ones), it was released, or its pool was closed. `actor` names it.
 */
export class ActorDiedError extends FanoutError {
  /** The actor's class name. */
  readonly actor: string;
  constructor(actor: string, message: string, options?: ErrorCause) {
    super('ERR_ACTOR_DIED', `Actor ${actor}: ${message}`, options);
    this.actor = actor;
  }
}

/** `ERR_INVALID_ARG_VALUE`: an option or argument has the right type but a bad value. */
export class InvalidArgValueError extends RangeError {
  declare readonly code: 'ERR_INVALID_ARG_VALUE';
  constructor(message: string, options?: ErrorCause) {
    super(message, options);
    mark(this, 'ERR_INVALID_ARG_VALUE');
  }
  override get name(): string {
    return 'RangeError';
  }
}

/** `ERR_INVALID_ARG_TYPE`: an option or argument has the wrong type. */
export class InvalidArgTypeError extends TypeError {
  declare readonly code: 'ERR_INVALID_ARG_TYPE';
  constructor(message: string) {
    super(message);
    mark(this, 'ERR_INVALID_ARG_TYPE');
  }
  override get name(): string {
    return 'TypeError';
  }
}

/** A short, one-line description of any thrown value, for messages; never throws. */
export function describe(value: unknown): string {
  return safeDescription(value);
}

/*
 * A task may throw anything, including values that throw when read: a Proxy whose traps throw,
 * a revoked Proxy, an error whose `message`, `name` or `stack` getter throws. Describing one (and
 * recording one: codec/errors.ts) therefore reads through these guards only.
 */

export type Read =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

/** Read `object[key]` without letting a getter or a proxy trap throw through. */
export function guardedRead(object: object, key: PropertyKey): Read {
  try {
    return { ok: true, value: (object as Record<PropertyKey, unknown>)[key] };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Whether `value instanceof Ctor`, false when asking throws (a proxy's getPrototypeOf trap). */
export function guardedInstanceOf(value: unknown, Ctor: abstract new (...args: never[]) => unknown): boolean {
  try {
    return value instanceof Ctor;
  } catch {
    return false;
  }
}

/**
 * A one-line description of any value, for messages; never throws. Values that are not plain
 * data may run code of their own (getters, `toJSON`, `toString`): anything they throw is caught.
 */
export function safeDescription(value: unknown, depth = 0): string {
  try {
    if (typeof value === 'string') return value;
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return String(value);
    if (isProxy(value)) return 'a Proxy';
    if (guardedInstanceOf(value, Error) && depth < 2) {
      const name = guardedRead(value as object, 'name');
      const message = guardedRead(value as object, 'message');
      const nameText = name.ok && typeof name.value === 'string' ? name.value : 'Error';
      if (!message.ok) return `${nameText} (its message could not be read)`;
      return message.value ? `${nameText}: ${safeDescription(message.value, depth + 1)}` : nameText;
    }
    return JSON.stringify(value) ?? String(value);
  } catch {
    try {
      return String(value);
    } catch {
      return `${typeof value === 'function' ? 'a function' : 'an object'} that cannot be described`;
    }
  }
}

/** Every class of fanout's errors, by code: what `rebuildFanoutError` makes. */
const CLASSES: Readonly<Record<FanoutErrorCode, abstract new (...args: never[]) => Error>> = {
  ERR_TASK_FAILED: TaskError,
  ERR_WORKER_CRASHED: WorkerCrashedError,
  ERR_TASK_TIMEOUT: TaskTimeoutError,
  ABORT_ERR: AbortError,
  ERR_NOT_CLONEABLE: NotCloneableError,
  ERR_TASK_NOT_FOUND: TaskNotFoundError,
  ERR_TASK_MODULE_LOAD: TaskModuleLoadError,
  ERR_POOL_CLOSED: PoolClosedError,
  ERR_INVALID_ARG_VALUE: InvalidArgValueError,
  ERR_INVALID_ARG_TYPE: InvalidArgTypeError,
  ERR_INLINE_FUNCTION: InlineFunctionError,
  ERR_BACKEND_UNAVAILABLE: BackendUnavailableError,
  ERR_CACHE: CacheError,
  ERR_CHUNK_PARSE: ChunkParseError,
  ERR_WAIT_TIMEOUT: WaitTimeoutError,
  ERR_JOB_MALFORMED: MalformedJobError,
  ERR_WRAPPER_NOT_ALLOWED: WrapperNotAllowedError,
  ERR_NO_TASK_CONTEXT: NoTaskContextError,
  ERR_SLURM: SlurmError,
  ERR_DEPENDENCY_FAILED: DependencyFailedError,
  ERR_DASHBOARD: DashboardError,
  ERR_ACTOR_DIED: ActorDiedError,
  ERR_LOCK_NOT_HELD: LockNotHeldError,
  ERR_BARRIER_BROKEN: BarrierBrokenError,
  ERR_QUEUE_CLOSED: QueueClosedError,
};

/**
 * An error of fanout's class for `code`, with `message`, as it was on the other side of a
 * boundary (codec/errors.ts adds its fields, stack and cause from the record); undefined for a
 * code fanout does not have. The class's constructor is not run: it would recompute the
 * message from fields, and the message that crossed is the one to keep.
 */
export function rebuildFanoutError(code: unknown, message: string): Error | undefined {
  if (typeof code !== 'string' || !Object.hasOwn(CLASSES, code)) return undefined;
  const Class = CLASSES[code as FanoutErrorCode];
  const Base =
    Class.prototype instanceof RangeError
      ? RangeError
      : Class.prototype instanceof TypeError
        ? TypeError
        : Error;
  const error = Reflect.construct(Base, [message], Class) as Error;
  mark(error, code as FanoutErrorCode);
  return error;
}
