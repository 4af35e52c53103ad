/**
 * `fanout run <module> <task>`: GNU parallel for TypeScript functions. One JSON value per line
 * in, one line per item out, streaming: the input is read only as fast as results are written
 * (the pool's window and the output's backpressure bound memory, whatever the size).
 *
 * Every input line that holds an item gets exactly one output line: its result, written without
 * loss (json-line.ts), or an error record naming its index and line. The pool always collects
 * errors; `--errors fail` is decided here, as "stop reading at the first failure", so that a
 * failure never throws away results already computed.
 */

import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from '../api/pool.js';
import { describe as describeError } from '../errors.js';
import { flagValue, UsageError } from '../options/flags.js';
import { MAP, POOL } from '../options/schema.js';
import { makeRef } from '../tasks/tasks.js';
import type { Settled } from '../types.js';
import { EXIT, EXIT_HELP, IoFailure, loadTask, readArgs } from './flags.js';
import { InputLines, Output, SKIP } from './io.js';
import { TAG } from './json-line.js';
import { invalidItem, JSON_LINE_WRAPPER, type LineFailure } from './line-task.js';

export const RUN_USAGE = `Usage: fanout run <task-module> <task> [options]

Calls the task once per input line (a JSON value; blank lines are skipped) and writes one line
per item, in input order unless --unordered. A .ts module runs under tsx (installed in the project).

  --input FILE         JSON lines to read, '-' for stdin (default: -)
  --output FILE        where results go, '-' for stdout (default: -)
  --spread             each input line is an array of arguments: task(...line)
  --workers N          a positive integer, 'auto', -1 (every core), -2 (all but one)
  --backend NAME       threads (default), processes or inline
  --unordered          write results as they complete
  --batch-size N       items per batch (default: automatic)
  --timeout MS         per-item time limit
  --retries N          re-run items whose worker died
  --errors MODE        fail (default): stop reading at the first failed item; the items already
                       read still finish and are written; collect: run every line
  --progress           a progress bar on stderr
  --trace FILE         write a Chrome trace of the run (open it in ui.perfetto.dev)
  --seed N             seed of taskContext().random()
  -h, --help           show this help

${EXIT_HELP} What was written stays.`;

/** `--help` adds how the output is written (kept out of the usage printed with a flag error). */
const RUN_OUTPUT_HELP = `Output: one line per item. A result JSON represents exactly is written as JSON; any other
value as an object tagged with a "$fanout" member naming its type: {"$fanout":"undefined"},
{"$fanout":"hole"} (an empty slot of an array), {"$fanout":"number","value":"NaN"} (also
"Infinity", "-Infinity", "-0"),
{"$fanout":"bigint","value":"12"}, {"$fanout":"Date","value":"<ISO 8601>"},
{"$fanout":"Map","entries":[[k,v],...]}, {"$fanout":"Set","values":[...]},
{"$fanout":"Float64Array","values":[...]} (any typed array), {"$fanout":"ArrayBuffer",
"base64":"..."} (also SharedArrayBuffer, DataView), {"$fanout":"RegExp","source","flags"},
{"$fanout":"Error","name","message","stack","cause","props"}, {"$fanout":"Number","value"}
(a boxed primitive). An object of yours with a "$fanout" key is written as
{"$fanout":"Object","entries":[[k,v],...]}, so an object with a "$fanout" member is always a tag.
Members are written by the same rules.

A failed item is the line {"$fanout":"error","error":{"index","line","code","message","cause"}}:
index counts the items from 0 (as taskContext().index), line is its input line; code is
ERR_TASK_FAILED (the task threw), ERR_TASK_TIMEOUT, ERR_WORKER_CRASHED, ERR_CHUNK_PARSE (the
line is not JSON or, with --spread, not an array) or ERR_NOT_CLONEABLE (the result cannot be
written: a function, a symbol, a class instance, a value that contains itself).`;

/** The error code of a line that holds no item. */
const BAD_LINE_CODE = 'ERR_CHUNK_PARSE';

/**
 * The input line of each item. Items are numbered in reading order; blank lines are skipped, so
 * the two drift apart. Only the points where they drift are kept (one per run of blank lines),
 * not one entry per item.
 */
