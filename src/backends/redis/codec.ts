/**
 * What crosses Redis: a job's data (one batch) and its return value (the batch's outcome).
 *
 * BullMQ stores both as JSON. Plain JSON would lose what the other backends keep (`-0`, `NaN`,
 * `undefined`, BigInt, Map, Set, Date, typed arrays), so the batch itself is written with the V8
 * serializer, the processes backend's codec, as one base64 string. Numbers are packed into a
 * Float64Array first, which V8 writes as raw bytes: ~11 bytes of base64 per number. Caller and
 * workers should run the same Node.js major version (V8 reads older formats, not newer ones).
 *
 * The JSON around the payload names the task in clear (`tasks#simulate`), so a queue can be
 * inspected, and so a worker decides whether it runs a job before decoding anything else.
 */

import { deserialize, serialize } from 'node:v8';
import {
  BUILTIN_ERRORS,
  deserializeError,
  type SerializedError,
  serializeError,
} from '../../codec/errors.js';
import { type Packed, pack, type Unpacked } from '../../codec/values.js';
import {
  describe,
  InlineFunctionError,
  NotCloneableError,
  TaskModuleLoadError,
  TaskNotFoundError,
  TaskTimeoutError,
  WorkerCrashedError,
} from '../../errors.js';
import type { BatchItems } from '../../scheduler/types.js';
import type { ItemFailure } from '../../worker/protocol.js';

/** The job format; a worker refuses a job of a version it does not know. */
export const JOB_VERSION = 1;

/** A job's `data`, as stored in Redis (JSON). */
export interface JobData {
  readonly v: number;
  /** `moduleId#taskName`. */
  readonly task: string;
  /** `moduleId#name` of a worker-side decorator of the task (a cache, say). */
  readonly wrap?: string | undefined;
  /** How many items the batch has (for people inspecting the queue). */
  readonly n: number;
  /** base64 of the V8-serialized `BatchPayload`. */
  readonly p: string;
}

/** The part of a batch that only the worker reads. */
export interface BatchPayload {
  readonly items: Packed;
  readonly first: number;
  readonly spread: boolean;
  readonly seed: number;
  readonly stopOnError: boolean;
  readonly track: boolean;
  readonly timeout: number | undefined;
  readonly wrapOptions?: unknown;
}

/** A job's return value: how the batch went on the worker. */
export type JobResult =
  | {
      readonly k: 'done';
      readonly values: Packed;
      readonly ran: number;
      readonly failures: readonly ItemFailure[] | undefined;
      readonly startedAt: number;
      readonly duration: number;
      /** Which worker thread ran it: `host:pid/thread`. */
      readonly worker: string;
    }
  | {
      /** A worker thread died or timed out in the batch; the caller's scheduler decides what next. */
      readonly k: 'lost';
      readonly offset: number | undefined;
      readonly started: boolean;
      readonly error: SerializedError;
    };

const toBase64 = (value: unknown): string => serialize(value).toString('base64');
const fromBase64 = (text: string): unknown => deserialize(Buffer.from(text, 'base64'));

export function encodeJob(
  task: string,
  wrap: string | undefined,
  items: BatchItems,
  payload: Omit<BatchPayload, 'items'>,
): JobData {
  return {
    v: JOB_VERSION,
    task,
    ...(wrap === undefined ? {} : { wrap }),
    n: items.length,
    p: toBase64({ ...payload, items: pack(items, []) } satisfies BatchPayload),
  };
}

/** A job's data, checked; throws a message for the job's failure when it is not one of ours. */
export function decodeJob(data: unknown): { data: JobData; payload: BatchPayload } {
  const job = data as Partial<JobData> | null;
  if (typeof job !== 'object' || job === null || typeof job.p !== 'string' || typeof job.task !== 'string') {
    throw new Error('the job is not a fanout batch');
  }
  if (job.v !== JOB_VERSION) {
    throw new Error(`the job has format version ${String(job.v)}; this worker reads version ${JOB_VERSION}`);
  }
  let payload: BatchPayload;
  try {
    payload = fromBase64(job.p) as BatchPayload;
  } catch (error) {
    throw new Error(`the job's payload cannot be read: ${describe(error)}`);
  }
  if (!isBatchPayload(payload)) throw new Error("the job's payload is not a fanout batch");
  return { data: job as JobData, payload };
}

function isBatchPayload(value: unknown): value is BatchPayload {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Record<string, unknown>;
  const items = p.items as { undefinedTimes?: unknown } | undefined;
  const itemsOk =
    Array.isArray(items) ||
    items instanceof Float64Array ||
    (typeof items === 'object' && items !== null && Number.isSafeInteger(items.undefinedTimes));
  return (
    itemsOk &&
    Number.isSafeInteger(p.first) &&
    (p.first as number) >= 0 &&
    Number.isSafeInteger(p.seed) &&
    typeof p.spread === 'boolean' &&
    typeof p.stopOnError === 'boolean' &&
    typeof p.track === 'boolean' &&
    (p.timeout === undefined || (typeof p.timeout === 'number' && p.timeout > 0))
  );
}

