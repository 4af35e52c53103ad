/**
 * `fanout run <module> <task>`: GNU parallel for TypeScript functions. One JSON value per line
 * in, one result per line out, streaming: the input is read only as fast as results are
 * written (the pool's window and the output's backpressure bound memory, whatever the size).
 */

import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { describe as describeError, type FanoutError } from '../errors.js';
import { Pool } from '../pool.js';
import type { Settled } from '../scheduler/call.js';
import {
  choiceFlag,
  loadTask,
  nonNegativeIntegerFlag,
  positiveIntegerFlag,
  UsageError,
  workersFlag,
} from './flags.js';

export const RUN_USAGE = `Usage: fanout run <task-module> <task> [options]

Calls the task once per input line (a JSON value) and writes one JSON result per line, in input
order unless --unordered. A .ts module runs under tsx (installed in the project).

  --input FILE         JSON lines to read, '-' for stdin (default: -)
  --output FILE        where results go, '-' for stdout (default: -)
  --spread             each input line is an array of arguments: task(...line)
  --workers N          a positive integer, 'auto', -1 (every core), -2 (all but one)
  --backend NAME       threads (default), processes or inline
  --unordered          write results as they complete
  --batch-size N       items per batch (default: automatic)
  --timeout MS         per-item time limit
  --retries N          re-run items whose worker died
  --errors MODE        fail (default): stop at the first error, exit 1;
                       collect: write {"error": {...}} for failed items, exit 1 if any failed
  --progress           a progress bar on stderr
  --trace FILE         write a Chrome trace of the run (open it in ui.perfetto.dev)
  --seed N             seed of taskContext().random()
  -h, --help           show this help

Exit code: 0 when every item succeeded, 1 when some failed, 2 for bad flags.`;

/** Parsed JSON lines, numbered, read lazily (the pool pulls them as its window allows). */
async function* jsonLines(path: string, onLine: (n: number) => void): AsyncGenerator<unknown> {
  const stream = path === '-' ? process.stdin : createReadStream(path);
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    onLine(n);
    try {
      yield JSON.parse(line);
    } catch (error) {
      throw new UsageError(
        `${path === '-' ? 'stdin' : path}, line ${n}: not JSON (${(error as Error).message})`,
      );
    }
  }
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

function errorRecord(index: number, error: unknown): string {
  const e = error as Partial<FanoutError> & { cause?: unknown };
  return JSON.stringify({
    error: {
      index,
      code: e?.code ?? 'ERR_TASK_FAILED',
      message: e instanceof Error ? e.message : describeError(error),
      cause: e?.cause === undefined ? undefined : describeError(e.cause),
    },
  });
}

export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
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
    process.stdout.write(`${RUN_USAGE}\n`);
    return 0;
  }
  const [modulePath, taskName, ...extra] = positionals;
  if (!modulePath || !taskName) throw new UsageError('expected a task module and a task name');
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  const backend = choiceFlag(
    'backend',
    values.backend,
    ['threads', 'processes', 'inline'] as const,
    'threads',
  );
  const workers = workersFlag(values.workers);
  const errors = choiceFlag('errors', values.errors, ['fail', 'collect'] as const, 'fail');
  const batchSize = positiveIntegerFlag('batch-size', values['batch-size']);
  const timeout = positiveIntegerFlag('timeout', values.timeout);
  const retries = nonNegativeIntegerFlag('retries', values.retries);
  const seed = nonNegativeIntegerFlag('seed', values.seed);
  const task = await loadTask(modulePath, taskName);

  const pool =
    backend === 'inline'
      ? new Pool({ backend, concurrency: workers === 'auto' ? 1 : Math.max(1, workers) })
      : new Pool({ backend, workers });
  const out: Writable = values.output === '-' ? process.stdout : createWriteStream(values.output);
  let failed = 0;
  let index = 0;
  try {
    const options = {
      ordered: !values.unordered,
      batchSize,
      timeout,
      retries,
      seed,
      progress: values.progress ? { label: taskName } : false,
      trace: values.trace,
    };
    const input = jsonLines(values.input, () => {});
    const results =
      errors === 'collect'
        ? values.spread
          ? pool.istarmap(task, input as AsyncIterable<unknown[]>, { ...options, errors: 'collect' })
          : pool.imap(task, input, { ...options, errors: 'collect' })
        : values.spread
          ? pool.istarmap(task, input as AsyncIterable<unknown[]>, options)
          : pool.imap(task, input, options);
    for await (const result of results as AsyncIterable<unknown>) {
      if (errors === 'collect') {
        const settled = result as Settled<unknown>;
        if (settled.status === 'rejected') {
          failed++;
          const itemIndex = (settled.reason as { index?: number }).index ?? index;
          await write(out, `${errorRecord(itemIndex, settled.reason)}\n`);
        } else await write(out, `${JSON.stringify(settled.value ?? null)}\n`);
      } else await write(out, `${JSON.stringify(result ?? null)}\n`);
      index++;
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    process.stderr.write(`fanout run: ${(error as Error).message ?? describeError(error)}\n`);
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof Error && cause.stack) process.stderr.write(`${cause.stack}\n`);
    return 1;
  } finally {
    await pool.close();
    if (out !== process.stdout) {
      out.end();
      await once(out, 'finish');
    }
  }
  if (failed > 0) {
    process.stderr.write(`fanout run: ${failed} of ${index} items failed\n`);
    return 1;
  }
  return 0;
}
