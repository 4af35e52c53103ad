/**
 * Turning what a caller passed (a task or function, items, options) into a scheduled call:
 * everything is validated up front, and the call starts only when asked (an `imap` starts when
 * it is first iterated). Progress reporting is wired here, so every kind of call gets it.
 */

import { findUncloneable } from './codec/cloneable.js';
import { InvalidArgTypeError, InvalidArgValueError, NotCloneableError } from './errors.js';
import { inlineTask } from './inline-functions.js';
import type { CallObserver } from './observe/dashboard/events.js';
import { ProgressRenderer, ProgressTracker } from './observe/progress.js';
import { checkTracePath, TraceRecorder } from './observe/trace.js';
import { abortSignal, boolean, checkKnownKeys, oneOf, show } from './options.js';
import { type ItemsOf, type MapOptions, type ResolvedDefaults, resolveDefaults } from './pool-options.js';
import { type BatchTrace, type CallOptions, CallRun } from './scheduler/call.js';
import { assertIterable, readerOf } from './scheduler/input.js';
import type { Engine } from './scheduler/types.js';
import { type AnyFunction, isTaskRef } from './tasks.js';
import type { TaskSpec } from './worker/protocol.js';

/** What a call needs to know that does not come from the caller's options. */
export interface CallSetup {
  readonly engine: Engine;
  readonly backendName: string;
  readonly defaults: ResolvedDefaults;
  /**
   * The seed of the call starting now, from the pool's sequence (see `CallSeeds`). Every call
   * takes one as it starts, even one with its own `seed` option, so a call's place in the
   * sequence alone decides the seed it would draw.
   */
  readonly claimSeed: () => number;
  /** Throws (ERR_POOL_CLOSED) when the pool no longer takes work. */
  readonly assertOpen: () => void;
  /** `pool.map`, `pool.run`, ...: for messages. */
  readonly callName: string;
  readonly spread: boolean;
  readonly keys: readonly string[];
  readonly onStart?: () => void;
  /** Told of the call as it runs (the pool's dashboard). */
  readonly observe?: CallObserver | undefined;
}

/** A call in progress; `finish()` must run when the caller is done with it (progress bar, trace file). */
export interface StartedCall {
  readonly run: CallRun;
  finish(): Promise<void>;
}

/** The task spec of a task reference, or of an inline function (checked for outer variables). */
export function taskSpecOf(task: unknown, callName: string): { spec: TaskSpec; name: string } {
  if (isTaskRef(task)) {
    const spec: TaskSpec = { kind: 'task', module: task.module, name: task.taskName, wrapper: task.wrapper };
    return { spec, name: task.taskName };
  }
  if (typeof task === 'function') return inlineTask(task as AnyFunction, callName);
  throw new InvalidArgTypeError(
    `Expected \`task\` to be a task reference from defineTasks() or a function, got ${show(task)}`,
  );
}

/** Validate a call completely; the returned function starts it. */
export function prepareCall(
  setup: CallSetup,
  task: unknown,
  items: ItemsOf<unknown>,
  options: MapOptions,
): () => StartedCall {
  checkKnownKeys('the call options', options, setup.keys);
  const { spec, name } = taskSpecOf(task, setup.callName);
  return prepareSpecCall(setup, spec, name, items, options);
}

