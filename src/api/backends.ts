/**
 * The backend a pool's settings ask for: a worker set over one local transport (threads,
 * processes, inline), or the redis backend. The redis backend's module, and the drivers it
 * loads, are imported when its first batch is submitted, so a program that never uses it never
 * pays for them at start-up.
 */

import { inlineTransport } from '../local/inline.js';
import type { WorkerSetObserver } from '../local/observer.js';
import { processesTransport } from '../local/processes.js';
import { threadsTransport } from '../local/threads.js';
import type { Transport } from '../local/transport.js';
import { WorkerSet } from '../local/worker-set.js';
import type { PoolSettings, RedisSettings } from '../options/resolve.js';
import { REDIS_BATCH_LIMITS, REDIS_SUPPORTS } from '../redis/capabilities.js';
import type {
  Backend,
  BackendSupports,
  BatchLimits,
  BatchOutcome,
  BatchRequest,
  Ticket,
} from '../scheduler/backend.js';

/** `observer`: told what the local workers do (a dashboard's); a redis pool's workers are elsewhere. */
export function openBackend(settings: PoolSettings, observer?: WorkerSetObserver): Backend {
  if (settings.backend === 'redis') return redisBackend(settings.redis);
  return new WorkerSet(transportOf(settings), { ...settings.workerSet, observer });
}

function transportOf(settings: Extract<PoolSettings, { workerSet: unknown }>): Transport {
  const { resourceLimits, execArgv } = settings;
  switch (settings.backend) {
    case 'threads':
      return threadsTransport({ resourceLimits, execArgv });
    case 'processes':
      // The one limit a process can take (options/resolve.ts checks the others away).
      return processesTransport({ execArgv, maxOldSpaceMb: resourceLimits?.maxOldGenerationSizeMb });
    case 'inline':
      return inlineTransport();
  }
}

function redisBackend(settings: RedisSettings): Backend {
  return new LazyBackend(settings.size, REDIS_SUPPORTS, REDIS_BATCH_LIMITS, async () => {
    const { RedisBackend } = await import('../redis/engine.js');
    return new RedisBackend(settings);
  });
}

/**
 * A backend loaded on first use. What a pool asks before that (its size, what crosses, batch
 * bounds) is given up front; batches submitted while the module loads wait for it.
 */
class LazyBackend implements Backend {
  #loading: Promise<Backend> | undefined;
  #loaded: Backend | undefined;

  constructor(
    readonly size: number,
    readonly supports: BackendSupports,
    readonly batchLimits: BatchLimits,
    private readonly load: () => Promise<Backend>,
  ) {}

  get liveWorkers(): number {
    return this.#loaded?.liveWorkers ?? 0;
  }

  submit(request: BatchRequest): Ticket {
    if (this.#loaded) return this.#loaded.submit(request);
    let inner: Ticket | undefined;
    let cancelled = false;
    const outcome = this.backend().then(
      (backend): BatchOutcome | Promise<BatchOutcome> => {
        if (cancelled) return { kind: 'cancelled' };
        inner = backend.submit(request);
        return inner.outcome;
      },
      (error: unknown): BatchOutcome => ({ kind: 'failed', error: error as Error }),
    );
    return {
      outcome,
      cancel: () => {
        cancelled = true;
        inner?.cancel();
      },
    };
  }

  private backend(): Promise<Backend> {
    this.#loading ??= this.load().then((backend) => {
      this.#loaded = backend;
      return backend;
    });
    return this.#loading;
  }

  async close(): Promise<void> {
    const backend = await this.#loading?.catch(() => undefined);
    await backend?.close();
  }

  async terminate(): Promise<void> {
    const backend = await this.#loading?.catch(() => undefined);
    await backend?.terminate();
  }
}