class LineNumbers {
  private readonly firstIndex: number[] = [0];
  private readonly lineMinusIndex: number[] = [1];

  add(index: number, line: number): void {
    const offset = line - index;
    if (offset === this.lineMinusIndex[this.lineMinusIndex.length - 1]) return;
    this.firstIndex.push(index);
    this.lineMinusIndex.push(offset);
  }

  of(index: number): number {
    let low = 0;
    let high = this.firstIndex.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.firstIndex[mid] as number) <= index) low = mid;
      else high = mid - 1;
    }
    return index + (this.lineMinusIndex[low] as number);
  }
}

/** What went wrong with one item, as its error record says it. */
interface ItemFailure {
  readonly index: number | undefined;
  readonly code: string;
  readonly message: string;
  readonly cause?: string | undefined;
  /** The original error, for the stack printed when it stops the run. */
  readonly error?: unknown;
}

function safeDescription(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  try {
    return describeError(value);
  } catch {
    return 'a value that cannot be described';
  }
}

/**
 * Where an error was thrown, as " (at tasks.ts:12:9)": the top frame of its stack outside
 * Node.js, relative to the working directory. Errors are printed in one line, without their
 * stack; this keeps the place that a stack would have shown first.
 */
function thrownAt(error: unknown): string {
  const stack = error instanceof Error && typeof error.stack === 'string' ? error.stack : '';
  for (const line of stack.split('\n')) {
    const frame = /^\s+at (?:.*\()?(.+?):(\d+):(\d+)\)?$/.exec(line);
    if (!frame || frame[1]?.startsWith('node:')) continue;
    const file = frame[1]?.startsWith('file://') ? fileURLToPath(frame[1]) : (frame[1] as string);
    return ` (at ${relative(process.cwd(), file)}:${frame[2]}:${frame[3]})`;
  }
  return '';
}

