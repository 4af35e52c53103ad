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

/** Every library through its per-item API, as a new user calls it. */
const ALL = ['fanout', 'piscina', 'tinypool', 'workerpool'];
/** The peers as someone who knows them writes it: hand-chunked, with their documented settings. */
const EXPERTS = ['piscina-expert', 'tinypool-expert', 'workerpool-expert'];
/** The hand-split reference: one chunk per worker, the ceiling on this machine right now. */
const REFERENCE = 'hand-split';

export const workloads: readonly Workload[] = [
  {
    name: 'weather-10',
    description: 'seed 002: one simulation of 10 steps per item',
    task: 'weather10',
    items: 2_000_000,
    libraries: [...ALL, ...EXPERTS, REFERENCE],
  },
  {
    name: 'weather-10-small',
    description: 'seed 002, 10 steps, a short call: 50,000 items (~20 ms of serial work)',
    task: 'weather10',
    items: 50_000,
    repeatFactor: 4,
    libraries: ['fanout', 'piscina', 'piscina-expert', REFERENCE],
  },
  {
    name: 'weather-100',
    description: 'seed 002: one simulation of 100 steps per item',
    task: 'weather100',
    items: 200_000,
    libraries: [...ALL, ...EXPERTS, REFERENCE],
  },
  {
    name: 'noop-batch1',
    description:
      'no-op items, one per batch: fanout batchSize 1 pipelined (its default depth) and with one batch in flight per worker; other libraries as they come',
    task: 'noop',
    items: 200_000,
    fanoutBatchSize: 1,
    libraries: ['fanout', 'fanout-1-in-flight', 'piscina', 'tinypool', 'workerpool'],
  },
  {
    name: 'noop-auto',
    description: 'no-op items, fanout automatic batching',
    task: 'noop',
    items: 2_000_000,
    libraries: ['fanout', ...EXPERTS, REFERENCE],
  },
];

export function workloadNamed(name: string): Workload {
  const workload = workloads.find((w) => w.name === name);
  if (!workload)
    throw new Error(`Unknown workload ${name} (known: ${workloads.map((w) => w.name).join(', ')})`);
  return workload;
}
