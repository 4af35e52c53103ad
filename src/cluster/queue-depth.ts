/**
 * How much work a redis queue holds, for `adapt()`: the jobs waiting for a worker plus the ones
 * being run. Read through BullMQ (loaded on first use, as the redis backend loads it).
 */

import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { closeClient, loadDrivers } from '../redis/connection.js';

export interface QueueDepth {
  /** Jobs waiting or running now. */
  read(): Promise<number>;
  close(): Promise<void>;
}

export async function queueDepth(
  url: string,
  queue: string,
  prefix: string,
  onError: (error: Error) => void,
): Promise<QueueDepth> {
  const { bull, connect } = await loadDrivers();
  const client: Redis = connect(url, { name: 'fanout-slurm-adapt', onError });
  const reader: Queue = new bull.Queue(queue, { connection: client, prefix });
  reader.on('error', onError);
  return {
    async read() {
      const counts = await reader.getJobCounts('waiting', 'prioritized', 'active');
      return (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.active ?? 0);
    },
    async close() {
      // A read waiting for Redis (it is away) is cut short, not waited for.
      await Promise.race([reader.close(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      await closeClient(client, 1000);
    },
  };
}
