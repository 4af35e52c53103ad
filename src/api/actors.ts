/**
 * Actors and `runOnEach`: work addressed to given workers, over the backend's pins
 * (`Backend.pin`, scheduler/backend.ts).
 *
 * An actor is an instance of a class registered with `defineActors`, living on one pinned
 * worker. Each method call is a one-item call (the scheduler's `CallRun`, as `pool.run` is)
 * whose batches go to that pin; the worker set queues them there in submission order and the
 * worker runs one batch at a time, awaiting async ones, so calls run one at a time in call
 * order. The handle only has to submit calls in the order they were made: one chain per actor,
 * which waits for each call to be sent (its arguments' futures settled), never for it to end.
 *
 * When the worker dies, its pin says so before the calls on it settle: with restarts left the
 * actor is rebuilt (a new pin, its constructor run again with the same arguments, the state
 * lost), and calls made from then on go to the new instance; calls pending on the dead worker
 * reject with ERR_ACTOR_DIED. Without restarts the actor is dead: every later call rejects too.
 */

import {
  ActorDiedError,
  describe,
  InvalidArgTypeError,
  InvalidArgValueError,
  PoolClosedError,
  WorkerCrashedError,
} from '../errors.js';
import { show } from '../options/checks.js';
import { resolveOptions } from '../options/option-set.js';
import { ACTOR, ACTOR_CALL } from '../options/schema.js';
import type { WorkerPin } from '../scheduler/backend.js';
import { type Actor, type ActorClass, type ActorRef, isActorRef } from '../tasks/actors.js';
import { type ActorSpec, taskSpecOf } from '../tasks/task-spec.js';
import type { ActorCallOptions, ActorOptions, AnyFunction } from '../types.js';
import type { PoolCore, ResolvedRunOptions } from './core.js';

interface Placement {
  readonly pin: WorkerPin;
  readonly id: number;
  /** The spec of each operation on this instance, made once (a worker registers each spec once). */
  readonly specs: Map<string, { readonly spec: ActorSpec; readonly name: string }>;
}

/** Actor numbers are unique in a process: a worker's table is keyed by them. */
let nextActorId = 1;

