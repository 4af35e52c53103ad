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
 * Anyone who can write to Redis can write a job, so a worker trusts nothing in one: every
 * count is checked against the payload and bounded before anything loops over it, and each
 * refusal keeps its own code (a malformed job, an unknown task, a wrapper not allowed).
 *
 * Errors travel as the records of codec/errors.ts, never as prose to parse: in a result (a
 * lost batch, the items that threw), and in a failed job's reason, which BullMQ keeps as a
 * string. A reason therefore reads `CODE: message` on its first line, for people looking at the
 * queue, and carries the record after a versioned marker on the next (`failureReason`).
 */

import { deserialize, serialize } from 'node:v8';
import {
  errorFromWire,
  failuresFromWire,
  failuresToWire,
  type ItemFailure,
  toWire,
  type WireError,
  type WireItemFailure,
} from '../codec/errors.js';
import { type Packed, pack, type Unpacked, unpack } from '../codec/values.js';
import {
  describe,
  FanoutError,
  InvalidArgValueError,
  MalformedJobError,
  WorkerCrashedError,
} from '../errors.js';
import { isTimerDelay, MAX_TIMER_MS } from '../options/checks.js';
import type { BatchItems } from '../scheduler/backend.js';
import { isBroadcastToken } from './control.js';

/** The job format; a worker refuses a job of a version it does not know. */
export const JOB_VERSION = 1;

/** A job's `data`, as stored in Redis (JSON). */
export interface JobData {
  readonly v: number;
  /** `moduleId#taskName` (a call mixing tasks: `parallel`, and `tasks` names them). */
  readonly task: string;
  /** A parallel() call mixing tasks: each task, as `moduleId#taskName`; `taskIndex` picks one per item. */
  readonly tasks?: readonly string[] | undefined;
  /** The id of a worker-side decorator of the task (`cache`, say: see wrappers.ts), never a module. */
  readonly wrap?: string | undefined;
  /** How many items the batch has (for people inspecting the queue); must match the payload. */
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
  /** An isolated re-run (see `BatchRequest.alone`); absent in jobs of callers before it. */
  readonly alone?: boolean;
  readonly timeout: number | undefined;
  readonly wrapOptions?: unknown;
  /** ms a cancelled task has to stop before its thread is replaced (the caller's `abortGrace`). */
  readonly abortGrace?: number | undefined;
  /** With the job's `tasks`: which of them each item calls. */
  readonly taskIndex?: Int32Array | undefined;
  /** Each item's index when not contiguous from `first` (`BatchRequest.indices`: a graph's nodes). */
  readonly indices?: Int32Array | undefined;
  /**
   * The broadcast values the items refer to: the caller's handle number, and the token of the
   * Redis key that holds the value (redis/control.ts). Absent when there are none.
   */
  readonly broadcasts?: readonly (readonly [number, string])[];
}

/**
 * The format of a job's result (and of the record in a failed job's reason). The job format
 * above did not change when results gained rebuilt errors; a caller refuses a result of
 * another version instead of misreading it.
 */
export const RESULT_VERSION = 2;

/** A job's return value: how the batch went on the worker. */
export type JobResult =
  | {
      readonly k: 'done';
      readonly values: Packed;
      readonly ran: number;
      readonly failures: readonly WireItemFailure[] | undefined;
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
      readonly error: WireError;
    };

const toBase64 = (value: unknown): string => serialize(value).toString('base64');
const fromBase64 = (text: string): unknown => deserialize(Buffer.from(text, 'base64'));

/** A job's data; `task` is one task's name, or the names of a mixed call's tasks. */
export function encodeJob(
  task: string | readonly string[],
  wrap: string | undefined,
  items: BatchItems,
  payload: Omit<BatchPayload, 'items'>,
): JobData {
  const full: BatchPayload = { ...payload, items: pack(items) };
  const tasks = typeof task === 'string' ? undefined : task;
  const problem = (tasks && tasksProblem(tasks)) ?? payloadProblem(full, items.length, tasks?.length);
  if (problem) {
    throw new InvalidArgValueError(
      `Cannot send a batch of ${items.length} items to the redis workers: ${problem}`,
    );
  }
  return {
    v: JOB_VERSION,
    task: tasks ? MIXED_TASK : (task as string),
    ...(tasks ? { tasks } : {}),
    ...(wrap === undefined ? {} : { wrap }),
    n: items.length,
    p: toBase64(full),
  };
}

