/**
 * `npm run bench`: every (library, workload) pair in a process of its own, each timed against a
 * serial loop in that same process; then joblib on the seed's Python code, then the extra
 * measurements (imap memory, slow-item overhead, the heat equation by pool.spmd against mpi4py,
 * a tiny script's whole-process start-up in
 * bench/startup.ts); the fairness rows (fairness-rows.ts) run with the workloads. Prints tables
 * and writes bench/results/latest.json, latest-fairness.json and latest-extra.json (partial*.json
 * for a run of some workloads or libraries, or a scaled run).
 *
 * Task graphs (bench/extra/graphs.ts): graph-tree and graph-pipeline against a flat map, and
 * Dask's rows beside them when a Python here imports dask.
 *
 *   npm run bench -- [--workloads weather-10,noop-auto] [--libraries fanout,piscina] [--repeat 5]
 *                    [--scale 1] [--workers N] [--timeout 300] [--no-joblib] [--no-extra] [--markdown]
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { listOption, numberOption, parseArgs } from './args.js';
import { ChildOutOfResources, runChild } from './child.js';
import { type FairnessRecord, fairnessTable, fairnessWorkloads } from './fairness-rows.js';
import { findPython, JOBLIB_MISSING, runJoblib } from './joblib.js';
import { type NestedRecord, nestedTable, nestedWorkloads } from './nested-rows.js';
import type { BenchRecord } from './record.js';
import { median, round } from './stats.js';
import { markdownTable, textTable } from './table.js';
import { workloads } from './workloads.js';

const resultsDir = new URL('../../bench/results/', import.meta.url);

/**
 * A library that cannot finish a workload within `--timeout` seconds, or runs out of memory,
 * is run again on a tenth of the items (its row says so): with every task submitted at once,
 * some queues slow down or grow past the heap as they fill, and an hour-long run tells nothing
 * a shorter one does not.
 */
const FALLBACK_FRACTION = 0.1;

async function runLibrary(
  library: string,
  workload: string,
  options: { repeat: number; scale: number; workers: number; timeout: number },
): Promise<BenchRecord> {
  const args = (scale: number) => [
    '--library',
    library,
    '--workload',
    workload,
    '--repeat',
    String(options.repeat),
    '--scale',
    String(scale),
    '--workers',
    String(options.workers),
  ];
  try {
    return await runChild<BenchRecord>('./run-one.js', args(options.scale), options.timeout);
  } catch (error) {
    if (!(error instanceof ChildOutOfResources)) throw error;
    process.stderr.write(`  ${error.message}; running again on ${FALLBACK_FRACTION * 100}% of the items\n`);
    const record = await runChild<BenchRecord>(
      './run-one.js',
      args(options.scale * FALLBACK_FRACTION),
      options.timeout,
    );
    const note = `the full workload ${error.reason}; this row ran ${record.items.toLocaleString('en-US')} items`;
    return { ...record, note: record.note ? `${record.note}; ${note}` : note };
  }
}

