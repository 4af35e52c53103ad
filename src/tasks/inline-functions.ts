/**
 * Inline functions: `pool.map((x, ctx) => x * ctx.factor, items, { context: { factor } })`.
 *
 * A worker cannot see the caller's variables: the function travels as source text and is
 * compiled there, once per worker. So before anything is sent, the source is parsed (acorn)
 * and every name it reads that it does not declare itself, and that is not a global, is
 * reported with both fixes. The check is deliberately simple: it treats every name declared
 * anywhere inside the function as declared everywhere in it, so it never rejects a correct
 * function; a rare shadowing case can slip through and fail in the worker as a ReferenceError.
 */

import { InlineFunctionError } from '../errors.js';
import { loadAcorn } from '../layout.js';
import type { AnyFunction } from '../types.js';

/**
 * acorn's parser, loaded on the first inline function: a program that only runs task modules
 * never pays for it (~12 ms of a start-up, in the caller and in every worker that imports
 * fanout). Loaded synchronously, so the check still runs where the call is made.
 */
let acornParse: typeof import('acorn').parse | undefined;
function parse(...args: Parameters<typeof import('acorn').parse>): ReturnType<typeof import('acorn').parse> {
  acornParse ??= loadAcorn().parse;
  return acornParse(...args);
}

type Node = { type: string; [key: string]: unknown };

/** An inline function as a batch names it: compiled from `source` once per worker, then known by `fnId`. */
export interface InlineSpec {
  readonly kind: 'inline';
  readonly fnId: number;
  readonly source?: string;
  readonly name: string;
}

const ids = new WeakMap<AnyFunction, { spec: InlineSpec; name: string }>();
let nextId = 1;

/** Globals a task may read in any worker (the same realm builtins the caller has). */
function isGlobal(name: string): boolean {
  return name in globalThis || name === 'arguments' || name === 'undefined';
}

