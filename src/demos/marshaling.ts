/**
 * `fanout demo marshaling`: seed 000's "cost of context switching" benchmark, in Node.
 *
 * The seed sums a million numbers with numpy, with Python's `sum` and with a Python loop, and
 * finds the loop 100× slower: every element is converted to a Python object as it crosses from
 * C. In JavaScript both loops are compiled by the JIT, so a typed array and a plain array sum at
 * about the same speed; the boundary that costs here is the one between threads. Sending the
 * numbers to workers one per message costs microseconds each, thousands of times the addition;
 * batches share that cost among many items; one task with the whole array pays one copy; a
 * shared array pays nothing per number.
 */

import { Pool } from '../api/pool.js';
import { randomStream } from '../data/random.js';
import { shared } from '../data/shared.js';
import { positiveIntegerFlag } from '../options/flags.js';
import { countText, machineText, medianTimed, timesText, workerCount } from './common.js';
import type { Demo } from './demo.js';
import { printTable, timed } from './demo.js';
import tasks, { sumArray, sumReduce, sumTyped } from './marshaling-tasks.js';

const SEED = 2024;
/** A batch big enough that the per-message cost vanishes, for comparison with automatic sizing. */
const BIG_BATCH = 10_000;

interface Row {
  readonly name: string;
  readonly items: number;
  /** Seconds for one sum of `items` numbers. */
  readonly seconds: number;
  readonly sum: number;
  /** The sum the serial loop gives over the same items. */
  readonly expected: number;
}

/** Seconds per pass of a loop run `passes` times (one pass takes about a millisecond). */
async function perPass(passes: number, fn: () => number): Promise<{ seconds: number; value: number }> {
  fn(); // compiled before it is timed
  const run = await timed(() => {
    let value = 0;
    for (let i = 0; i < passes; i++) value = fn();
    return value;
  });
  return { seconds: run.seconds / passes, value: run.value };
}

/** What each variant computed: the sum of the first `items` numbers of the random stream of (seed, 0). */
export interface MarshalingComputed {
  readonly seed: number;
  readonly sums: readonly { readonly variant: string; readonly items: number; readonly sum: number }[];
}

