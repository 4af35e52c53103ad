/** Errors as the dashboard lists them: one line of text each, the stack kept short. */

import type { ErrorView } from './types.js';

const MAX_MESSAGE = 2000;
const MAX_STACK = 4000;

export interface ErrorPlace {
  readonly at: number;
  readonly worker: string | null;
  readonly task: string | null;
  readonly index: number | null;
}

/** An error as a backend hands it over, rebuilt (a task threw it; a crash, a timeout, a module that failed to load). */
export function viewOfError(place: ErrorPlace, error: unknown): ErrorView {
  if (!(error instanceof Error)) {
    return {
      ...place,
      code: null,
      name: 'Error',
      message: clip(`thrown: ${describeThrown(error)}`, MAX_MESSAGE),
      stack: null,
    };
  }
  const code = (error as { code?: unknown }).code;
  return {
    ...place,
    code: typeof code === 'string' ? clip(code, 100) : null,
    name: clip(error.name, 100),
    message: clip(error.message, MAX_MESSAGE),
    stack: typeof error.stack === 'string' ? clip(error.stack, MAX_STACK) : null,
  };
}

/** An error with a fixed code and message (a result that could not be sent back). */
export function viewOfMessage(place: ErrorPlace, code: string, name: string, message: string): ErrorView {
  return { ...place, code, name, message: clip(message, MAX_MESSAGE), stack: null };
}

function describeThrown(value: unknown): string {
  try {
    return typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    return 'a value that cannot be shown';
  }
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