/** Source that evaluates to the function: method shorthand (`f(x) {}`) becomes a function expression. */
function expressionSource(fn: AnyFunction): string {
  const source = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
    throw new InlineFunctionError(
      `${fn.name || 'This function'} is a built-in (native) function and has no source to send; wrap it: (x) => ${fn.name || 'f'}(x)`,
    );
  }
  const trimmed = source.trimStart();
  if (
    /^(async\s+)?(function\b|\(|[A-Za-z_$][\w$]*\s*=>|class\b)/.test(trimmed) ||
    /^async\s*\(/.test(trimmed)
  ) {
    return source;
  }
  // `name(...) {}`, `async name(...) {}`, `*name(...) {}`: a method written in shorthand.
  const method = /^(async\s+)?(\*?)\s*/.exec(trimmed);
  return `${method?.[1] ?? ''}function${method?.[2] ?? ''} ${trimmed.slice(method?.[0].length ?? 0)}`;
}

function collect(node: unknown, declared: Set<string>, read: Set<string>): void {
  if (Array.isArray(node)) {
    for (const child of node) collect(child, declared, read);
    return;
  }
  if (node === null || typeof node !== 'object' || typeof (node as Node).type !== 'string') return;
  const n = node as Node;
  switch (n.type) {
    case 'Identifier':
      read.add(n.name as string);
      return;
    case 'VariableDeclarator':
      declarePattern(n.id, declared, read);
      collect(n.init, declared, read);
      return;
    case 'FunctionDeclaration':
    case 'FunctionExpression':
    case 'ArrowFunctionExpression':
      if (n.id) declared.add((n.id as Node).name as string);
      for (const param of n.params as unknown[]) declarePattern(param, declared, read);
      collect(n.body, declared, read);
      return;
    case 'ClassDeclaration':
    case 'ClassExpression':
      if (n.id) declared.add((n.id as Node).name as string);
      collect(n.superClass, declared, read);
      collect(n.body, declared, read);
      return;
    case 'CatchClause':
      if (n.param) declarePattern(n.param, declared, read);
      collect(n.body, declared, read);
      return;
    case 'MemberExpression':
      collect(n.object, declared, read);
      if (n.computed) collect(n.property, declared, read);
      return;
    case 'Property':
    case 'PropertyDefinition':
    case 'MethodDefinition':
      if (n.computed) collect(n.key, declared, read);
      collect(n.value, declared, read);
      return;
    case 'LabeledStatement':
      collect(n.body, declared, read);
      return;
    case 'BreakStatement':
    case 'ContinueStatement':
    case 'MetaProperty':
    case 'PrivateIdentifier':
      return;
    default:
      for (const [key, value] of Object.entries(n)) {
        if (key !== 'type' && key !== 'start' && key !== 'end') collect(value, declared, read);
      }
  }
}

/** Names bound by a parameter or declaration pattern; default values inside it are reads. */
function declarePattern(pattern: unknown, declared: Set<string>, read: Set<string>): void {
  if (pattern === null || typeof pattern !== 'object') return;
  const p = pattern as Node;
  switch (p.type) {
    case 'Identifier':
      declared.add(p.name as string);
      return;
    case 'ObjectPattern':
      for (const property of p.properties as Node[]) {
        if (property.type === 'RestElement') declarePattern(property.argument, declared, read);
        else {
          if (property.computed) collect(property.key, declared, read);
          declarePattern(property.value, declared, read);
        }
      }
      return;
    case 'ArrayPattern':
      for (const element of p.elements as unknown[]) declarePattern(element, declared, read);
      return;
    case 'RestElement':
      declarePattern(p.argument, declared, read);
      return;
    case 'AssignmentPattern':
      declarePattern(p.left, declared, read);
      collect(p.right, declared, read);
      return;
  }
}

/**
 * Helpers a compiler adds to a function's source that the caller's program defines and a worker
 * does not: esbuild's keepNames (which tsx turns on) writes `__name(inner, "inner")` after each
 * named function nested in the one sent. Such a name is not the user's variable, so it is not
 * refused: the source sent carries a definition of its own, the same as esbuild's.
 */
const COMPILER_HELPERS: Readonly<Record<string, string>> = {
  __name: '(target, value) => Object.defineProperty(target, "name", { value, configurable: true })',
};

/** Whether every use of `name` in `source` is a call (`__name(f, "f")`), as a compiler writes it. */
function onlyCalled(source: string, name: string): boolean {
  return !new RegExp(`\\b${name}\\b(?!\\s*\\()`).test(source);
}

/**
 * `source` with the compiler helpers it reads defined around it, for a worker to compile as
 * it compiles any inline function: `((__name) => (fn))(definition)`.
 */
function withHelpers(source: string, helpers: readonly string[]): string {
  if (helpers.length === 0) return source;
  const definitions = helpers.map((name) => COMPILER_HELPERS[name]).join(', ');
  return `((${helpers.join(', ')}) => (${source}))(${definitions})`;
}

/** The names `source` reads without declaring them, minus globals. */
export function freeVariables(source: string): string[] {
  const program = parse(`(${source})`, { ecmaVersion: 'latest', sourceType: 'script' });
  const declared = new Set<string>();
  const read = new Set<string>();
  collect(program, declared, read);
  return [...read].filter((name) => !declared.has(name) && !isGlobal(name));
}

/**
 * The task spec of an inline function (made once per function object), after checking that it
 * can run in a worker at all.
 */
export function inlineTask(fn: AnyFunction, call: string): { spec: InlineSpec; name: string } {
  const known = ids.get(fn);
  if (known) return known;
  const source = expressionSource(fn);
  let free: string[];
  try {
    free = freeVariables(source);
  } catch (error) {
    throw new InlineFunctionError(
      `The inline function given to ${call} could not be parsed: ${(error as Error).message}`,
    );
  }
  const helpers = free.filter((name) => Object.hasOwn(COMPILER_HELPERS, name) && onlyCalled(source, name));
  free = free.filter((name) => !helpers.includes(name));
  if (free.length > 0) {
    const names = free.map((n) => `\`${n}\``).join(', ');
    const example = free[0] as string;
    throw new InlineFunctionError(
      `The inline function given to ${call} reads ${names}, defined outside it. A function sent to a worker is ` +
        "compiled there from its source and cannot see the caller's variables. Either pass the values in " +
        `\`context\` and read them from the last argument — ${call}((x, ctx) => ... ctx.${example} ..., items, ` +
        `{ context: { ${free.join(', ')} } }) — or move the function into a task module (defineTasks).`,
    );
  }
  const name = fn.name || 'inline function';
  const made = {
    spec: { kind: 'inline', fnId: nextId++, source: withHelpers(source, helpers), name } as InlineSpec,
    name,
  };
  ids.set(fn, made);
  return made;
}
