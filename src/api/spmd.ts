/**
 * `pool.spmd`: one task run as `ranks` ranks at once, one pinned worker each, that talk
 * (worker/comm.ts is the ranks' side). Here: the gang is pinned, the group opened on each
 * worker (ports between every pair of ranks, or the pool as relay), each rank's batch sent
 * through its pin, and the group torn down whatever happens.
 *
 * A rank that fails (its task threw, its worker died, the group's timeout or signal) fails the
 * group: every other rank's pending and later receives reject (`spmd-abort`), their calls are
 * aborted (their workers replaced if they ignore their signal past `abortGrace`), and the call
 * rejects with the first failure, which names its rank.
 *
 * Groups of one pool run one after another. Pinned batches queue behind what each worker holds,
 * so two groups submitted at once could each hold a worker the other waits on; one at a time,
 * every worker sees the groups in the same order and a gang always completes.
 */

import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { describe, InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { ownTask } from '../layout.js';
import { show } from '../options/checks.js';
import { resolveOptions } from '../options/option-set.js';
import { SPMD } from '../options/schema.js';
import type { WorkerPin } from '../scheduler/backend.js';
import { taskSpecOf } from '../tasks/task-spec.js';
import { isTaskRef } from '../tasks/tasks.js';
import type { SpmdOptions } from '../types.js';
import { BRAND } from '../worker/protocol.js';
import type { RankOf } from '../worker/spmd-tasks.js';
import { pinOf } from './actors.js';
import type { PoolCore } from './core.js';

/** The wrapper that makes a task one rank of a group (worker/spmd-tasks.ts), named without importing it. */
export const RANK_WRAPPER = ownTask('worker/spmd-tasks', 'rank');

/** Group numbers are unique in a process: a worker's table is keyed by them. */
let nextGroup = 1;

/** The group running on each pool, for the next one to wait behind (see the module's comment). */
const running = new WeakMap<PoolCore, Promise<unknown>>();

export function runSpmd(
  core: PoolCore,
  task: unknown,
  options: SpmdOptions,
  args: readonly unknown[],
): Promise<unknown[]> {
  let start: () => Promise<unknown[]>;
  try {
    start = prepare(core, task, options, args);
  } catch (error) {
    return Promise.reject(error);
  }
  const before = running.get(core) ?? Promise.resolve();
  const result = before.then(start, start);
  running.set(
    core,
    result.catch(() => {}),
  );
  return result;
}

/** Everything checked now, so a bad argument throws here; the group starts when called. */
function prepare(core: PoolCore, task: unknown, options: SpmdOptions, args: readonly unknown[]) {
  if (!isTaskRef(task)) {
    throw new InvalidArgTypeError(
      `pool.spmd needs a task reference from defineTasks() (its ranks find it by module), got ${show(task)}`,
    );
  }
  if (task.wrapper) {
    throw new InvalidArgValueError(
      `pool.spmd cannot run the decorated task "${task.taskName}": pass the plain task`,
    );
  }
  const settings = resolveOptions(SPMD, options ?? {});
  core.assertOpen();
  const pin = pinOf(core, 'SPMD ranks');
  const workers = core.backend.size;
  const ranks = settings.ranks ?? workers;
  if (ranks > workers) {
    throw new InvalidArgValueError(
      `pool.spmd asked for ${ranks} ranks but the pool has ${workers} workers: every rank needs a worker of its own, all at once (use at most ${workers} ranks, or a pool with more workers)`,
    );
  }
  const { name } = taskSpecOf(task, 'pool.spmd');
  const spec = {
    kind: 'task' as const,
    module: task.module,
    name: task.taskName,
    wrapper: { ...RANK_WRAPPER, options: undefined },
  };
  const relay = core.settings.backend === 'processes';
  return async (): Promise<unknown[]> => {
    const pins = await pin(ranks);
    const group = nextGroup++;
    const stop = new AbortController();
    const signal = settings.signal ? AbortSignal.any([settings.signal, stop.signal]) : stop.signal;
    let failure: { rank: number; error: unknown } | undefined;
    const fail = (rank: number, error: unknown) => {
      if (failure) return;
      failure = { rank, error };
      const reason = `rank ${rank} failed: ${describe(error)}`;
      for (const p of pins) p.post({ fanout: BRAND, t: 'spmd-abort', group, reason });
      stop.abort();
    };
    open(pins, group, relay);
    try {
      const calls = pins.map((p, rank) => {
        // A dead worker is heard through its rank's call (its pinned batch settles with the
        // crash), not `onGone`: that comes first even when the call has the better error (a
        // worker killed for a timeout: ERR_TASK_TIMEOUT).
        const of: RankOf = { group, rank };
        return core
          .runOne({ name: 'pool.spmd', task, spec: { spec, name }, dispatcher: p }, [of, ...args], {
            timeout: settings.timeout,
            signal,
          })
          .catch((error: unknown) => {
            fail(rank, error);
            throw error;
          });
      });
      const outcomes = await Promise.allSettled(calls);
      if (failure) throw withRank(failure.error, failure.rank, ranks);
      return outcomes.map((o) => (o as PromiseFulfilledResult<unknown>).value);
    } finally {
      for (const p of pins) {
        p.post({ fanout: BRAND, t: 'spmd-end', group });
        p.onRelay(undefined);
        p.unpin();
      }
    }
  };
}

/**
 * Open the group on every rank's worker, before any rank's batch: a MessageChannel per pair of
 * ranks (its ports moved to the two workers), or, where workers cannot take ports (processes),
 * the pool as relay.
 */
function open(pins: readonly WorkerPin[], group: number, relay: boolean): void {
  const size = pins.length;
  if (relay) {
    pins.forEach((p, rank) => {
      p.onRelay((m) =>
        pins[m.to]?.post({ fanout: BRAND, t: 'spmd-msg', group, to: m.to, message: m.message }),
      );
      p.post({ fanout: BRAND, t: 'spmd-open', group, rank, size });
    });
    return;
  }
  const ports: (MessagePort | null)[][] = pins.map(() => new Array<MessagePort | null>(size).fill(null));
  for (let a = 0; a < size; a++) {
    for (let b = a + 1; b < size; b++) {
      const { port1, port2 } = new MessageChannel();
      (ports[a] as (MessagePort | null)[])[b] = port1;
      (ports[b] as (MessagePort | null)[])[a] = port2;
    }
  }
  pins.forEach((p, rank) => {
    const own = ports[rank] as (MessagePort | null)[];
    p.post(
      { fanout: BRAND, t: 'spmd-open', group, rank, size, ports: own },
      own.filter((port): port is MessagePort => port !== null),
    );
  });
}

/** The failure of rank `rank`, saying so: its message starts with the rank, and it carries `rank`. */
function withRank(error: unknown, rank: number, size: number): unknown {
  if (!(error instanceof Error)) return error;
  error.message = `SPMD rank ${rank} of ${size}: ${error.message}`;
  Object.defineProperty(error, 'rank', { value: rank, enumerable: true });
  return error;
}
