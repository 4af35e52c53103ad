/**
 * The checks of single values that every option set is built from (options/schema.ts): each
 * names the option (or flag) and the value received, and returns the value normalised.
 */

import { dirname, resolve } from 'node:path';
// node:fs and node:os on first use: a worker thread loads this module at its start, and needs
// neither there (importing them cost it ~0.3 ms).
import { nodeFs, nodeOs } from '../builtins.js';
import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  return String(value);
}

/** The number of cores fanout may use. */
export function cores(): number {
  return nodeOs().availableParallelism();
}

/**
 * Local workers per core at most. Past the core count workers only take turns (CPU-bound work
 * gains nothing; I/O-bound work belongs on the inline backend's `concurrency`), and each costs a
 * thread or a process with a heap of its own: a count far past the cores is a mistake, which
 * would otherwise end in an out-of-memory crash nothing can catch.
 */
export const MAX_WORKERS_PER_CORE = 16;

/**
 * `workers`: a positive integer, `'auto'` (every core) or joblib's negative form (-1 every core,
 * -2 all but one, ...); at most MAX_WORKERS_PER_CORE × the cores. The core count is read only
 * when needed: a machine has at least one, so a count up to MAX_WORKERS_PER_CORE is within the
 * limit anyway, and a pool given its size does not load node:os (~0.4 ms of a first pool).
 */
export function resolveWorkers(value: unknown, name = 'workers'): number {
  if (value === undefined || value === 'auto') return cores();
  const expected = `Expected \`${name}\` to be a positive integer, 'auto' or a negative integer (-1 for every core, -2 for all but one)`;
  if (typeof value !== 'number') throw new InvalidArgTypeError(`${expected}, got ${show(value)}`);
  if (!Number.isInteger(value) || value === 0)
    throw new InvalidArgValueError(`${expected}, got ${show(value)}`);
  if (value > 0 && value <= MAX_WORKERS_PER_CORE) return value;
  const total = cores();
  const limit = MAX_WORKERS_PER_CORE * total;
  if (value > limit) {
    throw new InvalidArgValueError(
      `\`${name}\` is ${show(value)}, more than ${limit} (${MAX_WORKERS_PER_CORE} per core on this ${total}-core machine): ` +
        "workers past the cores only take turns, and each costs a thread or a process; use 'auto' for " +
        'CPU-bound work, or the inline backend with `concurrency` for I/O-bound tasks',
    );
  }
  if (value > 0) return value;
  const resolved = total + 1 + value;
  if (resolved < 1) {
    throw new InvalidArgValueError(
      `\`${name}\` is ${value}, which leaves no worker on this ${total}-core machine (-1 is every core)`,
    );
  }
  return resolved;
}

export function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new InvalidArgTypeError(`Expected \`${name}\` to be a positive integer, got ${show(value)}`);
  }
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgValueError(`Expected \`${name}\` to be a positive integer, got ${show(value)}`);
  }
  return value;
}

export function nonNegativeInteger(name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new InvalidArgTypeError(`Expected \`${name}\` to be a non-negative integer, got ${show(value)}`);
  }
  if (!Number.isInteger(value) || value < 0) {
    throw new InvalidArgValueError(`Expected \`${name}\` to be a non-negative integer, got ${show(value)}`);
  }
  return value;
}

/**
 * The longest delay a Node.js timer honours: 2^31 − 1 ms (about 24.8 days). A longer one is not
 * an error to `setTimeout`: it silently fires after 1 ms, so a limit past it would fire at once.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whether `value` is a delay a timer can wait for as given: a positive number ≤ MAX_TIMER_MS. */
export function isTimerDelay(value: unknown): value is number {
  return typeof value === 'number' && value > 0 && value <= MAX_TIMER_MS;
}

/** The limit, as messages name it. */
export const TIMER_LIMIT = `${MAX_TIMER_MS} ms (2^31 − 1, about 24.8 days: the longest a Node.js timer waits)`;

/** What a duration option may also be: `Infinity` (no limit), or 0 (at once). */
export interface DurationRange {
  readonly infinity?: boolean;
  readonly zero?: boolean;
}

/**
 * A duration in ms: a positive number (or ≥ 0 where `zero`) no longer than a timer can wait
 * (`MAX_TIMER_MS`), or `Infinity` (no limit) where `infinity`. Every duration option goes
 * through here, so none can reach a timer that would fire at once instead.
 */
export function duration(name: string, value: unknown, range: DurationRange = {}): number {
  const kind = range.zero ? 'a number of milliseconds ≥ 0' : 'a positive number of milliseconds';
  const expected = `Expected \`${name}\` to be ${kind}${range.infinity ? ' or Infinity' : ''}`;
  if (typeof value !== 'number') throw new InvalidArgTypeError(`${expected}, got ${show(value)}`);
  if (
    Number.isNaN(value) ||
    value < 0 ||
    (value === 0 && !range.zero) ||
    (value === Infinity && !range.infinity)
  ) {
    throw new InvalidArgValueError(`${expected}, got ${show(value)}`);
  }
  if (value > MAX_TIMER_MS && value !== Infinity) {
    throw new InvalidArgValueError(
      `\`${name}\` is ${value} ms, past the limit of ${TIMER_LIMIT}${range.infinity ? '; use Infinity for no limit' : ''}`,
    );
  }
  return value;
}

