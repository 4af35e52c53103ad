/**
 * One rank's side of an SPMD group (`pool.spmd`): its mailbox, point-to-point messages and the
 * collectives built on them. The pool opens the group on each rank's worker before the ranks'
 * batches (`spmd-open`), then the task runs wrapped by `spmdTasks.rank` (spmd-tasks.ts), which
 * finds the rank here and makes it `taskContext().comm`.
 *
 * Transport: where the pool gave ports (threads, inline), rank r posts straight to rank d on
 * the MessagePort of that pair, never through the pool; otherwise (processes) it sends
 * `spmd-relay` to the pool, which passes it on as `spmd-msg`. Either way messages between two
 * ranks keep their order (one channel each way). Collectives are a root exchanging with every
 * rank on its own tag space (a sequence number per collective), enough for the few ranks a
 * machine has.
 *
 * The table is per thread, keyed by group and rank: the inline backend runs several ranks (of one
 * group) on one thread, each worker runtime passing the group's messages here. It lives in
 * spmd-tasks.ts, which the pool imports (it names the rank wrapper task): the caller then loads
 * no SPMD code, and a worker loads this module when its first SPMD message comes.
 */

import type { MessagePort, TransferListItem } from 'node:worker_threads';
import { AbortError, InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import { show } from '../options/checks.js';
import type { Comm, RecvOptions, ReduceOp, SendOptions } from '../types.js';
import {
  BRAND,
  type FromWorker,
  type PeerMessage,
  type SpmdAbortMessage,
  type SpmdDeliverMessage,
  type SpmdEndMessage,
  type SpmdOpenMessage,
} from './protocol.js';
import { openRanks, rankKey } from './spmd-tasks.js';

type SpmdToWorker = SpmdOpenMessage | SpmdDeliverMessage | SpmdAbortMessage | SpmdEndMessage;

interface Waiter {
  readonly source: number | 'any';
  readonly tag: number | undefined;
  readonly collective: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** This thread's ranks (kept by spmd-tasks.ts, which the rank wrapper reads them from): all RankComms. */
const ranks = openRanks as Map<string, RankComm>;

/** Handle one of the pool's SPMD messages (the runtime passes them here); `up` reaches the pool. */
export function receiveSpmd(message: SpmdToWorker, up: (message: FromWorker) => void): void {
  switch (message.t) {
    case 'spmd-open': {
      const comm = new RankComm(message.group, message.rank, message.size, message.ports, up);
      ranks.set(rankKey(message.group, message.rank), comm);
      return;
    }
    case 'spmd-msg':
      ranks.get(rankKey(message.group, message.to))?.arrive(message.message);
      return;
    case 'spmd-abort':
    case 'spmd-end':
      for (const [key, comm] of ranks) {
        if (comm.group !== message.group) continue;
        if (message.t === 'spmd-abort') comm.abort(message.reason);
        else {
          comm.close();
          ranks.delete(key);
        }
      }
      return;
  }
}

class RankComm implements Comm {
  readonly #messages: PeerMessage[] = [];
  readonly #waiters: Waiter[] = [];
  #aborted: Error | undefined;
  /** Collectives called so far: the tag of the next one. */
  #collectives = 0;

  constructor(
    readonly group: number,
    readonly rank: number,
    readonly size: number,
    private readonly ports: readonly (MessagePort | null)[] | undefined,
    private readonly up: (message: FromWorker) => void,
  ) {
    for (const port of ports ?? []) port?.on('message', (message: PeerMessage) => this.arrive(message));
    // Bound: a task may take the methods apart (`const { send, recv } = taskContext().comm`).
    for (const name of [
      'send',
      'recv',
      'sendrecv',
      'bcast',
      'scatter',
      'gather',
      'allgather',
      'reduce',
      'allreduce',
      'barrier',
    ] as const) {
      Object.defineProperty(this, name, { value: (this[name] as (...a: unknown[]) => unknown).bind(this) });
    }
  }

  arrive(message: PeerMessage): void {
    const at = this.#waiters.findIndex((w) => matches(w, message));
    if (at < 0) {
      this.#messages.push(message);
      return;
    }
    const [waiter] = this.#waiters.splice(at, 1) as [Waiter];
    waiter.resolve(message.value);
  }

  abort(reason: string): void {
    if (this.#aborted) return;
    this.#aborted = new AbortError(`SPMD rank ${this.rank} stopped: ${reason}`);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#aborted);
  }

  close(): void {
    this.abort('the group ended');
    for (const port of this.ports ?? []) port?.close();
  }

  send(dest: number, value: unknown, options: SendOptions = {}): void {
    this.checkRank(dest, 'dest');
    const tag = options.tag ?? 0;
    if (!Number.isInteger(tag))
      throw new InvalidArgTypeError(`Expected \`tag\` to be an integer, got ${show(tag)}`);
    this.post(dest, { from: this.rank, tag, collective: false, value }, options.transfer === true);
  }

  recv<T = unknown>(source: number | 'any', options: RecvOptions = {}): Promise<T> {
    if (source !== 'any') this.checkRank(source, 'source');
    return this.take(source, options.tag, false) as Promise<T>;
  }

  async sendrecv<T = unknown>(
    value: unknown,
    dest: number,
    source: number | 'any',
    options: SendOptions = {},
  ): Promise<T> {
    this.send(dest, value, options);
    return this.recv<T>(source, { tag: options.tag ?? 0 });
  }

  async bcast<T>(value: T, root = 0): Promise<T> {
    this.checkRank(root, 'root');
    const tag = this.#collectives++;
    if (this.rank !== root) return (await this.take(root, tag, true)) as T;
    for (let r = 0; r < this.size; r++) if (r !== root) this.postCollective(r, tag, value);
    return value;
  }

  async scatter<T>(values: readonly T[] | undefined, root = 0): Promise<T> {
    this.checkRank(root, 'root');
    const tag = this.#collectives++;
    if (this.rank !== root) return (await this.take(root, tag, true)) as T;
    if (!Array.isArray(values) || values.length !== this.size) {
      throw new InvalidArgValueError(
        `scatter() on its root needs an array of one value per rank (${this.size}), got ${show(values)}`,
      );
    }
    for (let r = 0; r < this.size; r++) if (r !== root) this.postCollective(r, tag, values[r]);
    return values[root] as T;
  }

  async gather<T>(value: T, root = 0): Promise<T[] | undefined> {
    this.checkRank(root, 'root');
    const tag = this.#collectives++;
    if (this.rank !== root) {
      this.postCollective(root, tag, value);
      return undefined;
    }
    const all: T[] = [];
    for (let r = 0; r < this.size; r++) all.push(r === root ? value : ((await this.take(r, tag, true)) as T));
    return all;
  }

  async allgather<T>(value: T): Promise<T[]> {
    return this.bcast((await this.gather(value, 0)) as T[], 0);
  }

  async reduce<T>(value: T, op: ReduceOp<T>, root = 0): Promise<T | undefined> {
    const combine = reducer(op);
    const all = await this.gather(value, root);
    return all?.reduce((a, b) => combine(a, b) as T);
  }

  async allreduce<T>(value: T, op: ReduceOp<T>): Promise<T> {
    return this.bcast((await this.reduce(value, op, 0)) as T, 0);
  }

  async barrier(): Promise<void> {
    await this.allgather(null);
  }

  private checkRank(rank: unknown, what: string): void {
    if (!Number.isInteger(rank) || (rank as number) < 0 || (rank as number) >= this.size) {
      throw new InvalidArgValueError(
        `Expected \`${what}\` to be a rank from 0 to ${this.size - 1} (the group has ${this.size} ranks), got ${show(rank)}`,
      );
    }
  }

  private postCollective(dest: number, tag: number, value: unknown): void {
    this.post(dest, { from: this.rank, tag, collective: true, value }, false);
  }

  private post(dest: number, message: PeerMessage, transfer: boolean): void {
    if (this.#aborted) throw this.#aborted;
    if (dest === this.rank) {
      // To itself: a copy, as any other rank would get.
      this.arrive({ ...message, value: structuredClone(message.value) });
      return;
    }
    const port = this.ports?.[dest];
    if (port) port.postMessage(message, transfer ? transferables(message.value) : undefined);
    else this.up({ fanout: BRAND, t: 'spmd-relay', group: this.group, to: dest, message });
  }

  private take(source: number | 'any', tag: number | undefined, collective: boolean): Promise<unknown> {
    if (this.#aborted) return Promise.reject(this.#aborted);
    const waiter = { source, tag, collective };
    const at = this.#messages.findIndex((m) => matches(waiter, m));
    if (at >= 0) {
      const [message] = this.#messages.splice(at, 1) as [PeerMessage];
      return Promise.resolve(message.value);
    }
    return new Promise((resolve, reject) => this.#waiters.push({ ...waiter, resolve, reject }));
  }
}

function matches(waiter: Pick<Waiter, 'source' | 'tag' | 'collective'>, message: PeerMessage): boolean {
  return (
    waiter.collective === message.collective &&
    (waiter.source === 'any' || waiter.source === message.from) &&
    (waiter.tag === undefined || waiter.tag === message.tag)
  );
}

/** The buffers a `{ transfer: true }` send moves: those of the typed arrays and ArrayBuffers in the value (two levels deep). */
function transferables(value: unknown, depth = 0, found = new Set<ArrayBuffer>()): TransferListItem[] {
  if (value instanceof ArrayBuffer) found.add(value);
  else if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer) found.add(value.buffer);
  else if (depth < 2 && typeof value === 'object' && value !== null) {
    for (const v of Array.isArray(value) ? value : Object.values(value)) transferables(v, depth + 1, found);
  }
  return [...found];
}

type Combine = (a: unknown, b: unknown) => unknown;

const NAMED: Record<string, (a: number, b: number) => number> = {
  sum: (a, b) => a + b,
  prod: (a, b) => a * b,
  min: (a, b) => (b < a ? b : a),
  max: (a, b) => (b > a ? b : a),
};

/** How `reduce` combines two values: `op` itself, or a named op applied to numbers, elementwise to arrays. */
function reducer<T>(op: ReduceOp<T>): Combine {
  if (typeof op === 'function') return op as Combine;
  const f = NAMED[op as string];
  if (!f) {
    throw new InvalidArgValueError(
      `Expected the reduce \`op\` to be 'sum', 'prod', 'min', 'max' or a function, got ${show(op)}`,
    );
  }
  const combine = (a: unknown, b: unknown): unknown => {
    if (typeof a === 'number' && typeof b === 'number') return f(a, b);
    if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b) && !(a instanceof DataView)) {
      const x = a as unknown as Float64Array;
      const y = b as unknown as Float64Array;
      if (x.length !== y.length)
        throw new InvalidArgValueError(`reduce: arrays of different lengths (${x.length} and ${y.length})`);
      const out = new (x.constructor as Float64ArrayConstructor)(x.length);
      for (let i = 0; i < x.length; i++) out[i] = f(x[i] as number, y[i] as number);
      return out;
    }
    if (Array.isArray(a) && Array.isArray(b) && a.length === b.length)
      return a.map((v, i) => combine(v, b[i]));
    throw new InvalidArgTypeError(
      `reduce with '${op}' combines numbers, typed arrays or arrays of the same length, got ${show(a)} and ${show(b)}`,
    );
  };
  return combine;
}
