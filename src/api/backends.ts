/**
 * The backend a pool's settings ask for: a worker set over one local transport (threads,
 * processes, inline), or the redis backend. The redis backend's module, and the drivers it
 * loads, are imported when its first batch is submitted, so a program that never uses it never
 * pays for them at start-up.
 */

import { crossingError, crossingProblem } from '../codec/crossing.js';
import { InvalidArgValueError } from '../errors.js';
import { inlineTransport } from '../local/inline.js';
import type { WorkerSetObserver } from '../local/observer.js';
import { processesTransport } from '../local/processes.js';
import { threadsTransport } from '../local/threads.js';
import type { Transport } from '../local/transport.js';
import { type WorkerInitializer, WorkerSet } from '../local/worker-set.js';
import type { PoolSettings, RedisSettings } from '../options/resolve.js';
import { CallerBroadcasts } from '../redis/broadcasts.js';
import { REDIS_BATCH_LIMITS, REDIS_SUPPORTS } from '../redis/capabilities.js';
import type {
  Backend,
  BackendSupports,
  BatchLimits,
  BatchOutcome,
  BatchRequest,
  Ticket,
} from '../scheduler/backend.js';
import { taskSpecOf } from '../tasks/task-spec.js';
import type { BroadcastHandle } from '../types.js';

/** `observer`: told what the local workers do (a dashboard's); a redis pool's workers are elsewhere. */
export function openBackend(settings: PoolSettings, observer?: WorkerSetObserver): Backend {
  if (settings.backend === 'redis') return redisBackend(settings.redis);
  const transport = transportOf(settings);
  return new WorkerSet(
    transport,
    { ...settings.workerSet, observer },
    initializerOf(settings, transport.supports),
  );
}

/**
 * The pool's `initializer` as the batch every worker runs as it starts: its task checked like
 * any call's (a task reference, or an inline function where the backend takes them), its
 * arguments checked to cross now, so a bad one fails `new Pool()` rather than every start.
 */
function initializerOf(
  settings: Extract<PoolSettings, { workerSet: unknown }>,
  supports: BackendSupports,
): WorkerInitializer | undefined {
  const { initializer } = settings;
  if (!initializer) return undefined;
  const { spec, name } = taskSpecOf(initializer.task, 'the initializer');
  if (spec.kind === 'inline' && !supports.inlineFunctions) {
    throw new InvalidArgValueError(
      `The initializer cannot be an inline function on the ${settings.backend} backend; use defineTasks`,
    );
  }
  const args = [...(initializer.args ?? [])];
  const problem = crossingProblem(args, supports);
  if (problem) throw crossingError("The initializer's `args`", problem);
  return {
    request: {
      task: spec,
      taskName: name,
      spread: true,
      items: [args],
      first: 0,
      timeout: undefined,
      track: false,
      stopOnError: false,
      seed: settings.seed,
    },
  };
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
  // Handles are made at once; the engine writes their values to Redis when a batch needs them.
  const broadcasts = new CallerBroadcasts(settings.prefix, settings.queue);
  const backend = new LazyBackend(settings.size, REDIS_SUPPORTS, REDIS_BATCH_LIMITS, async () => {
    const { RedisBackend } = await import('../redis/engine.js');
    return new RedisBackend(settings, broadcasts);
  });
  backend.broadcast = (value) => broadcasts.create(value);
  return backend;
}

/**
 * A backend loaded on first use. What a pool asks before that (its size, what crosses, batch
 * bounds) is given up front; batches submitted while the module loads wait for it.
 */
class LazyBackend implements Backend {
  #loading: Promise<Backend> | undefined;
  #loaded: Backend | undefined;
  broadcast?: <T>(value: T) => BroadcastHandle<T>;

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