/** A batch's values, packed for the trip (Float64Array for numbers, a count for `undefined`s). */
export function packValues(values: Unpacked): Packed {
  if (values instanceof Float64Array) return values;
  return pack(Array.isArray(values) ? values : Array.from(values), []);
}

export function encodeResult(result: JobResult): string {
  return toBase64(result);
}

export function decodeResult(value: unknown): JobResult {
  if (typeof value !== 'string') throw new Error('the job returned something that is not a fanout result');
  return fromBase64(value) as JobResult;
}

/**
 * A job that failed carries only a message (BullMQ's `failedReason`). Workers write
 * `CODE: message`; this turns it back into the error class of that code.
 */
export function failureMessage(code: string, message: string): string {
  return `${code}: ${message}`;
}

/** The failure of a job whose worker stopped responding more often than its workers allow. */
const STALLED = /stalled more than allowable limit/;

/** Why a job failed: `lost` when its worker vanished (the scheduler may re-run it), else fatal for the call. */
export interface JobFailure {
  readonly lost: boolean;
  readonly error: Error;
}

export function decodeFailure(reason: unknown): JobFailure {
  const text = typeof reason === 'string' ? reason : 'the job failed for an unknown reason';
  if (STALLED.test(text)) {
    return {
      lost: true,
      error: new WorkerCrashedError(
        `the job's worker stopped responding (killed, or cut off from Redis) more times than the workers' --max-stalled allows`,
      ),
    };
  }
  const match = /^([A-Z_]+): ([\s\S]*)$/.exec(text);
  const code = match?.[1];
  const message = match?.[2] ?? text;
  switch (code) {
    case 'ERR_TASK_NOT_FOUND':
      return { lost: false, error: new TaskNotFoundError(message) };
    case 'ERR_INLINE_FUNCTION':
      return { lost: false, error: new InlineFunctionError(message) };
    case 'ERR_NOT_CLONEABLE':
      return { lost: false, error: new NotCloneableError(message) };
    case 'ERR_WORKER_CRASHED':
      return { lost: false, error: new WorkerCrashedError(message.replace(/^Worker crashed: /, '')) };
    case 'ERR_TASK_MODULE_LOAD': {
      const parts = /^Task module (\S+) failed to load: ([\s\S]*)$/.exec(message);
      const reason = parts?.[2] ?? message;
      return {
        lost: false,
        error: new TaskModuleLoadError(parts?.[1] ?? 'unknown', reason, { cause: causeFromText(reason) }),
      };
    }
    default:
      return { lost: false, error: new WorkerCrashedError(`the worker failed the job: ${text}`) };
  }
}

/** `SyntaxError: Unexpected token` → a SyntaxError with that message (the best a text can give). */
function causeFromText(text: string): Error {
  const match = /^(\w*Error): ([\s\S]*)$/.exec(text);
  const Ctor =
    (match && (BUILTIN_ERRORS as unknown as Record<string, ErrorConstructor>)[match[1] as string]) || Error;
  return new Ctor(match ? match[2] : text);
}

/** The error of a lost batch, serialized on the worker: rebuilt with its fanout class. */
export function encodeLostError(error: Error): SerializedError {
  return serializeError(error);
}

export function decodeLostError(record: SerializedError): Error {
  const props = (record.props ?? {}) as Record<string, unknown>;
  const task = typeof props.task === 'string' ? props.task : undefined;
  const index = typeof props.index === 'number' ? props.index : undefined;
  const location = task !== undefined && index !== undefined ? { task, index } : undefined;
  let error: Error;
  if (props.code === 'ERR_TASK_TIMEOUT' && location && typeof props.timeout === 'number') {
    error = new TaskTimeoutError(location, props.timeout);
  } else if (props.code === 'ERR_WORKER_CRASHED') {
    error = new WorkerCrashedError('', {
      exitCode: typeof props.exitCode === 'number' ? props.exitCode : null,
      signal: typeof props.signal === 'string' ? props.signal : null,
      location,
    });
  } else {
    const rebuilt = deserializeError(record);
    return rebuilt instanceof Error ? rebuilt : new WorkerCrashedError(describe(rebuilt));
  }
  // Keep the worker's own words (they name the exit code or signal there).
  Object.defineProperty(error, 'message', { value: record.message, writable: true, configurable: true });
  Object.defineProperty(error, 'stack', {
    value: `${error.name}: ${record.message}\n    (on a redis worker)`,
    writable: true,
    configurable: true,
  });
  return error;
}
