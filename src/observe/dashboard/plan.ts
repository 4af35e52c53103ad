/**
 * What a `Pool` holds of its dashboard, and all it loads with fanout (with the option's check,
 * options/dashboard.ts): stand-ins for the collectors. The collectors, the server and the page are loaded (a dynamic
 * import) only when a pool has a dashboard, so a program without one, or a worker thread
 * importing fanout, does not load them. Events that happen before they arrive (a call started
 * right after `new Pool`) are kept and handed over, in order, when they do.
 *
 * The pool's core (api/core.ts) makes a plan from its resolved `dashboard` option, gives
 * `plan.workers` to its worker set, then `plan.start(...)`, and `close()` when it closes.
 */

import type { WorkerSetObserver } from '../../local/observer.js';
import type { DashboardConfig } from '../../options/dashboard.js';
import type { RedisSettings } from '../../options/resolve.js';
import type { BatchOutcome, BatchRequest } from '../../scheduler/backend.js';
import type { BatchTrace, DashboardHandle, ProgressCounts } from '../../types.js';
import type { CallObserver, CallWatch, LoadedDashboard } from './events.js';

/** Calls to make on something not loaded yet: made at once when it is there, kept until it is. */
class Late<T> {
  target: T | undefined;
  private readonly waiting: ((target: T) => void)[] = [];

  later(call: (target: T) => void): void {
    this.waiting.push(call);
  }

  arrive(target: T): void {
    this.target = target;
    for (const call of this.waiting.splice(0)) call(target);
  }
}

/** The worker set's observer until the collector is loaded, then a direct pass-through to it. */
class WorkerEvents implements WorkerSetObserver {
  readonly late = new Late<WorkerSetObserver>();

  started(worker: number, label: string): void {
    const t = this.late.target;
    if (t) t.started(worker, label);
    else this.late.later((o) => o.started(worker, label));
  }
  ready(worker: number): void {
    const t = this.late.target;
    if (t) t.ready(worker);
    else this.late.later((o) => o.ready(worker));
  }
  running(worker: number, request: BatchRequest | undefined): void {
    const t = this.late.target;
    if (t) t.running(worker, request);
    else this.late.later((o) => o.running(worker, request));
  }
  settled(worker: number | undefined, request: BatchRequest, outcome: BatchOutcome): void {
    const t = this.late.target;
    if (t) t.settled(worker, request, outcome);
    else this.late.later((o) => o.settled(worker, request, outcome));
  }
  heap(worker: number, bytes: number): void {
    const t = this.late.target;
    if (t) t.heap(worker, bytes);
    else this.late.later((o) => o.heap(worker, bytes));
  }
  exited(worker: number, code: number | null, signal: string | null, killedFor: string | undefined): void {
    const t = this.late.target;
    if (t) t.exited(worker, code, signal, killedFor);
    else this.late.later((o) => o.exited(worker, code, signal, killedFor));
  }
}

/** Made by the pool's constructor before its engine; `start` it once the engine exists. */
export class DashboardPlan {
  /** Give it to the worker set (`WorkerSetOptions.observer`). */
  readonly workers = new WorkerEvents();

  /** `config`: the pool's `dashboard` option, as options/dashboard.ts resolved it. */
  constructor(private readonly config: DashboardConfig) {}

  /** Load the dashboard and start serving: `size` is the pool's `workers`; `redis`, its backend when it is redis. */
  start(backend: string, size: number, redis?: RedisSettings): PoolDashboard {
    const loaded = import('./pool-dashboard.js').then((m) =>
      m.loadDashboard(this.config, backend, size, redis),
    );
    return new PoolDashboard(loaded, this.workers.late);
  }
}

export class PoolDashboard implements DashboardHandle {
  private readonly calls = new Late<LoadedDashboard>();

  constructor(
    private readonly loaded: Promise<LoadedDashboard>,
    workers: Late<WorkerSetObserver>,
  ) {
    loaded.then(
      (dashboard) => {
        workers.arrive(dashboard.workers);
        this.calls.arrive(dashboard);
      },
      () => {
        // It could not be loaded: url() says why.
      },
    );
  }

  /** Tell it of every call as it starts. */
  readonly observeCall: CallObserver = (call, task, total) => {
    const loaded = this.calls.target;
    if (loaded) return loaded.observe(call, task, total);
    // Started before the collector arrived: its events wait for it, its start time is now.
    const startedAt = Date.now();
    const watch = new Late<CallWatch>();
    this.calls.later((d) => watch.arrive(d.observe(call, task, total, startedAt)));
    return {
      batch: (trace: BatchTrace) =>
        watch.target ? watch.target.batch(trace) : watch.later((w) => w.batch(trace)),
      progress: (counts: ProgressCounts) =>
        watch.target ? watch.target.progress(counts) : watch.later((w) => w.progress(counts)),
      end: () => (watch.target ? watch.target.end() : watch.later((w) => w.end())),
    };
  };

  async url(): Promise<string> {
    return await (await this.loaded).url();
  }

  /** Stop serving (the port is free when this resolves) and let go of Redis. */
  async close(): Promise<void> {
    try {
      await (await this.loaded).close();
    } catch {
      // It never loaded.
    }
  }
}
