/**
 * A pool's dashboard once loaded (see plan.ts, which loads it): its collectors, and its server,
 * started at once. The URL is printed on stderr when it listens; when it cannot, a
 * FANOUT_DASHBOARD warning says why and `url()` rejects with ERR_DASHBOARD.
 */

import type { DashboardConfig } from '../../options/dashboard.js';
import type { RedisSettings } from '../../options/resolve.js';
import { CallCollector } from './calls.js';
import type { LoadedDashboard } from './events.js';
import { RedisFeed } from './redis-feed.js';
import { DashboardServer } from './server.js';
import { dashboardSource } from './source.js';
import { WorkerCollector } from './workers.js';

export function loadDashboard(
  config: DashboardConfig,
  backend: string,
  size: number,
  redis: RedisSettings | undefined,
): LoadedDashboard {
  const workers = new WorkerCollector();
  const calls = new CallCollector();
  const feed =
    redis && new RedisFeed({ url: redis.redis, queue: redis.queue, prefix: redis.prefix, tls: redis.tls });
  const source = dashboardSource({
    kind: 'pool',
    backend,
    size,
    // A redis pool owns no worker: they are in the heartbeats.
    workers: redis ? undefined : workers,
    feed,
    calls,
  });
  const server = DashboardServer.listen(source, config);
  server.then(
    (s) => process.stderr.write(`fanout: dashboard at ${s.url}\n`),
    (error: Error) =>
      process.emitWarning(`The pool's dashboard did not start: ${error.message}`, {
        type: 'FanoutDashboardWarning',
        code: 'FANOUT_DASHBOARD',
      }),
  );
  return {
    workers,
    observe: (call, task, total, startedAt) => calls.observe(call, task, total, startedAt),
    url: async () => (await server).url,
    async close() {
      try {
        await (await server).close();
      } catch {
        // It never listened.
      }
      await feed?.close();
    },
  };
}
