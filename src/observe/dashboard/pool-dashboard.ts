/**
 * A pool's dashboard (`new Pool({ dashboard: true })`): its collectors, made when the pool is
 * (so the worker set can be given its observer), and its server, started once the pool exists.
 * The pool calls `configure`, then `start`, and `close` when it closes; nothing else.
 */

import type { ResolvedRedisOptions } from '../../backends/redis/options.js';
import { CallCollector } from './calls.js';
import { type DashboardConfig, resolveDashboardOption } from './config.js';
import type { CallObserver } from './events.js';
import { RedisFeed } from './redis-feed.js';
import { DashboardServer } from './server.js';
import { dashboardSource } from './source.js';
import { WorkerCollector } from './workers.js';

/**
 * A pool's dashboard, as `pool.dashboard` gives it.
 *
 * @example
 * ```ts
 * await using pool = new Pool({ dashboard: { port: 0 } });
 * console.log('open', await pool.dashboard?.url());
 * ```
 */
export interface DashboardHandle {
  /** The page's address (with `?token=` when it has one), once it listens. Rejects with `ERR_DASHBOARD` when it cannot. */
  url(): Promise<string>;
}

/** Made by the pool's constructor before its engine; `start` it once the engine exists. */
export class DashboardPlan {
  /** Give it to the worker set (`WorkerSetOptions.observer`). */
  readonly workers = new WorkerCollector();

  private constructor(private readonly config: DashboardConfig) {}

  /** The `dashboard` option, checked: undefined when it is off. Throws as option errors do. */
  static configure(option: unknown): DashboardPlan | undefined {
    const config = resolveDashboardOption(option);
    return config && new DashboardPlan(config);
  }

  /** Start serving: `size` is the pool's `workers`; `redis`, the pool's backend when it is redis. */
  start(backend: string, size: number, redis?: ResolvedRedisOptions): PoolDashboard {
    return new PoolDashboard(this.config, this.workers, backend, size, redis);
  }
}

export class PoolDashboard implements DashboardHandle {
  private readonly calls = new CallCollector();
  private readonly feed: RedisFeed | undefined;
  private readonly server: Promise<DashboardServer>;
  /** Give it to every call (`CallSetup.observe`). */
  readonly observeCall: CallObserver = this.calls.observe;

  constructor(
    config: DashboardConfig,
    workers: WorkerCollector,
    backend: string,
    size: number,
    redis: ResolvedRedisOptions | undefined,
  ) {
    this.feed =
      redis && new RedisFeed({ url: redis.url, queue: redis.queue, prefix: redis.prefix, tls: redis.tls });
    const source = dashboardSource({
      kind: 'pool',
      backend,
      size,
      // A redis pool owns no worker: they are in the heartbeats.
      workers: redis ? undefined : workers,
      feed: this.feed,
      calls: this.calls,
    });
    this.server = DashboardServer.listen(source, config);
    this.server.then(
      (server) => process.stderr.write(`fanout: dashboard at ${server.url}\n`),
      (error: Error) =>
        process.emitWarning(`The pool's dashboard did not start: ${error.message}`, {
          type: 'FanoutDashboardWarning',
          code: 'FANOUT_DASHBOARD',
        }),
    );
  }

  async url(): Promise<string> {
    return (await this.server).url;
  }

  /** Stop serving (the port is free when this resolves) and let go of Redis. */
  async close(): Promise<void> {
    try {
      await (await this.server).close();
    } catch {
      // It never listened.
    }
    await this.feed?.close();
  }
}
