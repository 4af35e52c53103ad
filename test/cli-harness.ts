/**
 * Running the compiled `fanout` command in tests (test/cli.test.ts, test/demos.test.ts), and
 * reading the tables the demos print.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The compiled entry point, for tests that start it themselves. */
export const cliPath = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/** A `skip` reason when the CLI has not been built (npm test builds it first). */
export const skipWithoutBuild = !existsSync(cliPath) && 'run `npm run build` first';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run the compiled CLI under plain node, with `input` on its stdin (a .ts task module makes it
 * re-run itself under tsx).
 */
export async function runCli(args: string[], input?: string): Promise<CliResult> {
  const child = execFile(process.execPath, [cliPath, ...args], { env: { ...process.env, NODE_OPTIONS: '' } });
  child.stdin?.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  return { code, stdout, stderr };
}

/** The cells of every table row that starts with `label` (columns are two or more spaces apart). */
export function rows(stdout: string, label: string): string[][] {
  const found = stdout
    .split('\n')
    .filter((l) => l.startsWith(`${label}  `))
    .map((l) => l.split(/ {2,}/).map((cell) => cell.trim()));
  assert.ok(found.length > 0, `no row "${label}" in:\n${stdout}`);
  return found;
}

/** The cells of the first table row that starts with `label`. */
export const row = (stdout: string, label: string): string[] => rows(stdout, label)[0] as string[];

/** A number as printed in a table: 1,234,567 or 0.0140 or 1.93×. */
export const numberIn = (cell: string | undefined): number => Number((cell ?? '').replace(/[,×%]/g, ''));

/**
 * Decode one line of `fanout run` output as its --help and the README describe it, written apart
 * from the encoder so that the tests check the documented format, not the code against itself.
 * An object with a "$fanout" member is a tag; any other object or array is plain data.
 */
export function decodeRunLine(line: string): unknown {
  const json = JSON.parse(line);
  if (json?.$fanout === 'error') return new FailedLine(json.error);
  return decode(json);
}

/** A decoded error record: the line of an item that failed. */
export class FailedLine {
  constructor(
    readonly error: { index?: number; line?: number; code: string; message: string; cause?: string },
  ) {}
}

const NUMBERS: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
  '-0': -0,
};

const TYPED: Record<string, new (values: never[]) => ArrayLike<unknown>> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

const ERRORS: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

function decode(json: unknown): unknown {
  if (Array.isArray(json)) {
    const array: unknown[] = new Array(json.length);
    json.forEach((element, i) => {
      if (element?.$fanout !== 'hole') array[i] = decode(element);
    });
    return array;
  }
  if (json === null || typeof json !== 'object') return json;
  const object = json as Record<string, unknown>;
  if (!Object.hasOwn(object, '$fanout')) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(object)) {
      Object.defineProperty(out, key, {
        value: decode(value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  const tag = object.$fanout as string;
  const bytes = () => Buffer.from(object.base64 as string, 'base64');
  switch (tag) {
    case 'undefined':
      return undefined;
    case 'number':
      return NUMBERS[object.value as string] ?? assert.fail(`bad number ${object.value}`);
    case 'bigint':
      return BigInt(object.value as string);
    case 'Date':
      return new Date(object.value === null ? Number.NaN : (object.value as string));
    case 'RegExp':
      return new RegExp(object.source as string, object.flags as string);
    case 'Map':
      return new Map((object.entries as [unknown, unknown][]).map(([k, v]) => [decode(k), decode(v)]));
    case 'Set':
      return new Set((object.values as unknown[]).map(decode));
    case 'Object':
      return Object.fromEntries((object.entries as [string, unknown][]).map(([k, v]) => [k, decode(v)]));
    case 'ArrayBuffer':
      return new Uint8Array(bytes()).buffer;
    case 'SharedArrayBuffer': {
      const shared = new SharedArrayBuffer(bytes().length);
      new Uint8Array(shared).set(bytes());
      return shared;
    }
    case 'DataView':
      return new DataView(new Uint8Array(bytes()).buffer);
    case 'Error': {
      const Class = ERRORS[object.name as string] ?? Error;
      const error =
        'cause' in object
          ? new Class(object.message as string, { cause: decode(object.cause) })
          : new Class(object.message as string);
      if (object.props) Object.assign(error, decode(object.props));
      return error;
    }
    case 'Number':
    case 'String':
    case 'Boolean':
    case 'BigInt':
      return Object(decode(object.value));
  }
  const Typed = TYPED[tag];
  if (Typed) return new Typed((object.values as unknown[]).map(decode) as never[]);
  return assert.fail(`unknown tag ${tag}`);
}