/** `prepareCall` for a task spec made by the caller (parallel()'s mixed tasks). */
export function prepareSpecCall(
  setup: CallSetup,
  spec: TaskSpec,
  name: string,
  items: ItemsOf<unknown>,
  options: MapOptions,
  hooks: Pick<CallOptions, 'taskNameOf' | 'argsOf' | 'toBatch'> = {},
): () => StartedCall {
  const { engine } = setup;
  if (spec.kind === 'inline' && !engine.supports.inlineFunctions) {
    throw new InvalidArgValueError(
      `Inline functions cannot run on the ${setup.backendName} backend (only task modules travel there); use defineTasks`,
    );
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new InvalidArgTypeError(
      `Expected \`onProgress\` to be a function, got ${show(options.onProgress)}`,
    );
  }
  if (
    options.progress !== undefined &&
    typeof options.progress !== 'boolean' &&
    typeof options.progress !== 'object'
  ) {
    throw new InvalidArgTypeError(
      `Expected \`progress\` to be a boolean or progress options, got ${show(options.progress)}`,
    );
  }
  if (options.context !== undefined && engine.supports.crossesBoundary) {
    const problem = findUncloneable(options.context);
    if (problem) throw new NotCloneableError(`The \`context\` of ${setup.callName} is ${problem}`);
  }
  const base: Omit<CallOptions, 'onProgress' | 'onTaskProgress'> = {
    task: spec,
    taskName: name,
    spread: setup.spread,
    ordered: options.ordered === undefined ? true : boolean('ordered', options.ordered),
    collect:
      options.errors === undefined
        ? false
        : oneOf('errors', options.errors, ['fail', 'collect']) === 'collect',
    ...resolveDefaults(options, setup.defaults),
    context: options.context,
    signal: options.signal === undefined ? undefined : abortSignal('signal', options.signal),
    checkArgs: engine.supports.crossesBoundary,
    noSharedMemory: engine.supports.crossesBoundary && !engine.supports.sharedMemory,
    onStart: setup.onStart,
    ...hooks,
  };
  if (options.onBatch !== undefined && typeof options.onBatch !== 'function') {
    throw new InvalidArgTypeError(`Expected \`onBatch\` to be a function, got ${show(options.onBatch)}`);
  }
  const tracePath = options.trace === undefined ? undefined : checkTracePath(options.trace);
  assertIterable(items);
  return () => {
    setup.assertOpen();
    // The call's seed is fixed as it starts: its own `seed` option, else the pool's next one.
    const claimed = setup.claimSeed();
    const call = options.seed === undefined ? { ...base, seed: claimed } : base;
    const reader = readerOf(items, 'items', {
      packNumbers: engine.supports.crossesBoundary && !setup.spread && !hooks.toBatch,
    });
    const watch = setup.observe?.(setup.callName, name, reader.total);
    const { progress } = options;
    const onProgress = watch ? both(options.onProgress, watch.progress) : options.onProgress;
    const recorder = tracePath === undefined ? undefined : new TraceRecorder();
    const userOnBatch = watch ? both(options.onBatch, watch.batch) : options.onBatch;
    const onBatch =
      recorder && userOnBatch
        ? (batch: BatchTrace) => {
            recorder.record(batch);
            userOnBatch(batch);
          }
        : (recorder?.record ?? userOnBatch);
    const traced = { onBatch, timeItems: recorder !== undefined };
    const writeTrace = async () => {
      if (recorder && tracePath !== undefined) await recorder.write(tracePath);
    };
    if (!onProgress && !progress)
      return { run: new CallRun(engine, reader, { ...call, ...traced }), finish: writeTrace };
    const tracker = new ProgressTracker(undefined, reader.total);
    const renderer = progress ? new ProgressRenderer(tracker, progress === true ? {} : progress) : undefined;
    const changed = () => {
      renderer?.changed();
      onProgress?.(tracker.state());
    };
    const run = new CallRun(engine, reader, {
      ...call,
      ...traced,
      onProgress: (counts) => {
        tracker.update(counts);
        changed();
      },
      onTaskProgress: (amount) => {
        tracker.addUnits(amount);
        changed();
      },
    });
    return {
      run,
      finish: async () => {
        renderer?.finish();
        watch?.end();
        await writeTrace();
      },
    };
  };
}

/** Two callbacks as one (the caller's, if any, first). */
function both<T>(first: ((value: T) => void) | undefined, second: (value: T) => void): (value: T) => void {
  return first
    ? (value) => {
        first(value);
        second(value);
      }
    : second;
}
