/**
 * How an option set is read: a set is declared once (options/schema.ts and the few sets that
 * live beside their API), as a table from each key to its spec — check, default, unit, doc and,
 * for the CLI, its flag. `resolve` turns what a caller passed into a frozen object the engine
 * trusts: unknown keys are refused (naming the nearest known one), every given value passes its
 * spec's check, every missing one gets its default (a required one is checked as missing). The list of keys is the table's own keys,
 * so no list is ever kept by hand beside it.
 */

import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { show } from './checks.js';

/** Checks a given value (never `undefined`) and returns it normalised; throws naming `name`. */
export type Check<T> = (value: unknown, name: string) => T;

/** How the command line writes an option (see options/flags.ts). */
export interface FlagSpec {
  /** The flag without its dashes: `batch-size`. */
  readonly name: string;
  /** How its text becomes a value (see `FlagKind`). */
  readonly kind: FlagKind;
}

/**
 * The syntax of a flag's text. A text that does not parse is a usage error worded for the flag
 * (`--grace must be a positive integer, got "0"`); what it parses to then passes the option's
 * own check, named as the flag.
 * - `count`: a positive integer;
 * - `ms`: a positive integer of milliseconds, no longer than a timer waits;
 * - `integer`: an integer, negative too;
 * - `workers`: `auto` or an integer (the option's check says which integers);
 * - `port`: a port number, 0–65535;
 * - `text`: the text itself; `choice`: one of the spec's `choices`.
 */
export type FlagKind = 'count' | 'ms' | 'integer' | 'workers' | 'port' | 'text' | 'choice';

export interface OptionSpec<T = unknown> {
  readonly check: Check<T>;
  /**
   * For a check made of a "what is wrong" function (a Redis URL, a queue name): that function,
   * so a flag can word the same problem its own way (`--queue must be ...`).
   */
  readonly problem?: (value: unknown) => string | undefined;
  /** The value when the option is not given. */
  readonly default?: T;
  /** The option must be given (its check then names what is missing). */
  readonly required?: boolean;
  /** A default computed afresh for every resolve (a random seed). */
  readonly defaultOf?: () => T;
  /** The unit of a number (`ms`, `MB`, `items`...), for messages and help. */
  readonly unit?: string;
  /** One line: what the option sets (the full documentation is the TSDoc of its interface). */
  readonly doc: string;
  readonly flag?: FlagSpec;
  /** For `choice` flags: the words it takes. */
  readonly choices?: readonly string[];
}

// biome-ignore lint/suspicious/noExplicitAny: a table of specs of any value types.
export type Specs = Readonly<Record<string, OptionSpec<any>>>;

type ValueOf<S> = S extends OptionSpec<infer T> ? T : never;
type HasDefault<S> = S extends
  | { readonly default: unknown }
  | { readonly defaultOf: unknown }
  | { readonly required: true }
  ? true
  : false;

/** What `resolve` returns for a table of specs: every key, its default where it has one. */
export type Resolved<S extends Specs> = {
  readonly [K in keyof S]: HasDefault<S[K]> extends true ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

/** A declared option set: its specs, its keys (the specs' own), and what messages call it. */
export interface OptionSet<S extends Specs> {
  /** `the Pool options`: how messages name the whole. */
  readonly what: string;
  readonly specs: S;
  readonly keys: readonly string[];
}

/** Declare an option set: `what` names it in messages; the keys are the specs' own. */
export function optionSet<S extends Specs>(what: string, specs: S): OptionSet<S> {
  return { what, specs, keys: Object.keys(specs) };
}

/**
 * `true` when `A` and `B` have the same keys. A set that reads a public interface asserts it
 * (`keysMatch<typeof POOL.specs, PoolOptions>(true)`), so the compiler refuses an interface
 * key the set does not declare, or the reverse.
 */
export type SameKeys<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never]
  ? true
  : false;

/** The compile-time check of `SameKeys`; does nothing at run time. */
export function keysMatch<A, B>(_same: SameKeys<A, B>): void {}

export interface ResolveContext<S extends Specs> {
  /** Values that replace the specs' defaults (a call's defaults are its pool's). */
  readonly base?: Partial<Resolved<S>> | undefined;
  /** Put before every key in messages: `backend.` for the redis backend's options. */
  readonly prefix?: string;
}

/**
 * Read `input` as an instance of `set`: a frozen object with every key of the set. Throws
 * `ERR_INVALID_ARG_TYPE` when `input` is not an object, `ERR_INVALID_ARG_VALUE` for a key the
 * set does not have, and whatever a spec's check throws for its value.
 */
export function resolveOptions<S extends Specs>(
  set: OptionSet<S>,
  input: unknown,
  context: ResolveContext<S> = {},
): Resolved<S> {
  checkKnownKeys(set, input);
  const given = input as Record<string, unknown>;
  const base = context.base as Record<string, unknown> | undefined;
  const prefix = context.prefix ?? '';
  const out: Record<string, unknown> = {};
  for (const key of set.keys) {
    const spec = set.specs[key] as OptionSpec;
    const value = given[key];
    if (value !== undefined || spec.required) out[key] = spec.check(value, prefix + key);
    else if (base && key in base) out[key] = base[key];
    else out[key] = spec.defaultOf ? spec.defaultOf() : spec.default;
  }
  return Object.freeze(out) as Resolved<S>;
}

/** Refuse keys nobody reads, so a typo (`wrokers`) is an error and not a silent default. */
export function checkKnownKeys(set: OptionSet<Specs>, input: unknown): void {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidArgTypeError(`Expected ${set.what} to be an object, got ${show(input)}`);
  }
  for (const key of Object.keys(input)) {
    if (Object.hasOwn(set.specs, key)) continue;
    const known = set.keys.length > 0 ? `known: ${set.keys.join(', ')}` : 'there are none';
    const near = nearest(key, set.keys);
    const hint =
      near === undefined ? '' : `: did you mean \`${near}\`, ${describeSpec(set.specs[near] as OptionSpec)}?`;
    throw new InvalidArgValueError(`Unknown option \`${key}\` in ${set.what}${hint} (${known})`);
  }
}

function describeSpec(spec: OptionSpec): string {
  return spec.unit ? `${spec.doc}, in ${spec.unit}` : spec.doc;
}

/**
 * The known key closest to `key` by Damerau–Levenshtein distance (a swap of two neighbours
 * counts as one edit, the commonest typo), if it is close enough to be the one meant: at most
 * a third of the key's length, and at least one edit's worth. Case differences count as half.
 */
export function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(key.length / 3));
  for (const candidate of known) {
    const distance = editDistance(key, candidate);
    if (distance < bestDistance || (distance === bestDistance && best === undefined)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance (Damerau–Levenshtein without repeated edits of one substring). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const x = a[i - 1] as string;
      const y = b[j - 1] as string;
      const cost = x === y ? 0 : x.toLowerCase() === y.toLowerCase() ? 0.5 : 1;
      let v = Math.min(
        (d[(i - 1) * cols + j] as number) + 1,
        (d[i * cols + j - 1] as number) + 1,
        (d[(i - 1) * cols + j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && x === b[j - 2] && a[i - 2] === y) {
        v = Math.min(v, (d[(i - 2) * cols + j - 2] as number) + 1);
      }
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1] as number;
}
