/**
 * `fanout demo strings`: seed 001's random strings, serial vs parallel.
 *
 * The seed generates 4 random strings of 5 characters on 4 processes and warns that this will
 * not be faster: launching parallel work has a cost, and tiny work cannot repay it. Only a load
 * large enough pays. Here the small load is the seed's own; the large one is many long strings.
 * Each runs as a serial loop, through pools already running (threads, processes), and through
 * pools started for the occasion, as the seed's `multiprocessing` example does. A sweep over
 * string lengths shows where parallelism starts to pay.
 */

import { Pool } from '../api/pool.js';
import type { Series } from '../observe/svg.js';
import { positiveIntegerFlag } from '../options/flags.js';
import type { LocalBackendName } from '../types.js';
import { countText, machineText, medianTimed, range, timesText, workerCount } from './common.js';
import type { Demo } from './demo.js';
import { printTable } from './demo.js';
import tasks, { randStrings } from './strings-tasks.js';

const SEED = 2024;
const BACKENDS: readonly LocalBackendName[] = ['threads', 'processes'];

interface Load {
  readonly name: string;
  readonly count: number;
  readonly length: number;
}

/** Milliseconds, three significant digits. */
function msText(seconds: number): string {
  const ms = seconds * 1000;
  return ms >= 100 ? ms.toFixed(0) : ms.toPrecision(3);
}

const sameStrings = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((s, i) => s === b[i]);

/** The strings each variant made for each load: string i draws from the random stream of (seed, i). */
export interface StringsComputed {
  readonly seed: number;
  readonly strings: readonly {
    readonly load: string;
    readonly variant: string;
    readonly strings: readonly string[];
  }[];
}

