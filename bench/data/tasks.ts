/** The data benchmark's tasks: column sums over a row range, and an echo for round trips. */

import { defineTasks, transfer } from '../../src/index.js';

export const COLUMNS = 64;

/** Sums of the 64 columns over rows [from, to) of a row-major matrix. */
export function columnSums(data: Float64Array, from: number, to: number): Float64Array {
  const sums = new Float64Array(COLUMNS);
  for (let r = from; r < to; r++) {
    const base = r * COLUMNS;
    for (let c = 0; c < COLUMNS; c++) sums[c] = (sums[c] as number) + (data[base + c] as number);
  }
  return sums;
}

export default defineTasks(import.meta.url, {
  columnSums,
  /** The same buffer back: what a round trip costs in each mode. */
  echo(buffer: Uint8Array): Uint8Array {
    return buffer;
  },
  echoTransferred(buffer: Uint8Array): Uint8Array {
    return transfer(buffer);
  },
  /** This worker's process and its peak RSS in MB (a process worker's own; a thread's is the whole process's). */
  peakRss(): { pid: number; peakMb: number } {
    return { pid: process.pid, peakMb: process.resourceUsage().maxRSS / 1024 };
  },
});
