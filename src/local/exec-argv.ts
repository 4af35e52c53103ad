/**
 * Which Node flags a process that fanout starts inherits from the caller: a worker process, a
 * worker thread given extra flags, the CLI re-run under tsx, a demo's measured child.
 *
 * Such a child runs one program, fanout's own (for a worker, the worker entry), so the caller's
 * flags fall in three groups:
 *
 * - **runtime** flags configure how code runs and how modules load: `--import tsx`, `--require`,
 *   `--loader`, `--conditions`, `--experimental-*`, `--max-old-space-size`,
 *   `--enable-source-maps`, ... A worker needs them to import the caller's task modules the same
 *   way, so it inherits them. Any flag not named below is one of these (a newer Node's flags too).
 * - **program** flags choose what node runs instead of the script it is given, or how it reads
 *   it: `-e`, `-p`, `--input-type`, `--test`, `--watch`, `--check`, `-i`, `--run`, snapshots,
 *   `--version`... Inherited, they make the child run the *caller's* program: under `node -e`,
 *   every worker re-ran the caller's code, which started a pool, whose workers re-ran it, ... (a
 *   fork bomb). A child never gets them, and a pool's `execArgv` may not name them.
 * - **caller-only** flags belong to the caller's own process: the inspector (a worker cannot
 *   listen on the caller's port, and `--inspect-brk` would stop every worker before its first
 *   line, waiting for a debugger nobody attaches) and `--env-file` (the child is given the
 *   caller's environment, which already holds the file's variables). Not inherited; a pool's
 *   `execArgv` may still ask for them (`execArgv: ['--inspect=0']` to debug workers).
 *
 * Flags are matched by name, so an unknown flag counts as a runtime one; the worker guard
 * (worker/starting.ts) stops a worker process that runs anything but the entry from starting
 * workers of its own, whatever flag made it do so.
 */

import { InvalidArgValueError } from '../errors.js';

/** One flag of a Node command line. */
export interface NodeFlag {
  /** The long name, normalised: `-e` → `--eval`, `--input_type` → `--input-type`. */
  readonly name: string;
  /** Its value (`--import tsx`, `--import=tsx`), if it has one. */
  readonly value: string | undefined;
  /** The tokens it was written as: one, or two when the value is separate. */
  readonly tokens: readonly string[];
}

const SHORT: Readonly<Record<string, string>> = {
  '-e': '--eval',
  '-p': '--print',
  '-pe': '--eval', // eval and print
  '-c': '--check',
  '-i': '--interactive',
  '-r': '--require',
  '-C': '--conditions',
  '-v': '--version',
  '-h': '--help',
  '--debug-port': '--inspect-port',
};

function canonical(written: string): string {
  // Node reads `_` in a long flag's name as `-` (`--input_type=module` works).
  const name =
    written.startsWith('--') && written !== '--' ? `--${written.slice(2).replaceAll('_', '-')}` : written;
  return SHORT[name] ?? name;
}

/**
 * Split a Node command line (`process.execArgv`, a pool's `execArgv`) into flags. Node takes a
 * separate value only when it does not start with `-` (it refuses `-e -1` and `--require -x`), so
 * a token that does not start with `-` always belongs to the flag before it. A token before any
 * flag, or after `--`, is a script: it gets the name `''`.
 */
export function parseNodeFlags(args: readonly string[]): NodeFlag[] {
  const flags: NodeFlag[] = [];
  for (let i = 0; i < args.length; i++) {
    const token = args[i] as string;
    if (!token.startsWith('-')) {
      flags.push({ name: '', value: token, tokens: [token] });
      continue;
    }
    const equals = token.startsWith('--') ? token.indexOf('=') : -1;
    const tokens = [token];
    let value = equals === -1 ? undefined : token.slice(equals + 1);
    if (value === undefined && token !== '--') {
      while (i + 1 < args.length && !(args[i + 1] as string).startsWith('-')) {
        i++;
        tokens.push(args[i] as string);
        value ??= args[i];
      }
    }
    flags.push({ name: canonical(equals === -1 ? token : token.slice(0, equals)), value, tokens });
    if (token === '--') {
      // Everything after `--` is the script and its arguments.
      for (const rest of args.slice(i + 1)) flags.push({ name: '', value: rest, tokens: [rest] });
      break;
    }
  }
  return flags;
}