/**
 * Bounds on what one job may ask of a worker. A job's counts are checked against its payload
 * and against these, so that a few crafted bytes cannot make a worker loop over billions of
 * items (`{ undefinedTimes: 2 ** 32 - 1 }`, or a sparse array of that length, fit in 30 bytes)
 * or spread billions of arguments. They are far above what a caller sends: automatic batches
 * hold at most 32,768 items, and a call spreads a handful of arguments.
 */
/** Items in one job: 2^20, 32 times the largest automatic batch (`batchSize: n` may ask for more). */
export const MAX_JOB_ITEMS = 1 << 20;
/** Arguments of one starmap item: 2^16 (V8 cannot spread many more than 2^17 into a call). */
export const MAX_SPREAD_ARGS = 1 << 16;
/** Different tasks one job may call (a parallel() call mixing tasks). */
export const MAX_JOB_TASKS = 256;
/** The `task` of a job that mixes tasks (its `tasks` name them). */
export const MIXED_TASK = 'parallel';
/** Broadcast values one job may refer to. */
export const MAX_JOB_BROADCASTS = 256;

const malformed = (problem: string) => new MalformedJobError(problem);

/**
 * A job's data, checked before anything of it is decoded: the envelope that names the task,
 * the wrapper and the item count. Throws a MalformedJobError when it is not one of ours.
 */
export function readJob(data: unknown): JobData {
  const job = data as Partial<JobData> | null;
  if (typeof job !== 'object' || job === null || typeof job.p !== 'string' || typeof job.task !== 'string') {
    throw malformed('the job is not a fanout batch');
  }
  if (job.v !== JOB_VERSION) {
    throw malformed(
      `the job has format version ${JSON.stringify(job.v)?.slice(0, 20)}; this worker reads version ` +
        `${JOB_VERSION} (run the same fanout version on the caller and the workers)`,
    );
  }
  if (job.wrap !== undefined && typeof job.wrap !== 'string') {
    throw malformed(`the job's wrapper is not named by a string, got ${typeof job.wrap}`);
  }
  if (job.tasks !== undefined) {
    const problem = tasksProblem(job.tasks);
    if (problem) throw malformed(problem);
    if (job.wrap !== undefined) throw malformed('a job that mixes tasks cannot name a wrapper');
  }
  const countProblem = itemCountProblem(job.n);
  if (countProblem) throw malformed(`its item count \`n\` is ${countProblem}`);
  return job as JobData;
}

/**
 * A job's payload, decoded and checked against the job's own item count and the bounds above.
 * Throws a MalformedJobError naming what is wrong.
 */
export function readPayload(job: JobData): BatchPayload {
  let payload: unknown;
  try {
    payload = fromBase64(job.p);
  } catch (error) {
    throw malformed(`its payload cannot be read: ${describe(error)}`);
  }
  const problem = payloadProblem(payload, job.n, job.tasks?.length);
  if (problem) throw malformed(problem);
  return payload as BatchPayload;
}

function itemCountProblem(n: unknown): string | undefined {
  if (!Number.isSafeInteger(n) || (n as number) < 0) return `not a count: ${String(n).slice(0, 40)}`;
  if ((n as number) > MAX_JOB_ITEMS) return `${n}, more than the ${MAX_JOB_ITEMS} items a job may hold`;
  return undefined;
}

/** How many items a packed batch holds, or undefined when it is not a packed batch. */
function packedLength(items: unknown): number | undefined {
  if (Array.isArray(items) || items instanceof Float64Array) return items.length;
  if (typeof items !== 'object' || items === null || Object.getPrototypeOf(items) !== Object.prototype) {
    return undefined;
  }
  const times = (items as { undefinedTimes?: unknown }).undefinedTimes;
  return Number.isSafeInteger(times) && (times as number) >= 0 ? (times as number) : undefined;
}

/**
 * What is wrong with a batch's payload for a job of `n` items, or undefined when nothing is.
 * The one check of a payload: the worker runs it on what it decoded, the caller on what it is
 * about to send (so a caller's batch that a worker would refuse fails before it is sent).
 */
