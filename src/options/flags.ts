/**
 * Options on the command line. A flag of `fanout run` or `fanout worker` that sets an option is
 * declared on that option's spec (`flag`), and read here: its text is parsed by its kind (a
 * text that does not parse is worded for the flag: `--grace must be a positive integer, got
 * "0"`), then the value passes the option's own check, named as the flag. The demos' own flags,
 * which set no option, use the plain readers below.
 *
 * A bad flag is a `UsageError`: the command prints it with its usage and exits with code 2.
 */

import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { MAX_TIMER_MS, resolveWorkers, TIMER_LIMIT } from './checks.js';
import type { FlagKind, OptionSpec } from './option-set.js';

/** A bad flag or argument: the message is printed with the command's usage, and the exit code is 2. */
export class UsageError extends Error {}

/**
 * The value of an option given as a flag (`values.timeout` of `parseArgs`), or undefined when
 * the flag is absent. Throws a UsageError naming the flag.
 */
export function flagValue<T>(spec: OptionSpec<T>, text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  const { flag } = spec;
  if (!flag) throw new Error(`option "${spec.doc}" has no flag`);
  const name = `--${flag.name}`;
  const value = parseFlag(name, flag.kind, text, spec.choices);
  const problem = spec.problem?.(value);
  if (problem !== undefined) throw new UsageError(`${name} must be ${problem}`);
  try {
    return spec.check(value, name);
  } catch (error) {
    if (error instanceof InvalidArgValueError || error instanceof InvalidArgTypeError) {
      throw new UsageError(error.message, { cause: error });
    }
    throw error;
  }
}

function parseFlag(name: string, kind: FlagKind, text: string, choices?: readonly string[]): unknown {
  switch (kind) {
    case 'text':
      return text;
    case 'choice':
      return choiceFlag(name.slice(2), text, choices ?? [], text);
    case 'integer':
      if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
        throw new UsageError(`${name} must be an integer, got ${JSON.stringify(text)}`);
      }
      return Number(text);
    case 'count':
      return positiveIntegerFlag(name.slice(2), text);
    case 'port':
      if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
        throw new UsageError(`${name} must be a port number (0–65535), got ${JSON.stringify(text)}`);
      }
      return Number(text);
    case 'ms': {
      const ms = positiveIntegerFlag(name.slice(2), text) as number;
      if (ms > MAX_TIMER_MS) throw new UsageError(`${name} is ${ms} ms, past the limit of ${TIMER_LIMIT}`);
      return ms;
    }
    case 'workers': {
      // Workers on this machine: the count is checked against its cores here.
      const value = text === 'auto' ? 'auto' : /^-?\d+$/.test(text) ? Number(text) : text;
      try {
        resolveWorkers(value, name);
      } catch (error) {
        throw new UsageError((error as Error).message, { cause: error });
      }
      return value;
    }
  }
}

/** A flag that is a positive integer (`--sims 20000`), or `fallback` when absent. */
export function positiveIntegerFlag(name: string, value: string | undefined, fallback: number): number;
export function positiveIntegerFlag(
  name: string,
  value: string | undefined,
  fallback?: undefined,
): number | undefined;
export function positiveIntegerFlag(
  name: string,
  value: string | undefined,
  fallback?: number,
): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A flag that is a non-negative integer, or undefined when absent. */
export function nonNegativeIntegerFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new UsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** A flag that is one of `allowed`, or `fallback` when absent. */
export function choiceFlag<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}