function isThenable(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Make an actor of `ref` on a worker of `core`'s pool (see `Pool.actor`). */
export async function createActor<C extends ActorClass>(
  core: PoolCore,
  ref: ActorRef<C>,
  args: readonly unknown[],
  options: ActorOptions = {},
): Promise<Actor<C>> {
  if (!isActorRef(ref)) {
    throw new InvalidArgTypeError(`Expected an actor reference from defineActors(), got ${show(ref)}`);
  }
  if (!Array.isArray(args))
    throw new InvalidArgTypeError(`Expected \`args\` to be an array, got ${show(args)}`);
  const settings = resolveOptions(ACTOR, options);
  core.assertOpen();
  const pin = pinOf(core, 'Actors');
  const instance = new ActorInstance(core, ref, [...args], settings.maxRestarts, pin);
  await instance.ready;
  return instance.handle() as Actor<C>;
}

/** The backend's pinning, or the error saying this backend cannot address a worker. */
export function pinOf(core: PoolCore, what: string): (count: number | 'all') => Promise<WorkerPin[]> {
  const { backend } = core;
  if (!backend.pin) {
    throw new InvalidArgValueError(
      `${what} need workers that can be addressed one by one; the ${core.settings.backend} backend has none (a redis job goes to whichever \`fanout worker\` takes it): use a local backend (threads, processes, inline)`,
    );
  }
  return (count) => (backend.pin as NonNullable<typeof backend.pin>).call(backend, count);
}

class ActorInstance {
  readonly name: string;
  readonly ready: Promise<void>;
  #placement: Promise<Placement>;
  #current: Placement | undefined;
  /** Why calls can no longer run (set once the actor is dead or released). */
  #dead: Error | undefined;
  #released: Promise<void> | undefined;
  /** Resolves when the last call made has been sent to its worker. */
  #tail: Promise<void> = Promise.resolve();
  /** Calls made and not sent yet (waiting in #tail). */
  #unsent = 0;
  #restartsLeft: number;
  restarts = 0;

  constructor(
    private readonly core: PoolCore,
    private readonly ref: ActorRef,
    private readonly args: unknown[],
    maxRestarts: number,
    private readonly pin: (count: number) => Promise<WorkerPin[]>,
  ) {
    this.name = ref.className;
    this.#restartsLeft = maxRestarts;
    this.#placement = this.place();
    this.ready = this.#placement.then(() => undefined);
    // A failed first placement is the caller's (through `ready`); later ones set #dead.
    this.#placement.catch(() => {});
  }

  get worker(): number {
    return this.#current?.pin.worker ?? -1;
  }

  /** A worker pinned, the instance built there with the constructor's arguments. */
  private async place(): Promise<Placement> {
    const [pin] = (await this.pin(1)) as [WorkerPin];
    const id = nextActorId++;
    const placement: Placement = { pin, id, specs: new Map() };
    pin.onGone((error) => this.workerGone(placement, error));
    try {
      await this.send(placement, 'new', undefined, this.args, {});
    } catch (error) {
      pin.unpin();
      throw error;
    }
    this.#current = placement;
    return placement;
  }

  /** Its worker is gone: rebuild it if it may be, else it is dead. */
  private workerGone(placement: Placement, error: Error): void {
    if (this.#released || this.#dead || this.#current !== placement) return;
    if (error instanceof PoolClosedError) {
      this.#dead = error;
      return;
    }
    if (this.#restartsLeft > 0) {
      this.#restartsLeft--;
      this.restarts++;
      this.#current = undefined;
      this.#placement = this.place();
      this.#placement.catch((cause: unknown) => {
        this.#dead = new ActorDiedError(
          this.name,
          `it could not be rebuilt after its worker died: ${describe(cause)}`,
          {
            cause,
          },
        );
      });
      return;
    }
    this.#dead = new ActorDiedError(this.name, `its worker died: ${describe(error)}`, { cause: error });
  }

  /** The spec of one operation on this actor, made once per placement and method (a worker registers it once). */
  private spec(
    placement: Placement,
    op: ActorSpec['op'],
    method?: string,
  ): { spec: ActorSpec; name: string } {
    const key = method ?? op;
    let found = placement.specs.get(key);
    if (!found) {
      const { module, className } = this.ref;
      const spec: ActorSpec = Object.freeze({
        kind: 'actor',
        module,
        className,
        actor: placement.id,
        op,
        method,
      });
      found = { spec, name: method ? `${this.name}.${method}` : `${this.name} (${op})` };
      placement.specs.set(key, found);
    }
    return found;
  }

  /** Run one operation on the worker of `placement`; a crash there is the actor's death. */
  private send(
    placement: Placement,
    op: ActorSpec['op'],
    method: string | undefined,
    args: readonly unknown[],
    options: ActorCallOptions | ResolvedRunOptions,
    accepted?: { readonly seed: number },
  ): Promise<unknown> {
    const spec = this.spec(placement, op, method);
    return this.core.runOne(
      { name: spec.name, task: undefined, spec, dispatcher: placement.pin, accepted },
      args,
      options,
      (error) =>
        error instanceof WorkerCrashedError && placement.pin.gone
          ? new ActorDiedError(this.name, `its worker died while the call was pending: ${describe(error)}`, {
              cause: error,
            })
          : error,
    );
  }

  /** A method call, sent after the calls made before it (see the module's comment). */
  call(method: string, args: readonly unknown[], options: ResolvedRunOptions): Promise<unknown> {
    if (this.#released) return Promise.reject(new ActorDiedError(this.name, 'it was released'));
    if (this.#dead) return Promise.reject(this.#dead);
    // Accepted now, as a pool.run is: a call made before close() runs, and close() waits for it.
    try {
      this.core.assertOpen();
    } catch (error) {
      return Promise.reject(error);
    }
    const accepted = { seed: this.core.claimSeed() };
    const current = this.#current;
    if (this.#unsent === 0 && current && !args.some(isThenable)) {
      // Nothing made before it waits to be sent, and nothing to wait for: send it now (the
      // common case, and the round trip the bench row measures). runOne tracks it for close().
      return this.send(current, 'call', method, args, options, accepted);
    }
    this.#unsent++;
    const sent = this.#tail.then(async () => {
      const values = await Promise.all(args);
      const placement = await this.#placement;
      if (this.#dead) throw this.#dead;
      // Wrapped: the chain waits for the call to be sent, not for its result.
      return { result: this.send(placement, 'call', method, values, options, accepted) };
    });
    const settled = () => {
      this.#unsent--;
    };
    this.#tail = sent.then(settled, settled);
    const result = sent.then(({ result }) => result);
    this.core.track(result);
    return result;
  }

  release(): Promise<void> {
    this.#released ??= this.#tail.then(async () => {
      const placement = await this.#placement.catch(() => undefined);
      if (!placement || placement.pin.gone) return;
      try {
        await this.send(placement, 'drop', undefined, [], {});
      } catch {
        // The pool closed or the worker died meanwhile: the instance is gone either way.
      } finally {
        placement.pin.unpin();
      }
    });
    return this.#released;
  }

  /** The handle: the class's methods, and the control (see ActorControl). */
  handle(): object {
    const methodsWith = (input: ActorCallOptions): Record<string, AnyFunction> => {
      // Resolved once for all the calls made through these methods, not once per call.
      const options = this.core.runOptions(input);
      const methods: Record<string, AnyFunction> = {};
      for (const method of this.ref.methods) {
        methods[method] = (...args: unknown[]) => this.call(method, args, options);
      }
      return methods;
    };
    const handle = methodsWith({});
    const self = this;
    return Object.freeze(
      Object.defineProperties(handle, {
        withOptions: {
          value: (options: ActorCallOptions) => {
            // Checked now, so a bad option throws where it is written.
            resolveOptions(ACTOR_CALL, options);
            return Object.freeze(methodsWith(options));
          },
        },
        release: { value: () => this.release() },
        [Symbol.asyncDispose]: { value: () => this.release() },
        worker: {
          get() {
            return self.worker;
          },
          enumerable: true,
        },
        restarts: {
          get() {
            return self.restarts;
          },
          enumerable: true,
        },
      }),
    );
  }
}

/** `task(...args)` once on every worker of the pool (see `Pool.runOnEach`), one result per worker. */
export async function runOnEach(core: PoolCore, task: unknown, args: readonly unknown[]): Promise<unknown[]> {
  if (!Array.isArray(args))
    throw new InvalidArgTypeError(`Expected \`args\` to be an array, got ${show(args)}`);
  core.assertOpen();
  const spec = taskSpecOf(task, 'pool.runOnEach');
  const pins = await pinOf(core, 'runOnEach')('all');
  try {
    return await Promise.all(
      pins.map((pin) => core.runOne({ name: 'pool.runOnEach', task, spec, dispatcher: pin }, args, {})),
    );
  } finally {
    for (const pin of pins) pin.unpin();
  }
}
