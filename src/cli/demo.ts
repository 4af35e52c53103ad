/** `fanout demo <name>`: the seed experiments, each with a table on stdout and, with --report, an HTML page. */

import type { Demo } from '../demos/demo.js';
import { writeReport } from '../observe/report.js';
import { flagValue, UsageError } from '../options/flags.js';
import { POOL } from '../options/schema.js';
import { EXIT_HELP, readArgs } from './flags.js';

/** Demos load on demand: each brings its own tasks. */
const demos: Record<string, () => Promise<Demo>> = {
  weather: async () => (await import('../demos/weather.js')).weatherDemo,
  timeline: async () => (await import('../demos/timeline.js')).timelineDemo,
  marshaling: async () => (await import('../demos/marshaling.js')).marshalingDemo,
  strings: async () => (await import('../demos/strings.js')).stringsDemo,
  io: async () => (await import('../demos/io.js')).ioDemo,
  amdahl: async () => (await import('../demos/amdahl.js')).amdahlDemo,
  graph: async () => (await import('../demos/graph.js')).graphDemo,
  heat: async () => (await import('../demos/heat.js')).heatDemo,
};

export const DEMO_USAGE = `Usage: fanout demo <name> [--report FILE] [--workers N] [--quick] [demo flags]

Demos of the seed experiments:
  weather        seed 002's weather Monte Carlo: serial, threads, processes, vectorised
  timeline       seed 000's report_work: work over time by one thread, async tasks,
                 worker threads and processes (Node's answer to the GIL)
  marshaling     seed 000's marshaling cost: a sum in a typed array, a JS array, and
                 across the worker boundary one item per message vs batched
  strings        seed 001's random strings: serial vs parallel, small and large loads
                 (when parallelism does not pay, and when it does)
  io             seeds 001/004: fetching from a slow local server, sequential vs async
                 concurrency vs worker threads
  amdahl         seed 002's Amdahl's law: a known serial part at 1..N workers, the fitted
                 parallel fraction, and the speedup it predicts on bigger machines
  graph          a task graph: many files → parse → features → one aggregate, serial
                 vs one graph (pool.compute) vs futures, checked to agree
  heat           the 2-D heat equation (a coupled problem): serial vs row blocks on ranks
                 that exchange halo rows every step (pool.spmd); checksums that agree
  out-of-core    seed 004's question: column means of a matrix file larger than the heap,
                 in chunks, in parallel (its own flags: fanout demo out-of-core --help)

  --report FILE  also write a self-contained HTML report (charts, tables)
  --workers N    workers: a positive integer, 'auto', -1, -2 (default: every core)
  --quick        small sizes: a first look in a few seconds
  -h, --help     show this help (with a demo's name: its own flags)

${EXIT_HELP}`;

const COMMON = {
  report: { type: 'string' },
  workers: { type: 'string' },
  quick: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function demoCommand(args: string[]): Promise<number> {
  const name = args.find((a) => !a.startsWith('-'));
  if (name === 'out-of-core') {
    // It runs its measured part in a heap-capped child process, so it has its own command.
    const { outOfCoreCommand } = await import('../demos/out-of-core.js');
    return await outOfCoreCommand(
      args.filter((a) => a !== name),
      (line) => process.stdout.write(`${line}\n`),
    );
  }
  const load = name ? demos[name] : undefined;
  if (!load) {
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(`${DEMO_USAGE}\n`);
      return 0;
    }
    throw new UsageError(name ? `unknown demo ${JSON.stringify(name)}` : 'which demo? (weather, ...)');
  }
  const demo = await load();
  const { values } = readArgs({
    args: args.filter((a) => a !== name),
    options: { ...COMMON, ...(demo.flags ?? {}) },
  });
  if (values.help) {
    process.stdout.write(
      `Usage: fanout demo ${demo.name} [--report FILE] [--workers N] [--quick]\n${demo.summary}\n${demo.help ?? ''}\n`,
    );
    return 0;
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const report = await demo.run(values as Record<string, string | boolean | undefined>, {
    out,
    workers: flagValue(POOL.specs.workers, values.workers as string | undefined) ?? 'auto',
    quick: values.quick === true,
  });
  if (typeof values.report === 'string') {
    await writeReport(values.report, report);
    out(`report: ${values.report}`);
  }
  return 0;
}
