/** The workloads: what runs, how many items, and which libraries take part. */

import type { TaskName } from './workers/functions.js';

export interface Workload {
  readonly name: string;
  readonly description: string;
  readonly task: TaskName;
  readonly items: number;
  /** fanout's fixed batch size, when the workload forces one. */
  readonly fanoutBatchSize?: number;
  /** Timed runs are `--repeat` × this: a short workload needs more runs for a steady median. */
  readonly repeatFactor?: number;
  readonly libraries: readonly string[];
}

const ALL = ['fanout', 'piscina', 'tinypool', 'workerpool'];
/** The hand-split reference: one chunk per worker, the ceiling on this machine right now. */
const REFERENCE = 'hand-split';

export const workloads: readonly Workload[] = [
  {
    name: 'weather-10',
    description: 'seed 002: one simulation of 10 steps per item',
    task: 'weather10',
    items: 2_000_000,
    libraries: [...ALL, REFERENCE],
  },
  {
    name: 'weather-10-small',
    description: 'seed 002, 10 steps, a short call: 50,000 items (~20 ms of serial work)',
    task: 'weather10',
    items: 50_000,
    repeatFactor: 4,
    libraries: ['fanout', 'piscina', REFERENCE],
  },
  {
    name: 'weather-100',
    description: 'seed 002: one simulation of 100 steps per item',
    task: 'weather100',
    items: 200_000,
    libraries: [...ALL, REFERENCE],
  },
  {
    name: 'noop-batch1',
    description: 'no-op items, fanout batchSize 1 (raw dispatch cost); other libraries as they come',
    task: 'noop',
    items: 200_000,
    fanoutBatchSize: 1,
    libraries: ALL,
  },
  {
    name: 'noop-auto',
    description: 'no-op items, fanout automatic batching',
    task: 'noop',
    items: 2_000_000,
    libraries: ['fanout', REFERENCE],
  },
];

export function workloadNamed(name: string): Workload {
  const workload = workloads.find((w) => w.name === name);
  if (!workload)
    throw new Error(`Unknown workload ${name} (known: ${workloads.map((w) => w.name).join(', ')})`);
  return workload;
}