export const marshalingDemo: Demo<MarshalingComputed> = {
  name: 'marshaling',
  summary: "seed 000's marshaling cost: a sum in a typed array, a JS array, and across the worker boundary",
  flags: { items: { type: 'string' }, 'one-by-one': { type: 'string' } },
  help: [
    '  --items N       numbers to sum (default 1000000; 100000 with --quick)',
    '  --one-by-one N  numbers sent one per message (default 100000; 5000 with --quick)',
  ].join('\n'),
  async run(flags, { out, workers, quick }) {
    const items = positiveIntegerFlag(
      'items',
      flags.items as string | undefined,
      quick ? 100_000 : 1_000_000,
    );
    const oneByOne = Math.min(
      items,
      positiveIntegerFlag('one-by-one', flags['one-by-one'] as string | undefined, quick ? 5_000 : 100_000),
    );
    const passes = quick ? 10 : 100;
    const n = workerCount(workers);
    const machine = machineText();
    out(`Marshaling (seed 000): summing ${countText(items)} numbers; ${n} worker threads on ${machine}`);

    const rng = randomStream(SEED, 0);
    const typed = new Float64Array(items);
    for (let i = 0; i < items; i++) typed[i] = rng.random();
    const array = Array.from(typed);
    const firstFew = typed.subarray(0, oneByOne);
    const expected = sumTyped(typed);
    const rows: Row[] = [];

    const typedLoop = await perPass(passes, () => sumTyped(typed));
    rows.push({ name: 'typed-array loop (Float64Array)', items, ...seconds(typedLoop), expected });
    const arrayLoop = await perPass(passes, () => sumArray(array));
    rows.push({ name: 'JS-array loop (number[])', items, ...seconds(arrayLoop), expected });
    const reduce = await perPass(passes, () => sumReduce(array));
    rows.push({ name: 'JS array, reduce()', items, ...seconds(reduce), expected });

    {
      await using pool = new Pool({ workers: n });
      await pool.map(tasks.echo, array.slice(0, 100 * n), { batchSize: 1 }); // start the workers
      const sumOf = (results: number[]) => results.reduce((a, b) => a + b, 0);
      const single = await timed(async () =>
        sumOf(await pool.map(tasks.echo, array.slice(0, oneByOne), { batchSize: 1 })),
      );
      rows.push({
        name: 'pool.map, one item per message',
        items: oneByOne,
        seconds: single.seconds,
        sum: single.value,
        expected: sumTyped(firstFew),
      });
      const batched = await medianTimed(3, async () => sumOf(await pool.map(tasks.echo, array)));
      rows.push({
        name: 'pool.map, automatic batches',
        items,
        seconds: batched.seconds,
        sum: batched.value,
        expected,
      });
      const fixed = await medianTimed(3, async () =>
        sumOf(await pool.map(tasks.echo, array, { batchSize: BIG_BATCH })),
      );
      rows.push({
        name: `pool.map, batchSize ${countText(BIG_BATCH)}`,
        items,
        seconds: fixed.seconds,
        sum: fixed.value,
        expected,
      });
      const whole = await medianTimed(5, () => pool.run(tasks.sumTyped, typed));
      rows.push({ name: 'pool.run, whole array (one copy)', items, ...seconds(whole), expected });
      const sharedData = shared.from(typed);
      const slices = Array.from({ length: n }, (_, w): [Float64Array, number, number] => [
        sharedData,
        Math.floor((w * items) / n),
        Math.floor(((w + 1) * items) / n),
      ]);
      const split = await medianTimed(5, async () =>
        (await pool.starmap(tasks.sumSlice, slices)).reduce((a, b) => a + b, 0),
      );
      rows.push({ name: `shared array, ${n} slices (no copy)`, items, ...seconds(split), expected });
    }

    const base = typedLoop.seconds / items;
    const columns = ['variant', 'numbers', 'ms', 'ns per number', '× typed loop'];
    const tableRows = rows.map((r) => [
      r.name,
      countText(r.items),
      msText(r.seconds),
      nsText((r.seconds / r.items) * 1e9),
      timesText(r.seconds / r.items / base),
    ]);
    printTable(out, columns, tableRows);
    if (oneByOne < items) {
      out(
        `One item per message ran on the first ${countText(oneByOne)} numbers only (a million would take a while): compare ns per number.`,
      );
    }
    // Slices add in a different order, so their sum may differ in the last bits.
    const agree = rows.every((r) => Math.abs(r.sum - r.expected) <= 1e-9 * Math.abs(r.expected));
    out(agree ? 'Every variant computed the same sum.' : 'WARNING: a variant computed a different sum.');

    return {
      computed: { seed: SEED, sums: rows.map((r) => ({ variant: r.name, items: r.items, sum: r.sum })) },
      title: 'The cost of crossing (seed 000)',
      subtitle: `Summing ${countText(items)} random numbers in one thread, and through ${n} worker threads, on ${machine}`,
      tables: [{ caption: 'One sum, every way', columns, rows: tableRows }],
      notes: [
        'In-thread loops: one pass, timed over many passes. Pool rows: the workers already started; the median of 3 runs (5 for the short ones), one run for one item per message.',
        oneByOne < items
          ? `"One item per message" sent only the first ${countText(oneByOne)} numbers; ns per number is comparable across rows.`
          : '"One item per message" sent every number.',
        'In the seed, a Python loop over a numpy array is 100× slower than numpy: each element is boxed as it crosses from C. Both JavaScript loops are compiled, so that gap does not exist here; the boundary that costs is between threads.',
        'Automatic batching packs many numbers into each message; a typed array crosses as one block; shared memory does not cross at all.',
      ],
    };
  },
};

function seconds(run: { seconds: number; value: number }): { seconds: number; sum: number } {
  return { seconds: run.seconds, sum: run.value };
}

/** Milliseconds to three significant digits: 0.0612, 1.45, 147. */
function msText(seconds: number): string {
  const ms = seconds * 1000;
  return ms >= 100 ? ms.toFixed(0) : ms.toPrecision(3);
}

/** Nanoseconds: one decimal when small, whole and grouped when large. */
function nsText(ns: number): string {
  return ns >= 100 ? countText(ns) : ns.toFixed(1);
}