const PROGRAM = new Set([
  '', // a script
  '--', // the end of the flags: a script follows
  '-', // the program from stdin
  '--eval',
  '--print',
  '--input-type',
  '--check',
  '--interactive',
  '--test',
  '--watch',
  '--watch-path',
  '--watch-preserve-output',
  '--run',
  '--entry-url',
  '--version',
  '--help',
  '--v8-options',
  '--prof-process',
  '--completion-bash',
  '--build-snapshot',
  '--build-snapshot-config',
  '--snapshot-blob',
  '--experimental-sea-config',
]);
/** Test runner settings: a worker is never a test run. */
const PROGRAM_PREFIXES = ['--test-', '--experimental-test-'];
const CALLER_ONLY_PREFIXES = ['--inspect', '--env-file'];

export type FlagRole = 'runtime' | 'program' | 'caller-only';

/** Which of the three groups a flag (by its canonical name) belongs to. */
export function flagRole(name: string): FlagRole {
  if (PROGRAM.has(name) || PROGRAM_PREFIXES.some((prefix) => name.startsWith(prefix))) return 'program';
  if (CALLER_ONLY_PREFIXES.some((prefix) => name.startsWith(prefix))) return 'caller-only';
  return 'runtime';
}

/** The caller's flags a child inherits: its runtime flags, in their order and spelling. */
export function inheritedExecArgv(args: readonly string[] = process.execArgv): string[] {
  return parseNodeFlags(args)
    .filter((flag) => flagRole(flag.name) === 'runtime')
    .flatMap((flag) => flag.tokens);
}

/**
 * `NODE_OPTIONS` split as node splits it: at spaces, except inside double quotes, where a
 * backslash escapes the next character.
 */
export function splitNodeOptions(value: string): string[] {
  const tokens: string[] = [];
  let token: string | undefined;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (quoted && c === '\\' && i + 1 < value.length) token = (token ?? '') + value[++i];
    else if (c === '"') {
      quoted = !quoted;
      token ??= '';
    } else if (c === ' ' && !quoted) {
      if (token !== undefined) tokens.push(token);
      token = undefined;
    } else token = (token ?? '') + c;
  }
  if (token !== undefined) tokens.push(token);
  return tokens;
}

function quoteNodeOption(token: string): string {
  return token !== '' && !/[ "\\]/.test(token) ? token : `"${token.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * The environment of a worker process: `env`, with the same rule applied to `NODE_OPTIONS`
 * (node reads it in every process, so `NODE_OPTIONS=--input-type=module` would otherwise stop
 * every worker from loading its entry). Left as it was when nothing is dropped.
 */
export function inheritedEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const options = env.NODE_OPTIONS;
  if (options === undefined) return env;
  const tokens = splitNodeOptions(options);
  const kept = inheritedExecArgv(tokens);
  if (kept.length === tokens.length) return env;
  return { ...env, NODE_OPTIONS: kept.map(quoteNodeOption).join(' ') };
}

/**
 * The flags a worker starts with: the caller's runtime flags, then the pool's `execArgv`, which
 * may not choose the worker's program.
 */
export function workerExecArgv(extra: readonly string[] = []): string[] {
  for (const flag of parseNodeFlags(extra)) {
    if (flagRole(flag.name) === 'program') {
      throw new InvalidArgValueError(
        `\`execArgv\` may not contain ${JSON.stringify(flag.tokens.join(' '))}: it chooses the program node runs, and a worker only ever runs fanout's worker entry`,
      );
    }
  }
  return [...inheritedExecArgv(), ...extra];
}