/** A size in megabytes: a positive number, or `Infinity` (no limit). */
export function megabytes(name: string, value: unknown): number {
  const expected = `Expected \`${name}\` to be a positive number of megabytes or Infinity`;
  if (typeof value !== 'number') throw new InvalidArgTypeError(`${expected}, got ${show(value)}`);
  if (Number.isNaN(value) || value <= 0) throw new InvalidArgValueError(`${expected}, got ${show(value)}`);
  return value;
}

export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string') {
    throw new InvalidArgTypeError(
      `Expected \`${name}\` to be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`,
    );
  }
  if (!allowed.includes(value as T)) {
    throw new InvalidArgValueError(
      `Expected \`${name}\` to be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`,
    );
  }
  return value as T;
}

export function boolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new InvalidArgTypeError(`Expected \`${name}\` to be a boolean, got ${show(value)}`);
  return value;
}

export function autoOrPositiveInteger(name: string, value: unknown): number | 'auto' {
  if (value === 'auto') return 'auto';
  if (typeof value !== 'number') {
    throw new InvalidArgTypeError(
      `Expected \`${name}\` to be 'auto' or a positive integer, got ${show(value)}`,
    );
  }
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgValueError(
      `Expected \`${name}\` to be 'auto' or a positive integer, got ${show(value)}`,
    );
  }
  return value;
}

export function abortSignal(name: string, value: unknown): AbortSignal {
  if (!(value instanceof AbortSignal)) {
    throw new InvalidArgTypeError(`Expected \`${name}\` to be an AbortSignal, got ${show(value)}`);
  }
  return value;
}

/** A function (callbacks such as `onProgress`). */
export function func<T>(name: string, value: unknown): T {
  if (typeof value !== 'function')
    throw new InvalidArgTypeError(`Expected \`${name}\` to be a function, got ${show(value)}`);
  return value as T;
}

/** An array of strings (copied, so later changes by the caller do not reach the engine). */
export function stringArray(name: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw new InvalidArgTypeError(`Expected \`${name}\` to be an array of strings, got ${show(value)}`);
  }
  return [...value];
}

/** Seeds and indices are integers below 2^53 (safe integers). */
export const SEED_LIMIT = 2 ** 53;

/**
 * A seed as fanout uses it: any safe integer, a negative one taken modulo 2^53 (so every seed
 * is an integer in [0, 2^53), and different safe integers of one sign stay different seeds).
 */
export function checkSeed(name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new InvalidArgTypeError(`Expected \`${name}\` to be an integer, got ${show(value)}`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new InvalidArgValueError(`Expected \`${name}\` to be a safe integer, got ${show(value)}`);
  }
  return value >= 0 ? value : value + SEED_LIMIT;
}

/** Check a Redis URL; returns what is wrong with it (to follow "to be"/"must be"), or undefined. */
export function redisUrlProblem(url: unknown): string | undefined {
  if (typeof url !== 'string') return `a redis:// or rediss:// URL, got ${show(url)}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `a redis:// or rediss:// URL, got ${JSON.stringify(redactUrl(url))}`;
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    return `a redis:// or rediss:// URL, got one with protocol ${JSON.stringify(parsed.protocol)}`;
  }
  if (!parsed.hostname) return 'a redis:// or rediss:// URL with a host name';
  return undefined;
}

/** A Redis URL with its password hidden, for messages and logs (ioredis also reads one from `?password=`). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.href;
  } catch {
    return '(not a URL)';
  }
}

/** Queue names and prefixes become parts of Redis keys, separated by colons. */
export function keyPartProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !/^[\w.@+-]{1,100}$/.test(value)) {
    return `1 to 100 letters, digits or . _ - + @ (no colon), got ${show(value)}`;
  }
  return undefined;
}

/** A fresh seed for calls that give none (runs are then not reproducible, but still independent per item). */
export function freshSeed(): number {
  // Math.random, not a crypto source: the seed only has to differ from run to run (V8 seeds each
  // thread's Math.random from the system's entropy), and loading Web Crypto costs a program ~1 ms
  // at its start, in `new Pool()`, before its first worker can start.
  const hi = Math.floor(Math.random() * 2 ** 21);
  const lo = Math.floor(Math.random() * 2 ** 32);
  return hi * 2 ** 32 + lo;
}

/**
 * A file to write (a call's `trace`), checked when the call is made, not when it ends: a folder
 * that does not exist would otherwise be found only after all the work, and the results would
 * be lost to it. Returns the absolute path (the file is written there even if the working
 * directory changes).
 */
export function outputFile(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidArgTypeError(`Expected \`${name}\` to be a file path, got ${show(value)}`);
  }
  const file = resolve(value);
  const folder = dirname(file);
  let isFolder = false;
  try {
    isFolder = nodeFs().statSync(folder).isDirectory();
  } catch {
    // reported below
  }
  if (!isFolder) {
    throw new InvalidArgValueError(
      `\`${name}\` is ${JSON.stringify(value)}, but its folder ${folder} does not exist (fanout does not create it)`,
    );
  }
  try {
    if (nodeFs().statSync(file).isDirectory()) {
      throw new InvalidArgValueError(
        `\`${name}\` is ${JSON.stringify(value)}, which is a folder, not a file`,
      );
    }
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
  }
  return file;
}
