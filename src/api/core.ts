/**
 * The core that `Pool`, `parallel()` and `reduceChunks` are thin facades over: one backend, the
 * pool's settings and its sequence of call seeds, the calls in progress (`close()` waits for
 * them), and how a call is prepared — everything checked up front — and started when asked (an
 * `imap` starts when it is first iterated), with progress and traces wired in, so every kind of
 * call gets them.
 */

import { crossingError, crossingProblem } from '../codec/crossing.js';
import { CallSeeds } from '../data/random.js';
import { InvalidArgValueError, PoolClosedError } from '../errors.js';
import { DashboardPlan, type PoolDashboard } from '../observe/dashboard/plan.js';
import { ProgressRenderer, ProgressTracker } from '../observe/progress.js';
import { TraceRecorder } from '../observe/trace.js';
import type { OptionSet, Resolved, Specs } from '../options/option-set.js';
import { type PoolSettings, resolveCallOptions, resolvePoolOptions } from '../options/resolve.js';
import { CALL, MAP } from '../options/schema.js';
import type { Backend, Dispatcher } from '../scheduler/backend.js';
import { type CallOptions, CallRun, type RunSettings } from '../scheduler/call.js';
import { assertIterable, readerOf } from '../scheduler/input.js';
import { type TaskSpec, taskSpecOf } from '../tasks/task-spec.js';
import type { BatchTrace, BroadcastHandle, ItemsOf, ProgressCounts } from '../types.js';
import { openBackend } from './backends.js';
import { nestedRunner } from './nested.js';
import { collectResults, type StartedCall, type StreamTracker, streamResults } from './results.js';

export type { StartedCall };

/** One call, as a facade describes it. */
export interface CallDescription {
  /** `pool.map`, `pool.run`, `parallel`...: for messages. */
  readonly name: string;
  /** Each item is the arguments of a call: `task(...item)`. */
  readonly spread: boolean;
  /** A task reference or an inline function; or, made by the facade, a task spec (parallel()'s). */
  readonly task: unknown;
  readonly spec?: { readonly spec: TaskSpec; readonly name: string } | undefined;
  readonly items: ItemsOf<unknown>;
  /** For calls whose items are not the arguments themselves (parallel()). */
  readonly hooks?: Pick<CallOptions, 'taskNameOf' | 'argsOf' | 'toBatch'> | undefined;
  /** The first batch started running (a future's `running`). */
  readonly onStart?: (() => void) | undefined;
  /**
   * Set when the facade accepted the call and claimed its seed already (reduceChunks does, before
   * planning its source): the call then neither checks that the pool is open nor claims a seed.
   */
  readonly accepted?: { readonly seed: number } | undefined;
  /** Where its batches go instead of the pool's backend: one pinned worker (actors, runOnEach). */
  readonly dispatcher?: Dispatcher | undefined;
}

/** The call options every call reads (the map options; a `run` reads a subset). */
export type CallSettings = Resolved<typeof MAP.specs>;

/** A run's options already resolved (see `PoolCore.runOptions`): `prepare` takes them as they are. */
export class ResolvedRunOptions {
  constructor(readonly settings: CallSettings) {}
}

/** A call's observers, as its options ask (see `PoolCore.observers`). */
export interface CallObservers {
  readonly onBatch: ((batch: BatchTrace) => void) | undefined;
  readonly timeItems: boolean;
  readonly onProgress?: ((counts: ProgressCounts) => void) | undefined;
  readonly onTaskProgress?: ((amount: number) => void) | undefined;
  readonly finish: () => Promise<void>;
}