export const stringsDemo: Demo<StringsComputed> = {
  name: 'strings',
  summary: "seed 001's random strings: serial vs parallel, a small load and a large one",
  flags: { count: { type: 'string' }, length: { type: 'string' } },
  help: [
    '  --count N      strings in the large load (default 64; 16 with --quick)',
    '  --length N     characters per string in the large load (default 1000000; 50000 with --quick)',
  ].join('\n'),
  async run(flags, { out, workers, quick }) {
    const n = workerCount(workers);
    const machine = machineText();
    const loads: Load[] = [
      { name: 'small', count: 4, length: 5 },
      {
        name: 'large',
        count: positiveIntegerFlag('count', flags.count as string | undefined, quick ? 16 : 64),
        length: positiveIntegerFlag('length', flags.length as string | undefined, quick ? 50_000 : 1_000_000),
      },
    ];
    out(`Random strings (seed 001): serial vs ${n} workers on ${machine}`);

    const pools = new Map<LocalBackendName, Pool>();
    const columns = ['load', 'variant', 'ms', 'speedup'];
    const rows: (string | number)[][] = [];
    const made: { load: string; variant: string; strings: string[] }[] = [];
    let identical = true;
    try {
      for (const backend of BACKENDS) {
        const pool = new Pool({ backend, workers: n });
        pools.set(backend, pool);
        await pool.map(
          tasks.randString,
          Array.from(range(4 * n), () => 5),
        ); // start the workers
      }
      for (const load of loads) {
        const label = `${load.name}: ${load.count} × ${countText(load.length)} chars`;
        // Short runs are repeated and the median kept; a large one is long enough to time once.
        const repeats = load.name === 'small' ? 9 : quick ? 1 : 3;
        const loadLengths = () => Array.from(range(load.count), () => load.length);
        randStrings(SEED, load.count, Math.min(load.length, 1000)); // compiled before it is timed
        const serial = await medianTimed(repeats, () => randStrings(SEED, load.count, load.length));
        rows.push([label, 'serial loop', msText(serial.seconds), '1.00×']);
        made.push({ load: label, variant: 'serial loop', strings: serial.value });
        for (const backend of BACKENDS) {
          const pool = pools.get(backend) as Pool;
          // Every call with the serial loop's seed: a pool's calls otherwise each draw fresh streams.
          const warm = await medianTimed(repeats, () =>
            pool.map(tasks.randString, loadLengths(), { seed: SEED }),
          );
          identical &&= sameStrings(warm.value, serial.value);
          made.push({ load: label, variant: `${n} ${backend}, pool running`, strings: warm.value });
          rows.push([
            label,
            `${n} ${backend}, pool running`,
            msText(warm.seconds),
            timesText(serial.seconds / warm.seconds),
          ]);
        }
        for (const backend of BACKENDS) {
          // The seed's way: start the workers, map, stop them, every time.
          const cold = await medianTimed(Math.min(repeats, 3), async () => {
            await using pool = new Pool({ backend, workers: n });
            return await pool.map(tasks.randString, loadLengths(), { seed: SEED });
          });
          identical &&= sameStrings(cold.value, serial.value);
          made.push({ load: label, variant: `${n} ${backend}, pool started`, strings: cold.value });
          rows.push([
            label,
            `${n} ${backend}, pool started`,
            msText(cold.seconds),
            timesText(serial.seconds / cold.seconds),
          ]);
        }
      }
      printTable(out, columns, rows);
      out(
        identical
          ? 'Every variant made the same strings (string i draws from the stream of (seed, i)).'
          : 'WARNING: a parallel run made different strings from the serial loop.',
      );

      // Where does it start to pay? The same count of strings at growing lengths, pools running.
      const sweepCount = 4 * n;
      const lengths = quick ? [10, 1_000, 100_000] : [10, 100, 1_000, 10_000, 100_000, 1_000_000];
      const curves = new Map(BACKENDS.map((backend) => [backend, [] as [number, number][]]));
      const sweepRows: (string | number)[][] = [];
      for (const length of lengths) {
        const repeats = length <= 10_000 ? 9 : 3;
        const items = () => Array.from(range(sweepCount), () => length);
        const serial = await medianTimed(repeats, () => randStrings(SEED, sweepCount, length));
        const row: (string | number)[] = [countText(length), msText(serial.seconds)];
        for (const backend of BACKENDS) {
          const pool = pools.get(backend) as Pool;
          const run = await medianTimed(repeats, () => pool.map(tasks.randString, items(), { seed: SEED }));
          const speedup = serial.seconds / run.seconds;
          curves.get(backend)?.push([Math.log10(length), speedup]);
          row.push(msText(run.seconds), timesText(speedup));
        }
        sweepRows.push(row);
      }
      const series: Series[] = BACKENDS.map((backend) => ({
        name: backend,
        points: curves.get(backend) ?? [],
        dots: true,
      }));
      series.push({
        name: 'break-even',
        points: [
          [Math.log10(lengths[0] as number), 1],
          [Math.log10(lengths[lengths.length - 1] as number), 1],
        ],
        dashed: true,
      });
      const sweepColumns = [
        'chars per string',
        'serial ms',
        ...BACKENDS.flatMap((b) => [`${b} ms`, `${b} speedup`]),
      ];
      out(`\nSweep: ${sweepCount} strings at growing lengths, pools running`);
      printTable(out, sweepColumns, sweepRows);

      return {
        computed: { seed: SEED, strings: made },
        title: 'Random strings: when parallelism pays (seed 001)',
        subtitle: `Serial vs ${n} workers on ${machine}`,
        charts: [
          {
            id: 'speedup-by-load',
            title: `Speedup of ${n} workers over the serial loop, ${sweepCount} strings`,
            xLabel: 'characters per string (log10: 1 = 10, 6 = 1,000,000)',
            yLabel: 'speedup (×)',
            series,
          },
        ],
        tables: [
          { caption: 'A small load and a large one', columns, rows },
          {
            caption: `Sweep: ${sweepCount} strings at growing lengths, pools running`,
            columns: sweepColumns,
            rows: sweepRows,
          },
        ],
        notes: [
          "The small load is the seed's example: 4 strings of 5 characters. Sending them to workers costs far more than making them.",
          '"pool started" includes starting and stopping the workers, as a multiprocessing.Pool opened for one call does; processes take much longer to start than threads.',
          'Below the break-even line, parallel is slower than the loop. The strings cross back to the caller, so part of the large load is copying: in memory for threads, through a pipe for processes, which costs more.',
          'Short runs: the median of 9; long runs: the median of 3 (one with --quick).',
        ],
      };
    } finally {
      for (const pool of pools.values()) await pool.close();
    }
  },
};