export function payloadProblem(value: unknown, n: number, tasks?: number): string | undefined {
  if (typeof value !== 'object' || value === null) return 'its payload is not a fanout batch';
  const p = value as Record<string, unknown>;
  const count = packedLength(p.items);
  if (count === undefined) return 'its items are not a packed list of values';
  // A count is checked before anything loops over it.
  if (count !== n) return `its item count \`n\` is ${n}, but its payload holds ${count} items`;
  const countProblem = itemCountProblem(count);
  if (countProblem) return `its item count is ${countProblem}`;
  if (!Number.isSafeInteger(p.first) || (p.first as number) < 0) {
    return `the index of its first item is not a count: ${String(p.first).slice(0, 40)}`;
  }
  if (!Number.isSafeInteger((p.first as number) + count)) return 'the index of its last item is too large';
  if (!Number.isSafeInteger(p.seed)) return `its seed is not an integer: ${String(p.seed).slice(0, 40)}`;
  for (const flag of ['spread', 'stopOnError', 'track'] as const) {
    if (typeof p[flag] !== 'boolean') return `its \`${flag}\` is not a boolean`;
  }
  if (p.alone !== undefined && typeof p.alone !== 'boolean') return 'its `alone` is not a boolean';
  const { timeout } = p;
  if (timeout !== undefined && !isTimerDelay(timeout)) {
    return `its timeout is not a number of milliseconds from 1 to ${MAX_TIMER_MS}: ${String(timeout).slice(0, 40)}`;
  }
  if (p.abortGrace !== undefined && !isTimerDelay(p.abortGrace)) {
    return `its abortGrace is not a number of milliseconds from 1 to ${MAX_TIMER_MS}: ${String(p.abortGrace).slice(0, 40)}`;
  }
  const indexProblem = taskIndexProblem(p.taskIndex, count, tasks);
  if (indexProblem) return indexProblem;
  const indicesProblem = itemIndicesProblem(p.indices, count);
  if (indicesProblem) return indicesProblem;
  const broadcastProblem = broadcastsProblem(p.broadcasts);
  if (broadcastProblem) return broadcastProblem;
  if (p.spread === true) {
    // Each item is spread into the task's arguments: an array, of a bounded length.
    if (!Array.isArray(p.items)) return 'its items are spread into arguments but are not arrays';
    const items = p.items as readonly unknown[];
    for (let i = 0; i < count; i++) {
      const args = items[i];
      if (!Array.isArray(args)) return `item ${i} is spread into arguments but is not an array`;
      if (args.length > MAX_SPREAD_ARGS) {
        return `item ${i} is spread into ${args.length} arguments, more than the ${MAX_SPREAD_ARGS} allowed`;
      }
    }
  }
  return undefined;
}

/** What is wrong with a mixed job's list of tasks, if anything (each is checked by name on the worker). */
function tasksProblem(tasks: unknown): string | undefined {
  if (!Array.isArray(tasks) || tasks.length < 2 || tasks.length > MAX_JOB_TASKS) {
    return `its tasks are not a list of 2 to ${MAX_JOB_TASKS}`;
  }
  if (!tasks.every((task) => typeof task === 'string')) return 'its tasks are not all named by strings';
  return undefined;
}

/** What is wrong with a payload's index per item (absent: counted from `first`), if anything. */
function itemIndicesProblem(indices: unknown, count: number): string | undefined {
  if (indices === undefined) return undefined;
  if (!(indices instanceof Int32Array) || indices.length !== count) {
    return `its item indices are not one Int32Array entry for each of its ${count} items`;
  }
  for (let i = 0; i < count; i++) {
    if ((indices[i] as number) < 0) return `item ${i} has a negative index: ${indices[i]}`;
  }
  return undefined;
}

/** What is wrong with a payload's choice of task per item, for a job of `tasks` tasks (or none). */
function taskIndexProblem(index: unknown, count: number, tasks: number | undefined): string | undefined {
  if (tasks === undefined) return index === undefined ? undefined : 'it picks tasks, but names none';
  if (!(index instanceof Int32Array) || index.length !== count) {
    return `it names ${tasks} tasks but does not pick one for each of its ${count} items`;
  }
  for (let i = 0; i < count; i++) {
    const at = index[i] as number;
    if (at < 0 || at >= tasks) return `item ${i} calls task ${at}, but the job names ${tasks}`;
  }
  return undefined;
}

/** What is wrong with a payload's list of broadcast values, if anything. */
function broadcastsProblem(list: unknown): string | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list) || list.length > MAX_JOB_BROADCASTS) {
    return `its broadcast values are not a list of at most ${MAX_JOB_BROADCASTS}`;
  }
  for (const entry of list as unknown[]) {
    const [id, token] = Array.isArray(entry) ? entry : [];
    if (!Number.isSafeInteger(id) || !isBroadcastToken(token) || (entry as unknown[]).length !== 2) {
      return 'a broadcast value is not named by a number and a token';
    }
  }
  return undefined;
}

