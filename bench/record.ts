import { cpus } from 'node:os';

/** The shape of one result row in `bench/results/latest.json`. */

export interface BenchRecord {
  readonly workload: string;
  readonly library: string;
  readonly version?: string;
  readonly workers: number;
  readonly items: number;
  /** Median wall-clock seconds of the timed runs. */
  readonly seconds: number;
  readonly itemsPerSecond: number;
  /** Median serial seconds ÷ median seconds, the serial loop timed in the same process. */
  readonly speedupVsSerial: number;
  /** speedupVsSerial ÷ workers. */
  readonly efficiency: number;
  /**
   * (seconds × workers − serial seconds) ÷ items, in ns: what each item cost beyond its own work,
   * counting every worker's time as spent (negative would mean faster than the serial loop per core).
   */
  readonly perItemOverheadNs?: number;
  /** The serial loop this row is compared to (median seconds). */
  readonly serialSeconds?: number;
  /** Every timed run, in seconds, in the order they ran. */
  readonly samples?: readonly number[];
  /** Main thread's event-loop utilisation during the timed runs (0–1): near 1 means it is the bottleneck. */
  readonly mainThreadUtilization?: number;
  /** CPU seconds of the whole process (all threads) per wall second during the timed runs. */
  readonly coresUsed?: number;
  /** A lower bound no scheduler can beat, computed from the workload (slow-items: items × ms ÷ workers). */
  readonly idealSeconds?: number;
  /** slow-items: this row's seconds ÷ the hand-batched row's seconds (issue 3's target: ≤ 1.02). */
  readonly ratioToHandBatched?: number;
  /**
   * Serial CPU seconds ÷ this row's CPU seconds (process-wide, all threads; medians): the share of
   * the CPU spent on the work itself. Unlike wall-clock speedups it hardly depends on how many
   * cores other processes left free, so on a busy machine it is the steadier measure of overhead;
   * with `workers` idle cores the speedup could reach about workers × cpuEfficiency.
   */
  readonly cpuEfficiency?: number;
  /** Peak resident set size of the process, in MB, when it matters. */
  readonly peakRssMb?: number;
  /** The machine's 1-minute load average when the row finished (2 cores: above 2, others were competing). */
  readonly loadAverage?: number;
  /** joblib rows: the mean final temperature of the last timed run, a check that the work was done. */
  readonly meanTemperature?: number;
  readonly note?: string;
}

/** Where and when a result file was measured: the head of bench/results/{memory,chunks}.json. */
export function machineDescription() {
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
  };
}
