/**
 * Why a task module does not load, in one line naming the file and the line: "cannot load task
 * module tasks.mjs (line 3, column 11): SyntaxError: Unexpected token ';'".
 *
 * Node keeps the place of a syntax error in an ES module out of the error it throws (it prints
 * it only when the error is never caught), so the place is found again here by parsing the file
 * with acorn; under tsx the error is esbuild's, whose message names the place. Any other error
 * thrown while the module loads is placed by the first frame of its stack in the module.
 * Loaded only when a module has failed to load.
 */

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadAcorn } from '../layout.js';

interface Place {
  /** The file, when it is another module than the task module (one it imports). */
  readonly file?: string;
  readonly line: number;
  readonly column?: number;
}

/** The line for the error thrown by importing the task module `path` (resolved: `file`). */
export async function loadFailure(path: string, file: string, error: unknown): Promise<string> {
  const { name, message } = nameAndMessage(error);
  // esbuild (tsx): "Transform failed with 1 error:\n/abs/tasks.ts:3:10: ERROR: Unexpected ";"".
  const esbuild = /^(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(message);
  if (esbuild) {
    const [, where, line, column, text] = esbuild as unknown as [string, string, string, string, string];
    const place = { line: Number(line), column: Number(column) + 1 };
    return describe(path, where === file ? place : { ...place, file: where }, 'SyntaxError', text);
  }
  // Node's SyntaxError has no place; a loader's parse error (tsx reading a .mjs file: "Parse
  // error /abs/tasks.mjs:1:1") may have a wrong one. Acorn says where, and what.
  if (name === 'SyntaxError' || /parse error/i.test(message)) {
    const syntax = await syntaxError(file);
    if (syntax) {
      const text = name === 'SyntaxError' ? message : syntax.message;
      return describe(path, syntax.place, 'SyntaxError', text);
    }
  }
  return describe(path, framePlace(error, file), name, message);
}

function describe(path: string, place: Place | undefined, name: string, message: string): string {
  const firstLine = message.split('\n')[0];
  if (!place) return `cannot load task module ${path}: ${name}: ${firstLine}`;
  const inFile = place.file === undefined ? '' : ` in ${relative(process.cwd(), place.file)}`;
  const column = place.column === undefined ? '' : `, column ${place.column}`;
  return `cannot load task module ${path} (line ${place.line}${column}${inFile}): ${name}: ${firstLine}`;
}

function nameAndMessage(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'thrown value', message: String(error) };
}

/**
 * Where a JavaScript module fails to parse, and why, by acorn. Undefined when it parses (the
 * syntax error is in a module it imports) or is not JavaScript acorn reads.
 */
async function syntaxError(file: string): Promise<{ place: Place; message: string } | undefined> {
  if (!/\.[mc]?js$/.test(file)) return undefined;
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const { parse } = loadAcorn();
  try {
    parse(source, {
      ecmaVersion: 'latest',
      sourceType: file.endsWith('.cjs') ? 'script' : 'module',
      allowHashBang: true,
    });
  } catch (parseError) {
    const { loc, message } = parseError as { loc?: { line: number; column: number }; message: string };
    // Acorn ends its message with the place: "Unexpected token (2:16)".
    if (loc)
      return {
        place: { line: loc.line, column: loc.column + 1 },
        message: message.replace(/ \(\d+:\d+\)$/, ''),
      };
  }
  return undefined;
}

/** The first frame of the error's stack in the module itself: where it threw while loading. */
function framePlace(error: unknown, file: string): Place | undefined {
  const stack = (error as { stack?: unknown } | undefined)?.stack;
  if (typeof stack !== 'string') return undefined;
  for (const prefix of [pathToFileURL(file).href, file]) {
    const at = stack.indexOf(`${prefix}:`);
    if (at === -1) continue;
    const match = /^:(\d+):(\d+)/.exec(stack.slice(at + prefix.length));
    if (match) return { line: Number(match[1]), column: Number(match[2]) };
  }
  return undefined;
}