/** The serial loop's own row: the median of the serial times every library's process measured. */
function serialRecord(all: readonly BenchRecord[]): BenchRecord | undefined {
  // Rows that fell back to fewer items timed a shorter serial loop: leave them out.
  const items = Math.max(...all.map((r) => r.items));
  const rows = all.filter((r) => r.items === items);
  const first = rows[0];
  const times = rows.flatMap((r) => (r.serialSeconds === undefined ? [] : [r.serialSeconds]));
  if (!first || times.length === 0) return undefined;
  const seconds = median(times);
  return {
    workload: first.workload,
    library: 'serial',
    version: `node ${process.version}`,
    workers: 1,
    items: first.items,
    seconds: round(seconds),
    itemsPerSecond: round(first.items / seconds),
    speedupVsSerial: 1,
    efficiency: 1,
    samples: times,
    note: "a plain for loop on the main thread; median of the baselines timed in each library's process",
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const repeat = numberOption(args, 'repeat', 5);
  const scale = numberOption(args, 'scale', 1);
  const workers = numberOption(args, 'workers', availableParallelism());
  const timeout = numberOption(args, 'timeout', 300);
  const onlyWorkloads = listOption(args, 'workloads');
  const onlyLibraries = listOption(args, 'libraries');
  const common = ['--repeat', String(repeat), '--scale', String(scale), '--workers', String(workers)];
  const loadBefore = loadavg()[0] as number;
  const failures: string[] = [];
  const records: BenchRecord[] = [];

  for (const workload of workloads) {
    if (onlyWorkloads && !onlyWorkloads.includes(workload.name)) continue;
    const rows: BenchRecord[] = [];
    for (const library of workload.libraries) {
      if (onlyLibraries && !onlyLibraries.includes(library)) continue;
      process.stderr.write(`${workload.name} · ${library}\n`);
      try {
        rows.push(await runLibrary(library, workload.name, { repeat, scale, workers, timeout }));
      } catch (error) {
        failures.push(String(error));
        process.stderr.write(`  FAILED: ${error}\n`);
      }
    }
    const serial = serialRecord(rows);
    records.push(...(serial ? [serial] : []), ...rows);
  }

  // Fair dispatch (issue 14): which worker a batch reaches, and when.
  const fairness: FairnessRecord[] = [];
  for (const workload of fairnessWorkloads) {
    if (onlyWorkloads && !onlyWorkloads.includes(workload.name)) continue;
    for (const library of workload.libraries) {
      if (onlyLibraries && !onlyLibraries.includes(library)) continue;
      process.stderr.write(`${workload.name} · ${library}\n`);
      try {
        const rowArgs = ['--workload', workload.name, '--library', library, ...common];
        fairness.push(await runChild<FairnessRecord>('./fairness.js', rowArgs, timeout));
      } catch (error) {
        failures.push(String(error));
        process.stderr.write(`  FAILED: ${error}\n`);
      }
    }
  }

  // Async tasks overlapping in a worker, and nested parallelism (issue 17).
  const nested: NestedRecord[] = [];
  for (const workload of nestedWorkloads) {
    if (onlyWorkloads && !onlyWorkloads.includes(workload.name)) continue;
    for (const library of workload.libraries) {
      if (onlyLibraries && !onlyLibraries.includes(library)) continue;
      process.stderr.write(`${workload.name} · ${library}\n`);
      try {
        const rowArgs = ['--workload', workload.name, '--library', library, ...common];
        nested.push(await runChild<NestedRecord>('./nested.js', rowArgs, timeout));
      } catch (error) {
        failures.push(String(error));
        process.stderr.write(`  FAILED: ${error}\n`);
      }
    }
  }

  if (!args.has('no-joblib') && (!onlyLibraries || onlyLibraries.includes('joblib'))) {
    const python = findPython();
    if (!python) process.stderr.write(`${JOBLIB_MISSING}\n`);
    else {
      process.stderr.write(`joblib · seed 002's Python code with ${python}\n`);
      try {
        const all = await runJoblib({ python, scale, repeat, sims10: 2_000_000, sims100: 200_000 });
        records.push(...all.filter((r) => !onlyWorkloads || onlyWorkloads.includes(r.workload)));
      } catch (error) {
        failures.push(String(error));
        process.stderr.write(`  FAILED: ${error}\n`);
      }
    }
  }

  const extra: BenchRecord[] = [];
  if (!args.has('no-extra')) {
    for (const [script, name] of [
      ['./extra/imap-memory.js', 'imap-endless'],
      ['./extra/slow-items.js', 'slow-items'],
      ['./extra/heat.js', 'heat'],
      ['./startup.js', 'startup'],
      ['./extra/graphs.js', 'graph'],
    ] as const) {
      // `graph` runs graph-tree, graph-pipeline (with Dask's rows when Dask is installed) and graph-vectors.
      const names = name === 'graph' ? ['graph', 'graph-tree', 'graph-pipeline', 'graph-vectors'] : [name];
      if (onlyWorkloads && !names.some((n) => onlyWorkloads.includes(n))) continue;
      process.stderr.write(`${name} · fanout\n`);
      try {
        // Dask's rows take minutes of their own (~10–30 s a timed run each, by design).
        const limit = name === 'graph' ? Math.max(timeout, 900) : timeout;
        extra.push(...[await runChild<BenchRecord | BenchRecord[]>(script, common, limit)].flat());
      } catch (error) {
        failures.push(String(error));
        process.stderr.write(`  FAILED: ${error}\n`);
      }
    }
  }

  // Group the joblib rows with the JS rows of the same workload (sort is stable).
  const order = (r: BenchRecord) => workloads.findIndex((w) => w.name === r.workload);
  records.sort((a, b) => order(a) - order(b));
  mkdirSync(resultsDir, { recursive: true });
  // A run of some workloads or libraries, or of scaled items, must not replace the full results
  // the README quotes: it writes partial*.json (git-ignored) instead.
  const stem = onlyWorkloads || onlyLibraries || scale !== 1 ? 'partial' : 'latest';
  const format = args.has('markdown') ? markdownTable : textTable;
  if (records.length > 0) {
    writeFileSync(new URL(`${stem}.json`, resultsDir), `${JSON.stringify(records, null, 2)}\n`);
    process.stdout.write(`\n${format(records)}\n`);
    for (const r of records) {
      if (r.note && r.library !== 'serial')
        process.stdout.write(`  ${r.workload} · ${r.library}: ${r.note}\n`);
    }
  }
  if (fairness.length > 0) {
    writeFileSync(new URL(`${stem}-fairness.json`, resultsDir), `${JSON.stringify(fairness, null, 2)}\n`);
    process.stdout.write(`\n${fairnessTable(fairness, args.has('markdown'))}\n`);
    for (const r of fairness) process.stdout.write(`  ${r.workload} · ${r.library}: ${r.note}\n`);
  }
  if (nested.length > 0) {
    writeFileSync(new URL(`${stem}-nested.json`, resultsDir), `${JSON.stringify(nested, null, 2)}\n`);
    process.stdout.write(`\n${nestedTable(nested, args.has('markdown'))}\n`);
    for (const r of nested) process.stdout.write(`  ${r.workload} · ${r.library}: ${r.note}\n`);
  }
  if (extra.length > 0) {
    writeFileSync(new URL(`${stem}-extra.json`, resultsDir), `${JSON.stringify(extra, null, 2)}\n`);
    process.stdout.write(`\n${format(extra)}\n`);
    for (const r of extra) if (r.note) process.stdout.write(`  ${r.workload} · ${r.library}: ${r.note}\n`);
  }
  process.stdout.write(
    `\n${workers} workers · Node ${process.version} · load average ${loadBefore.toFixed(1)} at the start, ${(loadavg()[0] as number).toFixed(1)} at the end · wrote bench/results/${stem}.json${fairness.length ? `, ${stem}-fairness.json` : ''}${extra.length ? ` and ${stem}-extra.json` : ''}\n`,
  );
  if (failures.length > 0) {
    process.stderr.write(`\n${failures.length} benchmark(s) failed:\n${failures.join('\n')}\n`);
    process.exitCode = 1;
  }
}

await main();
