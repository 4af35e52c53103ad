/**
 * Errors cross a worker boundary as plain data and are rebuilt on the other side: the same
 * class for JavaScript's built-in errors, the `name`, `message`, the remote `stack`, `code`
 * and other own properties, and the whole `cause` chain (AggregateError's `errors` too).
 */

/** JavaScript's built-in error classes, by name: what a rebuilt error keeps as its class. */
export const BUILTIN_ERRORS = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
} as const;
const builtins = BUILTIN_ERRORS;
type BuiltinName = keyof typeof BUILTIN_ERRORS;

/** A thrown value in transit. `thrown` is set when the value was not an Error at all. */
export interface SerializedError {
  readonly ctor: BuiltinName;
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
  readonly props?: Record<string, unknown> | undefined;
  readonly cause?: SerializedError | undefined;
  readonly errors?: SerializedError[] | undefined;
  readonly thrown?: { value: unknown } | undefined;
}

const MAX_DEPTH = 8;

function builtinOf(error: Error): BuiltinName {
  for (let proto = Object.getPrototypeOf(error); proto; proto = Object.getPrototypeOf(proto)) {
    const name = proto.constructor?.name;
    if (name in builtins && proto === (builtins as Record<string, { prototype: unknown }>)[name]?.prototype) {
      return name as BuiltinName;
    }
  }
  return 'Error';
}

/** Keep only own properties that are plain data, so the record always crosses. */
function plainProps(error: Error): Record<string, unknown> | undefined {
  let props: Record<string, unknown> | undefined;
  for (const key of Object.keys(error)) {
    if (key === 'message' || key === 'stack' || key === 'cause' || key === 'errors') continue;
    const value = (error as unknown as Record<string, unknown>)[key];
    if (isPlainData(value, 0)) (props ??= {})[key] = value;
  }
  // `code` is often non-enumerable on library errors; keep it anyway.
  const code = (error as { code?: unknown }).code;
  if (code !== undefined && !(props && 'code' in props) && isPlainData(code, 0)) (props ??= {}).code = code;
  return props;
}

function isPlainData(value: unknown, depth: number): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return true;
    case 'object': {
      if (depth > 4) return false;
      if (Array.isArray(value)) return value.every((v) => isPlainData(v, depth + 1));
      const proto = Object.getPrototypeOf(value);
      if (proto === Date.prototype) return true;
      if (proto !== Object.prototype && proto !== null) return false;
      return Object.values(value as object).every((v) => isPlainData(v, depth + 1));
    }
    default:
      return false;
  }
}

/** Turn anything a task threw into a record that crosses any boundary. */
export function serializeError(value: unknown, depth = 0): SerializedError {
  if (!(value instanceof Error)) {
    return {
      ctor: 'Error',
      name: 'Error',
      message: describeThrown(value),
      thrown: isPlainData(value, 0) ? { value } : undefined,
    };
  }
  const cause = (value as { cause?: unknown }).cause;
  const errors = value instanceof AggregateError ? value.errors : undefined;
  return {
    ctor: builtinOf(value),
    name: value.name,
    message: value.message,
    stack: value.stack,
    props: plainProps(value),
    cause: cause !== undefined && depth < MAX_DEPTH ? serializeError(cause, depth + 1) : undefined,
    errors:
      errors && depth < MAX_DEPTH ? errors.map((e: unknown) => serializeError(e, depth + 1)) : undefined,
  };
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return `Non-error value thrown: ${JSON.stringify(value) ?? String(value)}`;
  } catch {
    return `Non-error value thrown: ${String(value)}`;
  }
}

/** Rebuild a serialized error: same built-in class, name, message, remote stack, own properties, cause chain. */
export function deserializeError(record: SerializedError): unknown {
  if (record.thrown) return record.thrown.value;
  const Ctor = builtins[record.ctor] ?? Error;
  const error: Error =
    Ctor === AggregateError
      ? new AggregateError((record.errors ?? []).map(deserializeError), record.message)
      : new (Ctor as ErrorConstructor)(record.message);
  if (record.name !== error.name) {
    Object.defineProperty(error, 'name', { value: record.name, writable: true, configurable: true });
  }
  if (record.stack !== undefined) {
    Object.defineProperty(error, 'stack', { value: record.stack, writable: true, configurable: true });
  }
  if (record.props) Object.assign(error, record.props);
  if (record.cause) {
    Object.defineProperty(error, 'cause', {
      value: deserializeError(record.cause),
      writable: true,
      configurable: true,
    });
  }
  return error;
}
