/**
 * What a dashboard serves, from where it learns it: this process's own workers (a local pool),
 * the heartbeats in Redis (a redis pool, `fanout dashboard --redis`), and a pool's calls.
 */

import { hostname } from 'node:os';
import type { CallCollector } from './calls.js';
import { mergeParts } from './merge.js';
import { prometheusText } from './metrics.js';
import type { FeedReading, RedisFeed } from './redis-feed.js';
import type { DashboardSource } from './server.js';
import type { DashboardSnapshot, SourceView, WorkerPart } from './types.js';
import type { WorkerCollector } from './workers.js';

export interface SourceParts {
  readonly kind: SourceView['kind'];
  readonly backend: string;
  readonly size: number | null;
  /** This process's workers (a local pool). */
  readonly workers?: WorkerCollector | undefined;
  /** The `fanout worker` processes of a queue. */
  readonly feed?: RedisFeed | undefined;
  /** A pool's calls. */
  readonly calls?: CallCollector | undefined;
}

const NO_READING: FeedReading = { parts: [], queue: null, problem: null };

export function dashboardSource(from: SourceParts): DashboardSource {
  const machine = hostname();
  const startedAt = Date.now();
  const gather = async (): Promise<{ source: SourceView; parts: WorkerPart[]; reading: FeedReading }> => {
    const reading = from.feed ? await from.feed.read() : NO_READING;
    const parts = [...(from.workers ? [from.workers.part()] : []), ...reading.parts];
    const source: SourceView = {
      kind: from.kind,
      backend: from.backend,
      size: from.size,
      queue: from.feed?.name ?? null,
      machine,
      pid: process.pid,
      startedAt,
      problem: reading.problem,
    };
    return { source, parts, reading };
  };
  return {
    async snapshot(): Promise<DashboardSnapshot> {
      const { source, parts, reading } = await gather();
      return mergeParts({
        now: Date.now(),
        source,
        parts,
        calls: from.calls?.views() ?? [],
        queue: reading.queue,
        remote: from.feed !== undefined,
      });
    },
    async metrics(): Promise<string> {
      const { source, parts, reading } = await gather();
      return prometheusText({ source, parts, calls: from.calls?.counts(), queue: reading.queue });
    },
  };
}
