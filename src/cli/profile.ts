/**
 * `fanout profile <module> <task> --input FILE`: where the time goes. Runs a sample of the input
 * as a serial loop and at 1, 2, ... N workers, reports speedup and efficiency, fits Amdahl's
 * parallel fraction, predicts larger machines, and suggests a batch size and a backend.
 */

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Pool } from '../api/pool.js';
import { printTable, secondsText, timed } from '../demos/demo.js';
import { amdahlSpeedup } from '../observe/amdahl.js';
import { analyseScaling, writeReport } from '../observe/report.js';
import { TraceRecorder } from '../observe/trace.js';
import { cores } from '../options/checks.js';
import { choiceFlag, positiveIntegerFlag, UsageError } from '../options/flags.js';
import type { TaskRef } from '../types.js';
import { CommandFailure, EXIT, EXIT_HELP, loadTask, readArgs } from './flags.js';

export const PROFILE_USAGE = `Usage: fanout profile <task-module> <task> --input FILE [options]

Runs a sample of the input serially and at 1..N workers, then reports speedup, efficiency,
Amdahl's parallel fraction, the speedup it predicts on 8, 16 and 64 cores, and suggestions.

  --input FILE        JSON lines, as for fanout run ('-' for stdin)
  --sample N          items to run (default 2000)
  --max-workers N     largest pool to try (default: every core)
  --backend NAME      threads (default) or processes
  --spread            each line is an array of arguments
  --report FILE       write an HTML report (speedup, efficiency, timeline)
  --trace FILE        write a Chrome trace of the largest pool's run
  -h, --help          show this help

${EXIT_HELP}`;

async function readSample(path: string, n: number): Promise<unknown[]> {
  const lines = createInterface({ input: path === '-' ? process.stdin : createReadStream(path) });
  const items: unknown[] = [];
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    try {
      items.push(JSON.parse(text));
    } catch {
      throw new CommandFailure(`${path}, line ${line}: not JSON`, EXIT.failed);
    }
    if (items.length >= n) break;
  }
  lines.close();
  if (items.length === 0) throw new CommandFailure(`${path} has no items`, EXIT.failed);
  return items;
}

async function serialLoop(task: TaskRef, items: unknown[], spread: boolean): Promise<void> {
  for (const item of items) {
    const result = spread ? task(...(item as unknown[])) : task(item);
    if (result instanceof Promise) await result;
  }
}

export async function profileCommand(args: string[]): Promise<number> {
  const { values, positionals } = readArgs({
    args,
    allowPositionals: true,
    options: {
      input: { type: 'string' },
      sample: { type: 'string' },
      'max-workers': { type: 'string' },
      backend: { type: 'string' },
      spread: { type: 'boolean', default: false },
      report: { type: 'string' },
      trace: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${PROFILE_USAGE}\n`);
    return 0;
  }
  const [modulePath, taskName] = positionals;
  if (!modulePath || !taskName) throw new UsageError('expected a task module and a task name');
  if (!values.input) throw new UsageError('--input is required (JSON lines)');
  const sample = positiveIntegerFlag('sample', values.sample, 2000);
  const maxWorkers = positiveIntegerFlag('max-workers', values['max-workers'], cores());
  const backend = choiceFlag('backend', values.backend, ['threads', 'processes'] as const, 'threads');
  const spread = values.spread === true;
  const task = await loadTask(modulePath, taskName);
  const items = await readSample(values.input, sample);
  const out = (line: string) => process.stdout.write(`${line}\n`);

  await serialLoop(task, items.slice(0, 50), spread); // warm the function up
  const serial = await timed(() => serialLoop(task, items, spread));
  const perItemUs = (serial.seconds / items.length) * 1e6;
  const points: { workers: number; seconds: number }[] = [];
  const recorder = new TraceRecorder();
  for (let workers = 1; workers <= maxWorkers; workers++) {
    await using pool = new Pool({ backend, workers });
    const run = (options: object) =>
      spread ? pool.starmap(task, items as unknown[][], options) : pool.map(task, items, options);
    await run({}); // start the workers and import the module
    // The largest pool's run is also recorded: the report's timeline, the batch sizes chosen.
    const last = workers === maxWorkers;
    const measured = await timed(() => run(last ? { trace: values.trace, onBatch: recorder.record } : {}));
    points.push({ workers, seconds: measured.seconds });
  }
  const largestBatch = Math.max(0, ...recorder.batches.map((b) => b.count));
  const analysis = analyseScaling({ name: taskName, points, baselineSeconds: serial.seconds });
  const rows = analysis.points.map((p) => [
    p.workers,
    secondsText(p.seconds),
    `${p.speedup.toFixed(2)}×`,
    `${(p.efficiency * 100).toFixed(0)}%`,
  ]);
  out(
    `${taskName}: ${items.length} items, ${perItemUs.toFixed(1)} µs per item serially (${secondsText(serial.seconds)} s)`,
  );
  printTable(out, ['workers', 'seconds', 'speedup', 'efficiency'], rows);
  const p = analysis.parallelFraction;
  const predictions = [8, 16, 64].map((n) => [
    n,
    Number.isFinite(p) ? `${amdahlSpeedup(p, n).toFixed(1)}×` : '?',
  ]);
  out('');
  out(
    Number.isFinite(p)
      ? `Amdahl's parallel fraction p = ${p.toFixed(3)} (ceiling ${p < 1 ? `${(1 / (1 - p)).toFixed(1)}×` : 'none'})`
      : "Amdahl's parallel fraction: needs measurements at 2 or more workers",
  );
  printTable(out, ['cores', 'predicted speedup'], predictions);
  out('');
  for (const line of suggestions(perItemUs, p, analysis.points, largestBatch)) out(`- ${line}`);
  if (values.report) {
    await writeReport(values.report, {
      title: `Profile of ${taskName}`,
      subtitle: `${items.length} items from ${values.input}; ${backend}; serial ${secondsText(serial.seconds)} s`,
      tables: [
        { caption: 'Scaling', columns: ['workers', 'seconds', 'speedup', 'efficiency'], rows },
        { caption: "Amdahl's law predicts", columns: ['cores', 'speedup'], rows: predictions },
      ],
      scaling: [{ name: `${taskName} (${backend})`, points, baselineSeconds: serial.seconds }],
      batches: recorder.batches,
      notes: suggestions(perItemUs, p, analysis.points, largestBatch),
    });
    out(`report: ${values.report}`);
  }
  return 0;
}

function suggestions(
  perItemUs: number,
  p: number,
  points: readonly { workers: number; efficiency: number }[],
  largestBatch: number,
): string[] {
  const out: string[] = [];
  const best = points.at(-1);
  if (perItemUs < 50) {
    out.push(
      `Items are small (${perItemUs.toFixed(1)} µs): keep batchSize 'auto' (the scheduler batched up to ${largestBatch || 'many'} items); the threads backend crosses fastest.`,
    );
  } else if (perItemUs > 100_000) {
    out.push('Items are long: batchSize 1 keeps every core busy to the end; consider a timeout and retries.');
  } else {
    out.push("batchSize 'auto' suits these items.");
  }
  if (Number.isFinite(p) && p < 0.5) {
    out.push(
      'Most of the time is not parallel: look at the serial part (or the cost of moving data) before adding cores.',
    );
  }
  if (best && best.efficiency < 0.6 && perItemUs >= 50) {
    out.push(
      'Efficiency is low for items this size: if the task waits on I/O, the inline backend with a high concurrency overlaps it without threads.',
    );
  }
  out.push(
    'Use the processes backend for native code that may crash, or to give each worker its own heap limit.',
  );
  return out;
}