export class PoolCore implements StreamTracker {
  readonly settings: PoolSettings;
  readonly backend: Backend;
  /** The pool's live dashboard, when its `dashboard` option is on. */
  readonly dashboard: PoolDashboard | undefined;
  readonly #seeds: CallSeeds;
  readonly #active = new Set<Promise<unknown>>();
  /** How to end each stream at once when the pool is terminated (see StreamTracker). */
  readonly #streams = new Map<Promise<unknown>, () => Promise<void>>();
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: unknown) {
    this.settings = resolvePoolOptions(options);
    this.#seeds = new CallSeeds(this.settings.seed);
    const { settings } = this;
    // The dashboard's stand-in hears the local workers from the start; it loads and listens
    // once the backend is set up (a redis pool's workers are in Redis, read from there).
    const plan = settings.dashboard && new DashboardPlan(settings.dashboard);
    this.backend = openBackend(settings, plan?.workers);
    // Child calls of its tasks (`taskContext().pool`) run on this pool's own backend.
    this.backend.setNested?.(nestedRunner(this.backend));
    this.dashboard = plan?.start(
      settings.backend,
      settings.workers,
      settings.backend === 'redis' ? settings.redis : undefined,
    );
  }

  get seed(): number {
    return this.#seeds.base;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Throws ERR_POOL_CLOSED when the pool no longer takes work. */
  assertOpen(): void {
    if (this.#closed) {
      throw new PoolClosedError('The pool is closed: no new work is accepted after close() or terminate()');
    }
  }

  /**
   * The seed of the call starting now, from the pool's sequence (see `CallSeeds`). Every call
   * takes one as it starts, even one with its own `seed` option, so a call's place in the
   * sequence alone decides the seed it would draw.
   */
  claimSeed(): number {
    return this.#seeds.next();
  }

  /**
   * A run's options, checked and resolved once (with the pool's call defaults), for a caller
   * that makes many calls with the same options (an actor's handle): `runOne` then skips
   * resolving them per call.
   */
  runOptions(input: unknown): ResolvedRunOptions {
    return new ResolvedRunOptions(
      resolveCallOptions(CALL, input, this.settings.callDefaults) as CallSettings,
    );
  }

  /** Keep `close()` waiting for `running`; a stream also says how to end it (`kill`). */
  track(running: Promise<unknown>, kill?: () => Promise<void>): void {
    this.#active.add(running);
    if (kill) this.#streams.set(running, kill);
    const untrack = () => {
      this.#active.delete(running);
      this.#streams.delete(running);
    };
    running.then(untrack, untrack);
  }

  /**
   * Why a value cannot go to this pool's workers, or undefined (always, where nothing crosses):
   * the one check of what crosses to workers, set up for this backend (codec/crossing.ts).
   */
  readonly crossing = (value: unknown): string | undefined => crossingProblem(value, this.backend.supports);

  /**
   * Check a call completely, its options read as `set` (the map options, or a run's, which lack
   * `ordered` and `errors`); the returned function starts it.
   */
  prepare(call: CallDescription, input: unknown, set: OptionSet<Specs> = MAP): () => StartedCall {
    const options =
      input instanceof ResolvedRunOptions
        ? input.settings
        : (resolveCallOptions(set, input, this.settings.callDefaults) as CallSettings);
    const { spec, name } = call.spec ?? taskSpecOf(call.task, call.name);
    const crossing = this.checkRun([spec], options, call.name);
    assertIterable(call.items);
    return (): StartedCall => this.start(call, options, spec, name, crossing);
  }

  /**
   * What every call checks before it starts, maps and graphs alike: its tasks can run on this
   * backend (inline functions only where they travel) and its `context` can cross. Returns the
   * crossing check its run applies to each argument (undefined where nothing crosses).
   */
  checkRun(specs: readonly TaskSpec[], options: CallSettings, callName: string): RunSettings['crossing'] {
    const { supports } = this.backend;
    if (!supports.inlineFunctions && specs.some((spec) => spec.kind === 'inline')) {
      throw new InvalidArgValueError(
        `Inline functions cannot run on the ${this.settings.backend} backend (only task modules travel there); use defineTasks`,
      );
    }
    const crossing = supports.crossesBoundary ? this.crossing : undefined;
    const contextProblem = options.context === undefined ? undefined : crossing?.(options.context);
    if (contextProblem) throw crossingError(`The \`context\` of ${callName}`, contextProblem);
    return crossing;
  }

  /** What a run takes from its call's options, maps (CallRun) and graphs (GraphRun) alike. */
  runSettings(
    options: CallSettings,
    seed: number,
    crossing: RunSettings['crossing'],
    observers: CallObservers,
  ): RunSettings {
    return {
      collect: options.errors === 'collect',
      batchSize: options.batchSize,
      preDispatch: options.preDispatch,
      timeout: options.timeout,
      retries: options.retries,
      retryOn: options.retryOn,
      seed,
      context: options.context,
      signal: options.signal,
      crossing,
      onProgress: observers.onProgress,
      onBatch: observers.onBatch,
      timeItems: observers.timeItems,
    };
  }

  private start(
    call: CallDescription,
    options: CallSettings,
    spec: TaskSpec,
    taskName: string,
    crossing: ((value: unknown) => string | undefined) | undefined,
  ): StartedCall {
    // The call's seed is fixed as it starts: its own `seed` option, else the pool's next one.
    let seed: number;
    if (call.accepted) seed = options.seed ?? call.accepted.seed;
    else {
      this.assertOpen();
      const claimed = this.claimSeed();
      seed = options.seed ?? claimed;
    }
    const { backend } = this;
    const dispatcher = call.dispatcher ?? backend;
    const reader = readerOf(call.items, 'items', {
      packNumbers: backend.supports.crossesBoundary && !call.spread && !call.hooks?.toBatch,
    });
    // A first worker starts as early as the call is known to have items (see Backend.expect).
    if (dispatcher === backend && reader.total !== 0) backend.expect?.(spec);
    const observers = this.observers(options, reader.total, call.name, taskName);
    const base: CallOptions = {
      ...this.runSettings(options, seed, crossing, observers),
      task: spec,
      taskName,
      spread: call.spread,
      ordered: options.ordered !== false,
      onStart: call.onStart,
      onTaskProgress: observers.onTaskProgress,
      ...call.hooks,
    };
    return { run: new CallRun(dispatcher, reader, base), finish: observers.finish };
  }

  /**
   * What a call's options ask to observe, wired: the dashboard's watch, a trace recorder, the
   * user's `onBatch`, a progress tracker with its bar and `onProgress`; `finish` tells the
   * dashboard the call ended, ends the bar and writes the trace. Maps and graphs
   * (api/graph.ts) alike.
   */
  observers(
    options: CallSettings,
    total: number | undefined,
    callName: string,
    taskName: string,
  ): CallObservers {
    const watch = this.dashboard?.observeCall(callName, taskName, total);
    const recorder = options.trace === undefined ? undefined : new TraceRecorder();
    const userOnBatch = both(options.onBatch, watch?.batch);
    const onBatch =
      recorder && userOnBatch
        ? (batch: BatchTrace) => {
            recorder.record(batch);
            userOnBatch(batch);
          }
        : (recorder?.record ?? userOnBatch);
    // The caller is done with the call: the dashboard hears of its end, the trace is written.
    const finished = async () => {
      watch?.end();
      if (recorder && options.trace !== undefined) await recorder.write(options.trace);
    };
    const timeItems = recorder !== undefined;
    const { progress } = options;
    const onProgress = both(options.onProgress, watch?.progress);
    if (!onProgress && !progress) return { onBatch, timeItems, finish: finished };
    const tracker = new ProgressTracker(undefined, total);
    const renderer = progress ? new ProgressRenderer(tracker, progress === true ? {} : progress) : undefined;
    const changed = () => {
      renderer?.changed();
      onProgress?.(tracker.state());
    };
    return {
      onBatch,
      timeItems,
      onProgress: (counts) => {
        tracker.update(counts);
        changed();
      },
      onTaskProgress: (amount) => {
        tracker.addUnits(amount);
        changed();
      },
      finish: async () => {
        renderer?.finish();
        await finished();
      },
    };
  }

  /** A call's results as one array (`map`); a bad argument rejects it. */
  collect(call: CallDescription, input: unknown): Promise<unknown[]> {
    let started: StartedCall;
    try {
      started = this.prepare(call, input)();
    } catch (error) {
      return Promise.reject(error);
    }
    const running = collectResults(started);
    this.track(running);
    return running;
  }

  /**
   * One task run with `args` (a call of one item, read as a run's options): resolves to its
   * value. `close()` waits for it.
   */
  runOne(
    call: Omit<CallDescription, 'items' | 'spread'>,
    args: readonly unknown[],
    input: unknown,
    mapError?: (error: unknown) => unknown,
  ): Promise<unknown> {
    let started: StartedCall;
    try {
      started = this.prepare({ ...call, spread: true, items: [args] }, input, CALL)();
    } catch (error) {
      return Promise.reject(error);
    }
    // The error is mapped in here, not by a `.catch` on the result: one promise less per call.
    const running = (async () => {
      try {
        try {
          let value: unknown;
          for await (const chunk of started.run.chunks()) value = chunk[0];
          return value;
        } finally {
          await started.finish();
        }
      } catch (error) {
        throw mapError ? mapError(error) : error;
      }
    })();
    this.track(running);
    return running;
  }

  /** A call's results as a stream (`imap`), checked now: a bad argument throws here, not at the first iteration. */
  stream(call: CallDescription, input: unknown): AsyncIterable<unknown> {
    return streamResults(this.prepare(call, input), this);
  }

  /** A value sent once to each worker that needs it. */
  broadcast<T>(value: T): BroadcastHandle<T> {
    if (this.#closed) throw new PoolClosedError('The pool is closed');
    const { backend } = this;
    if (!backend.broadcast) {
      throw new InvalidArgValueError(`broadcast() is not available on the ${this.settings.backend} backend`);
    }
    const problem = this.crossing(value);
    if (problem) throw crossingError('The broadcast value', problem);
    return backend.broadcast(value);
  }

  /** Take no more work, wait for the calls in progress, then stop the workers. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      while (this.#active.size > 0) await Promise.allSettled([...this.#active]);
      await this.backend.close();
      await this.dashboard?.close();
    })();
    return this.#closing;
  }

  /** Stop now: the backend fails what is in flight; streams end, even those nobody iterates any more. */
  async terminate(): Promise<void> {
    this.#closed = true;
    await this.backend.terminate();
    await Promise.allSettled([...this.#streams.values()].map((kill) => kill()));
    await Promise.allSettled([...this.#active]);
    await this.#closing;
    await this.dashboard?.close();
  }
}

/** Two callbacks as one (the caller's first), or whichever is given. */
function both<T>(
  first: ((value: T) => void) | undefined,
  second: ((value: T) => void) | undefined,
): ((value: T) => void) | undefined {
  if (!first || !second) return first ?? second;
  return (value) => {
    first(value);
    second(value);
  };
}

/**
 * The core of each `Pool`, for the facades that run calls on a pool they were given
 * (`parallel({ pool })`): a pool keeps its core private, and nothing of it is reachable from the
 * pool object itself.
 */
const cores = new WeakMap<object, PoolCore>();

export function bindCore(pool: object, core: PoolCore): void {
  cores.set(pool, core);
}

/** The core of a pool made by `new Pool()`, or undefined for anything else. */
export function coreOf(pool: unknown): PoolCore | undefined {
  return typeof pool === 'object' && pool !== null ? cores.get(pool) : undefined;
}