export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = readArgs({
    args,
    allowPositionals: true,
    options: {
      input: { type: 'string', default: '-' },
      output: { type: 'string', default: '-' },
      spread: { type: 'boolean', default: false },
      workers: { type: 'string' },
      backend: { type: 'string' },
      unordered: { type: 'boolean', default: false },
      'batch-size': { type: 'string' },
      timeout: { type: 'string' },
      retries: { type: 'string' },
      errors: { type: 'string' },
      progress: { type: 'boolean', default: false },
      trace: { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${RUN_USAGE}\n\n${RUN_OUTPUT_HELP}\n`);
    return EXIT.ok;
  }
  const [modulePath, taskName, ...extra] = positionals;
  if (!modulePath || !taskName) throw new UsageError('expected a task module and a task name');
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  // The flags that set options are read by those options' own declarations (options/schema.ts).
  const backend = flagValue(POOL.specs.backend, values.backend) ?? 'threads';
  const workers = flagValue(POOL.specs.workers, values.workers) ?? 'auto';
  const errors = flagValue(MAP.specs.errors, values.errors) ?? 'fail';
  const batchSize = flagValue(MAP.specs.batchSize, values['batch-size']);
  const timeout = flagValue(MAP.specs.timeout, values.timeout);
  const retries = flagValue(MAP.specs.retries, values.retries);
  const seed = flagValue(MAP.specs.seed, values.seed);
  const trace = flagValue(MAP.specs.trace, values.trace);
  const spread = values.spread;
  const ordered = !values.unordered;
  const loaded = await loadTask(modulePath, taskName);
  // Each result comes back as its output line, written in the worker (see line-task.ts).
  const task = makeRef(loaded.module, loaded.taskName, loaded, JSON_LINE_WRAPPER);

  // Open the input before the output: a missing input must not truncate the output file.
  const input = await InputLines.open(values.input);
  let output: Output;
  try {
    output = await Output.open(values.output);
  } catch (error) {
    input.stop();
    throw error;
  }

  const lineNumbers = new LineNumbers();
  /** Why each line sent as an invalid item is not one, by index, until its record is written. */
  const invalid = new Map<number, string>();
  let nextIndex = 0;
  /** A line as an item: its JSON value, or the stand-in for a line that is not an item. */
  const toItem = (text: string, line: number): unknown => {
    if (text.trim() === '') return SKIP;
    const index = nextIndex++;
    lineNumbers.add(index, line);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      invalid.set(index, `not JSON (${(error as Error).message})`);
      return invalidItem(spread);
    }
    if (spread && !Array.isArray(value)) {
      invalid.set(index, 'not an array of arguments (--spread calls task(...line))');
      return invalidItem(spread);
    }
    return value;
  };

  /** The item's record, for a settled result that is not a line. */
  const failureOf = (settled: Settled<unknown>, position: number): ItemFailure => {
    if (settled.status === 'fulfilled') {
      const failure = settled.value as LineFailure;
      if (failure.failed === 'input') {
        const message = invalid.get(failure.index) ?? 'not an item';
        invalid.delete(failure.index);
        return { index: failure.index, code: BAD_LINE_CODE, message };
      }
      return {
        index: failure.index,
        code: 'ERR_NOT_CLONEABLE',
        message: `Task "${taskName}": the result of item ${failure.index} cannot be written as a line: it is ${failure.problem}`,
      };
    }
    const reason = settled.reason as { index?: unknown; code?: unknown; cause?: unknown } | undefined;
    // Every error of an item names its index; the order of the output is the fallback.
    const index = typeof reason?.index === 'number' ? reason.index : ordered ? position : undefined;
    return {
      index,
      code: typeof reason?.code === 'string' ? reason.code : 'ERR_TASK_FAILED',
      message: (reason instanceof Error ? reason.message : safeDescription(reason)) ?? 'failed',
      cause: safeDescription(reason?.cause),
      error: reason,
    };
  };

  const pool =
    backend === 'inline'
      ? new Pool({ backend, concurrency: workers === 'auto' ? 1 : Math.max(1, workers) })
      : new Pool({ backend, workers });
  const options = {
    ordered,
    batchSize,
    timeout,
    retries,
    seed,
    progress: values.progress ? { label: taskName } : false,
    trace,
    errors: 'collect',
  } as const;
  let written = 0;
  let failed = 0;
  let exitCode: number = EXIT.ok;
  try {
    const results = (
      spread
        ? pool.istarmap(task, input.items(toItem) as AsyncIterable<unknown[]>, options)
        : pool.imap(task, input.items(toItem), options)
    ) as AsyncIterable<Settled<unknown>>;
    for await (const settled of results) {
      const position = written++;
      if (settled.status === 'fulfilled') {
        const { value } = settled;
        if (typeof value === 'string') {
          await output.write(`${value}\n`);
          continue;
        }
        // A number that is its own line (see line-task.ts). JSON.stringify, not String(): the
        // same text, and ~20% less main-thread time per line written (measured on 1M numbers).
        if (typeof value === 'number') {
          await output.write(`${JSON.stringify(value)}\n`);
          continue;
        }
      }
      const failure = failureOf(settled, position);
      failed++;
      const line = failure.index === undefined ? undefined : lineNumbers.of(failure.index);
      const record = {
        index: failure.index,
        line,
        code: failure.code,
        message: failure.message,
        cause: failure.cause,
      };
      await output.write(`${JSON.stringify({ [TAG]: 'error', error: record })}\n`);
      if (errors === 'fail' && failed === 1) {
        // Fail fast: read no further; what was read still runs, and every result is written.
        input.stop();
        const where = line === undefined ? '' : `${input.name}, line ${line}: `;
        const cause = (failure.error as { cause?: unknown } | undefined)?.cause;
        process.stderr.write(`fanout run: ${where}${failure.message}${thrownAt(cause)}\n`);
      }
    }
  } catch (error) {
    // The output failed: leaving the loop has cancelled the work in flight.
    if (error instanceof IoFailure) throw error;
    // The call itself failed (the task module does not load in a worker, workers cannot start).
    const cause = (error as { cause?: unknown }).cause;
    const message = safeDescription((error as Error).message ?? error)?.split('\n')[0];
    process.stderr.write(`fanout run: ${message}${thrownAt(cause)}\n`);
    exitCode = EXIT.failed;
  } finally {
    input.stop();
    await pool.close();
  }
  if (failed > 0) {
    if (errors === 'collect') process.stderr.write(`fanout run: ${failed} of ${written} items failed\n`);
    exitCode = EXIT.failed;
  }
  await output.close();
  if (input.failure) throw input.failure;
  return exitCode;
}