/** A batch's values, packed for the trip (Float64Array for numbers, a count for `undefined`s). */
export function packValues(values: Unpacked): Packed {
  if (values instanceof Float64Array) return values;
  return pack(Array.isArray(values) ? values : Array.from(values));
}

/** A batch's outcome on the worker, as its job's return value. */
export function encodeResult(
  result:
    | {
        k: 'done';
        values: Unpacked;
        ran: number;
        failures: readonly ItemFailure[] | undefined;
        startedAt: number;
        duration: number;
        worker: string;
      }
    | { k: 'lost'; offset: number | undefined; started: boolean; error: unknown },
): string {
  const wire: JobResult =
    result.k === 'done'
      ? {
          ...result,
          values: packValues(result.values),
          failures: result.failures && failuresToWire(result.failures),
        }
      : { ...result, error: toWire(result.error) };
  return toBase64({ v: RESULT_VERSION, result: wire });
}

/** What a caller gets of a job's return value: values unpacked, errors rebuilt. */
export type DecodedResult =
  | {
      readonly k: 'done';
      readonly values: Unpacked;
      readonly ran: number;
      readonly failures: readonly ItemFailure[] | undefined;
      readonly startedAt: number;
      readonly duration: number;
      readonly worker: string;
    }
  | {
      readonly k: 'lost';
      readonly offset: number | undefined;
      readonly started: boolean;
      readonly error: Error;
    };

/** Read a job's return value; throws when it is not a result of this format. */
export function decodeResult(value: unknown): DecodedResult {
  if (typeof value !== 'string') throw new Error('the job returned something that is not a fanout result');
  const decoded = fromBase64(value) as { v?: unknown; result?: JobResult } | null;
  if (decoded?.v !== RESULT_VERSION || typeof decoded.result !== 'object' || decoded.result === null) {
    throw new Error(`the result is not of format version ${RESULT_VERSION}`);
  }
  const { result } = decoded;
  if (result.k === 'done') {
    return {
      ...result,
      values: unpack(result.values),
      failures: result.failures && failuresFromWire(result.failures),
    };
  }
  return { ...result, error: errorFromWire(result.error) };
}

/** What introduces the error record in a failed job's reason (after the `CODE: message` line). */
const FAILURE_MARKER = `\nfanout-error/${RESULT_VERSION} `;

/**
 * The reason a worker fails a job with (BullMQ's `failedReason`): `CODE: message` for people,
 * then the error's record after a marker line, for the caller to rebuild.
 */
export function failureReason(error: Error): string {
  // A BigInt in a record's properties is written as text: JSON has no BigInt, and a reason must never fail to be written.
  const record = JSON.stringify(toWire(error), (_key, value) =>
    typeof value === 'bigint' ? `${value}n` : value,
  );
  return `${failureHeadline(error)}${FAILURE_MARKER}${record}`;
}

/** A failure's first line, `CODE: message` (what a worker logs). */
export function failureHeadline(error: Error): string {
  const code = error instanceof FanoutError ? error.code : 'ERR_WORKER_CRASHED';
  return `${code}: ${error.message}`;
}

/** Why a job failed: `lost` when its worker vanished (the scheduler may re-run it), else fatal for the call. */
export interface JobFailure {
  readonly lost: boolean;
  readonly error: Error;
}

/** BullMQ's own reason for a job whose worker stopped renewing its lock too many times. */
const STALLED = 'stalled more than allowable limit';

/** A failed job's reason, as a worker wrote it (`failureReason`) or BullMQ did. */
export function decodeFailure(reason: unknown): JobFailure {
  const text = typeof reason === 'string' ? reason : 'the job failed for an unknown reason';
  const at = text.indexOf(FAILURE_MARKER);
  if (at >= 0) {
    try {
      return { lost: false, error: errorFromWire(JSON.parse(text.slice(at + FAILURE_MARKER.length))) };
    } catch {
      // Not a record after all: reported as the text it is, below.
    }
  }
  // The one failure BullMQ writes itself; it has no code to go by.
  if (text.includes(STALLED)) {
    return {
      lost: true,
      error: new WorkerCrashedError(
        `the job's worker stopped responding (killed, or cut off from Redis) more times than the workers' --max-stalled allows`,
      ),
    };
  }
  return { lost: false, error: new WorkerCrashedError(`the worker failed the job: ${describe(text)}`) };
}
