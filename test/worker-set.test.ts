/**
 * The worker set on its own, over a fake transport whose workers do only what the test says:
 * they become ready, report starts, finish, crash or exit when told. What is checked is the
 * lifecycle the real transports share: workers start on demand, a batch goes to an idle worker
 * rather than behind a busy one, a crash fails only the batch that was running and re-queues the
 * rest, a timeout kills and replaces its worker, and close() drains before it stops them.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toWire } from '../src/codec/errors.js';
import type { Transport, WorkerChannel, WorkerListener } from '../src/local/transport.js';
import { WorkerSet, type WorkerSetOptions } from '../src/local/worker-set.js';
import { defaultWorkerSetSettings } from '../src/options/resolve.js';
import type { BatchOutcome, BatchRequest } from '../src/scheduler/backend.js';
import { BRAND, type FromWorker, type RunMessage, type ToWorker } from '../src/worker/protocol.js';
import { eventually } from './helpers.js';

/** A worker of the fake transport: what it was sent, and levers for the test. */
class FakeWorker implements WorkerChannel {
  readonly label: string;
  readonly received: ToWorker[] = [];
  killed = false;
  gone = false;

  constructor(
    readonly number: number,
    private readonly listener: WorkerListener,
  ) {
    this.label = `fake ${number}`;
  }

  send(message: ToWorker): void {
    if (this.gone) throw new Error('the worker is gone');
    this.received.push(message);
  }

  kill(): void {
    this.killed = true;
    this.exit(null, 'SIGKILL');
  }

  /** Like a real worker, a busy one keeps the process alive (the set's own timers do not). */
  private hold: NodeJS.Timeout | undefined;
  setBusy(busy: boolean): void {
    clearInterval(this.hold);
    this.hold = busy && !this.gone ? setInterval(() => {}, 1000) : undefined;
  }

  /** The batches it was sent, in order (single and merged run messages alike). */
  get runs(): RunMessage[] {
    return this.received.flatMap((m) => (m.t === 'run' ? [m] : m.t === 'runs' ? [...m.messages] : []));
  }

  get stopped(): boolean {
    return this.received.some((m) => m.t === 'stop');
  }

  /** Ready, with the fake task module loaded (as a real worker says once it imported it). */
  ready(): void {
    this.listener.message({ fanout: BRAND, t: 'ready' });
    this.listener.message({ fanout: BRAND, t: 'loaded', module: 'file:///fake.js' });
  }

  /** Send the pool any message, as the worker's runtime would. */
  say(message: FromWorker): void {
    this.listener.message(message);
  }

  /** Say that item `offset` of batch `id` starts (what a tracked batch reports). */
  start(id: number, offset: number): void {
    this.listener.message({ fanout: BRAND, t: 'start', id, offset });
  }

  /** Say that batch `id` started all its items and they only await (async items in flight). */
  park(id: number): void {
    this.listener.message({ fanout: BRAND, t: 'parked', id });
  }

  /** Finish a batch it was sent: each item's value is the item doubled. */
  finish(run: RunMessage): void {
    const values = (run.items as number[]).map((x) => 2 * x);
    this.listener.message({
      fanout: BRAND,
      t: 'done',
      id: run.id,
      values,
      ran: values.length,
      startedAt: 0,
      duration: 0.001,
      heapUsed: 0,
    });
  }

  exit(code: number | null, signal: string | null = null): void {
    if (this.gone) return;
    this.gone = true;
    this.setBusy(false);
    queueMicrotask(() => this.listener.exit(code, signal, undefined));
  }
}

/** A transport whose workers are FakeWorkers, numbered as they are spawned. */
class FakeTransport implements Transport {
  readonly name = 'threads' as const;
  readonly supports = {
    crossesBoundary: false,
    killRunning: true,
    sharedMemory: false,
    transfer: false,
    inlineFunctions: true,
    syncPrimitives: false,
  };
  readonly workers: FakeWorker[] = [];
  /** The task modules each worker was asked to import as it starts, by worker number. */
  readonly modules: (readonly string[] | undefined)[] = [];

  spawn(listener: WorkerListener, modules?: readonly string[]): WorkerChannel {
    const worker = new FakeWorker(this.workers.length, listener);
    this.workers.push(worker);
    this.modules.push(modules);
    return worker;
  }
}

/** The fake transport with claim cells, as threads have: a batch queued on a worker can be taken back at once. */
class SharedFakeTransport extends FakeTransport {
  override readonly supports = { ...new FakeTransport().supports, sharedMemory: true };
}

/** Let messages, microtasks and immediates settle. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

function batch(items: number[], over: Partial<BatchRequest> = {}): BatchRequest {
  return {
    task: { kind: 'task', module: 'file:///fake.js', name: 'double' },
    taskName: 'double',
    spread: false,
    items,
    first: 0,
    timeout: undefined,
    track: false,
    stopOnError: true,
    seed: 1,
    ...over,
  };
}

/** A worker set of `size` fake workers. */
/**
 * A worker set over the fake transport. Its clock stands still (unless a test moves one of its
 * own): where a batch goes depends on how long the batch ahead of it has run, which on a busy
 * machine would otherwise be however long the test took to get there.
 */
function workerSet<T extends FakeTransport = FakeTransport>(
  size: number,
  settings: Partial<ReturnType<typeof defaultWorkerSetSettings>> &
    Pick<WorkerSetOptions, 'clock' | 'observer'> = {},
  transport: T = new FakeTransport() as T,
) {
  const set = new WorkerSet(transport, { ...defaultWorkerSetSettings(size), clock: () => 0, ...settings });
  return { transport, set };
}

/** close() the set, let every fake worker exit as a stopped worker does, and wait until the set has closed. */
async function closeSet(set: WorkerSet, transport: FakeTransport): Promise<void> {
  const closed = set.close();
  await tick();
  for (const w of transport.workers) w.exit(0);
  await closed;
}

/** Each ticket's values when it is done, else its outcome's kind. */
async function valuesOf(tickets: readonly { outcome: Promise<BatchOutcome> }[]): Promise<unknown[]> {
  const outcomes = await Promise.all(tickets.map((t) => t.outcome));
  return outcomes.map((o) => (o.kind === 'done' ? Array.from(o.values) : o.kind));
}

describe('the worker set, over a fake transport', () => {
  it('starts workers on demand: none before work, one per batch that waits, up to its size', async () => {
    const { transport, set } = workerSet(2);
    assert.equal(transport.workers.length, 0);
    const first = set.submit(batch([1]));
    assert.equal(transport.workers.length, 1, 'one batch, one worker');
    const w0 = transport.workers[0] as FakeWorker;
    w0.ready();
    await tick();
    assert.equal(w0.runs.length, 1);
    // The first batch has no prediction: a second does not queue behind it, it gets a worker.
    const second = set.submit(batch([2], { first: 1 }));
    const third = set.submit(batch([3], { first: 2 }));
    assert.equal(transport.workers.length, 2, 'never more than the size');
    const w1 = transport.workers[1] as FakeWorker;
    w1.ready();
    await tick();
    assert.equal(w1.runs.length, 1, 'the second batch went to the new worker');
    w0.finish(w0.runs[0] as RunMessage);
    w1.finish(w1.runs[0] as RunMessage);
    await tick();
    // The third waited in the set, and went to whichever worker was free first.
    const next = [...w0.runs, ...w1.runs].find((r) => r.first === 2) as RunMessage;
    assert.ok(next, 'the third batch was sent once a worker was free');
    (w0.runs.includes(next) ? w0 : w1).finish(next);
    assert.deepEqual(await valuesOf([first, second, third]), [[2], [4], [6]]);
    await closeSet(set, transport);
  });

  it('gives a batch to an idle worker, never behind a busy one', async () => {
    const { transport, set } = workerSet(2);
    const a = set.submit(batch([1]));
    const b = set.submit(batch([2], { first: 1 }));
    for (const w of transport.workers) {
      w.ready();
    }
    await tick();
    const [w0, w1] = transport.workers as [FakeWorker, FakeWorker];
    assert.deepEqual([w0.runs.length, w1.runs.length], [1, 1], 'one batch each');
    // w1 is done, w0 still busy: the next batch goes to w1.
    w1.finish(w1.runs[0] as RunMessage);
    await b.outcome;
    const c = set.submit(batch([3], { first: 2 }));
    await tick();
    assert.deepEqual([w0.runs.length, w1.runs.length], [1, 2]);
    w0.finish(w0.runs[0] as RunMessage);
    w1.finish(w1.runs[1] as RunMessage);
    await Promise.all([a.outcome, c.outcome]);
    await set.terminate();
  });

  it('a parked batch tells its call how many async items its worker holds in flight (its slots)', async () => {
    const { transport, set } = workerSet(1, { concurrentTasks: 7 });
    const heard: number[] = [];
    const ticket = set.submit(batch([1], { onParked: (slots) => heard.push(slots) }));
    transport.workers[0]?.ready();
    await tick();
    const w0 = transport.workers[0] as FakeWorker;
    w0.park((w0.runs[0] as RunMessage).id);
    w0.finish(w0.runs[0] as RunMessage);
    await ticket.outcome;
    await set.terminate();
    assert.deepEqual(heard, [7]);
  });

  it('a crash fails only the batch that was running; the ones queued behind it run on a replacement', async () => {
    const { transport, set } = workerSet(1);
    // Predictable, short batches: the second may queue behind the first on the only worker.
    const pace = { perItemMs: 0.001 };
    const running = set.submit(batch([1], { pace }));
    const w0 = transport.workers[0] as FakeWorker;
    w0.ready();
    await tick();
    const queued = set.submit(batch([2], { first: 1, pace }));
    await tick();
    assert.equal(w0.runs.length, 2, 'the second batch was queued behind the first');
    w0.exit(1);
    const lost = (await running.outcome) as Extract<BatchOutcome, { kind: 'lost' }>;
    assert.equal(lost.kind, 'lost');
    assert.equal((lost.error as { code?: string }).code, 'ERR_WORKER_CRASHED');
    await tick();
    assert.equal(transport.workers.length, 2, 'a replacement started for the batch that waits');
    const w1 = transport.workers[1] as FakeWorker;
    w1.ready();
    await tick();
    assert.deepEqual(
      w1.runs.map((r) => r.first),
      [1],
      'the queued batch, and only it, runs on the replacement',
    );
    w1.finish(w1.runs[0] as RunMessage);
    const done = await queued.outcome;
    assert.equal(done.kind, 'done');
    await set.terminate();
  });

  it('an item past its timeout kills its worker; the next batch gets a new one', async () => {
    const { transport, set } = workerSet(1);
    const ticket = set.submit(batch([1], { timeout: 20, track: true }));
    const w0 = transport.workers[0] as FakeWorker;
    w0.ready();
    await tick();
    const run = w0.runs[0] as RunMessage;
    w0.start(run.id, 0);
    const outcome = (await ticket.outcome) as Extract<BatchOutcome, { kind: 'lost' }>;
    assert.equal(outcome.kind, 'lost');
    assert.equal((outcome.error as { code?: string }).code, 'ERR_TASK_TIMEOUT');
    assert.equal(outcome.offset, 0);
    assert.equal(w0.killed, true, 'the worker running the item was killed');
    await tick();
    const next = set.submit(batch([5], { first: 1 }));
    assert.equal(transport.workers.length, 2, 'a replacement starts for the next batch');
    const w1 = transport.workers[1] as FakeWorker;
    w1.ready();
    await tick();
    w1.finish(w1.runs[0] as RunMessage);
    assert.equal((await next.outcome).kind, 'done');
    await set.terminate();
  });

  it('close() finishes what was submitted, then stops each worker, and resolves once all have left', async () => {
    const { transport, set } = workerSet(1);
    const pace = { perItemMs: 0.001 };
    const tickets = [set.submit(batch([1], { pace })), set.submit(batch([2], { first: 1, pace }))];
    const w0 = transport.workers[0] as FakeWorker;
    w0.ready();
    await tick();
    let closed = false;
    const closing = set.close().then(() => {
      closed = true;
    });
    await tick();
    assert.equal(w0.stopped, false, 'no stop while batches are outstanding');
    for (const run of w0.runs) w0.finish(run);
    await Promise.all(tickets.map((t) => t.outcome));
    await tick();
    assert.equal(w0.stopped, true, 'stopped once its queue drained');
    assert.equal(closed, false, 'close() waits for the worker to leave');
    w0.exit(0);
    await closing;
    assert.equal(set.liveWorkers, 0);
  });

  it('a pin sends its batches to its worker only, in order, never stolen; its death is heard first and fails them', async () => {
    const { transport, set } = workerSet(2);
    const pinning = set.pin(1);
    await tick();
    assert.equal(transport.workers.length, 1, 'one worker started for one pin');
    const w0 = transport.workers[0] as FakeWorker;
    w0.ready();
    const [pin] = (await pinning) as [NonNullable<Awaited<typeof pinning>[0]>];
    assert.equal(pin.worker, 0);
    const [a, b, c] = [0, 1, 2].map((first) => pin.submit(batch([first + 1], { first })));
    await tick();
    assert.deepEqual(
      w0.runs.map((r) => r.first),
      [0, 1, 2],
      'all queued there at once, in submission order',
    );
    // Another worker, idle once its own batch is done, takes none of them over.
    const other = set.submit(batch([9], { first: 9 }));
    const w1 = transport.workers[1] as FakeWorker;
    w1.ready();
    await tick();
    w1.finish(w1.runs[0] as RunMessage);
    await other.outcome;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(w1.runs.length, 1, 'the idle worker was given no pinned batch');
    assert.ok(!w0.received.some((m) => m.t === 'cancel'), 'none was asked back');
    w0.finish(w0.runs[0] as RunMessage);
    assert.equal((await a?.outcome)?.kind, 'done');
    const heard: string[] = [];
    pin.onGone((error) => heard.push(`gone: ${(error as Error & { code: string }).code}`));
    b?.outcome.then((o) => heard.push(`b: ${o.kind}`));
    c?.outcome.then((o) => heard.push(`c: ${o.kind}`));
    w0.exit(7);
    await tick();
    assert.deepEqual(heard, ['gone: ERR_WORKER_CRASHED', 'b: lost', 'c: failed']);
    assert.equal((await pin.submit(batch([4])).outcome).kind, 'failed', 'a later batch fails at once');
    assert.equal(w1.runs.length, 1, 'nothing of the dead pin went to the other worker');
    await set.terminate();
  });

  it('pin(n) refuses more workers than the pool has', async () => {
    const { set } = workerSet(2);
    await assert.rejects(set.pin(3), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_VALUE');
    await set.terminate();
  });

  it('an initializer runs first on each worker; it takes other work only once that is done', async () => {
    const transport = new FakeTransport();
    const set = new WorkerSet(transport, defaultWorkerSetSettings(1), {
      request: batch([100], { taskName: 'init' }),
    });
    const work = set.submit(batch([5]));
    const w0 = transport.workers[0] as FakeWorker;
    w0.ready();
    await tick();
    assert.deepEqual(
      w0.runs.map((r) => r.items),
      [[100]],
      'only the initializer was sent',
    );
    w0.finish(w0.runs[0] as RunMessage);
    await tick();
    assert.deepEqual(
      w0.runs.map((r) => r.items),
      [[100], [5]],
    );
    w0.finish(w0.runs[1] as RunMessage);
    const outcome = await work.outcome;
    assert.deepEqual(outcome.kind === 'done' && Array.from(outcome.values), [10]);
    await set.terminate();
  });

  it('a worker still starting is sent its first batch (threads): it runs it once ready, with no round trip', async () => {
    const events: string[] = [];
    const { transport, set } = workerSet(
      1,
      {
        observer: {
          started: () => {},
          ready: (w) => events.push(`ready ${w}`),
          running: (w, request) => events.push(`running ${w} ${request ? request.first : 'none'}`),
          settled: () => {},
          heap: () => {},
          exited: () => {},
        },
      },
      new SharedFakeTransport(),
    );
    const ticket = set.submit(batch([1]));
    await tick();
    const w0 = transport.workers[0] as FakeWorker;
    assert.equal(w0.runs.length, 1, 'the batch was sent while the worker starts');
    assert.deepEqual(events, [], 'nothing runs before the worker is ready');
    w0.ready();
    await tick();
    assert.deepEqual(events, ['ready 0', 'running 0 0']);
    assert.equal(w0.runs.length, 1, 'sent once');
    w0.finish(w0.runs[0] as RunMessage);
    const outcome = await ticket.outcome;
    assert.deepEqual(outcome.kind === 'done' && Array.from(outcome.values), [2]);
    await set.terminate();
  });

  it('expect(task) starts the first worker before any batch, importing its modules; the batch then goes to it', async () => {
    const { transport, set } = workerSet(2, {}, new SharedFakeTransport());
    const task = batch([]).task;
    set.expect(task);
    assert.equal(transport.workers.length, 1, 'a call is coming: its first worker starts now');
    assert.deepEqual(transport.modules[0], ['file:///fake.js'], 'importing the task module as it starts');
    set.expect(task);
    assert.equal(transport.workers.length, 1, 'a worker is alive: expect starts no other');
    const ticket = set.submit(batch([1]));
    await tick();
    const w0 = transport.workers[0] as FakeWorker;
    assert.equal(w0.runs.length, 1, 'the first batch went to the worker starting for it');
    assert.equal(transport.workers.length, 1, 'and started no second one');
    w0.ready();
    await tick();
    w0.finish(w0.runs[0] as RunMessage);
    assert.deepEqual(await valuesOf([ticket]), [[2]]);
    const closed = set.close();
    set.expect(task);
    await tick();
    w0.exit(0);
    await closed;
    assert.equal(transport.workers.length, 1, 'a closing set starts nothing for an expected call');
  });

  it('a batch sent to a worker still starting goes to another one that is idle sooner', async () => {
    const { transport, set } = workerSet(2, {}, new SharedFakeTransport());
    const first = set.submit(batch([1]));
    await tick();
    const w0 = transport.workers[0] as FakeWorker;
    w0.ready();
    await tick();
    // Work that outlasts a worker's start (its pace says so): a second worker starts for it, and
    // is sent it at once.
    const second = set.submit(batch([2], { first: 1, pace: { perItemMs: 1000 } }));
    await tick();
    const tickets = [first, second];
    assert.equal(transport.workers.length, 2);
    const w1 = transport.workers[1] as FakeWorker;
    assert.equal(w1.runs.length, 1, 'the starting worker was sent the batch');
    w0.finish(w0.runs[0] as RunMessage);
    await tick();
    await tick();
    // w1 is still starting: its batch was taken back (its claim cell) and given to idle w0.
    assert.deepEqual(
      w0.runs.map((r) => r.first),
      [0, 1],
    );
    w0.finish(w0.runs[1] as RunMessage);
    assert.deepEqual(await valuesOf(tickets), [[2], [4]]);
    const closing = set.close();
    await tick();
    assert.equal(w1.killed, true, 'the starting worker, left with nothing, was stopped at once');
    w0.exit(0);
    await closing;
  });

  it('a batch that runs alone, sent to a worker still starting, is not taken back by one whose items await', async () => {
    const { transport, set } = workerSet(2, {}, new SharedFakeTransport());
    const waiting = set.submit(batch([1]));
    await tick();
    const w0 = transport.workers[0] as FakeWorker;
    w0.ready();
    await tick();
    w0.park((w0.runs[0] as RunMessage).id);
    await tick();
    // An isolated re-run: not for w0, whose item awaits (it may await this one); a second worker
    // starts for it and is sent it at once.
    const rerun = set.submit(batch([2], { first: 1, track: true, alone: true }));
    await tick();
    await tick();
    const w1 = transport.workers[1] as FakeWorker;
    assert.equal(w1.runs.length, 1, 'sent to the starting worker');
    // w0 has nothing queued, so it counts as idle for work stealing: it must not take the batch.
    assert.equal(w0.runs.length, 1, 'not taken back by the worker whose item awaits');
    w1.ready();
    await tick();
    const run = w1.runs[0] as RunMessage;
    w1.start(run.id, 0);
    w1.finish(run);
    w0.finish(w0.runs[0] as RunMessage);
    assert.deepEqual(await valuesOf([waiting, rerun]), [[2], [4]]);
    await set.terminate();
  });

  it('a batch its worker had not started when it died of another error runs again elsewhere: it is not lost', async () => {
    const { transport, set } = workerSet(1);
    const first = set.submit(batch([1]));
    await tick();
    const w0 = transport.workers[0] as FakeWorker;
    w0.ready();
    await tick();
    w0.finish(w0.runs[0] as RunMessage);
    await first.outcome;
    // The next batch is sent; before the worker starts it, a rejection its last item left behind
    // kills it (the worker's fatal report names the batches it was running: none).
    const second = set.submit(batch([2], { first: 1, track: true }));
    await tick();
    assert.equal(w0.runs.length, 2);
    w0.say({ fanout: BRAND, t: 'fatal', error: toWire(new Error('stray rejection of item 0')), running: [] });
    w0.exit(1);
    await tick();
    await tick();
    const w1 = transport.workers[1] as FakeWorker;
    w1.ready();
    await tick();
    assert.deepEqual(
      w1.runs.map((r) => r.first),
      [1],
    );
    w1.finish(w1.runs[0] as RunMessage);
    const outcome = await second.outcome;
    assert.deepEqual(outcome.kind === 'done' && Array.from(outcome.values), [4]);
    await set.terminate();
  });

  it('close() does not wait for a worker still starting that has no work: it is stopped at once', async () => {
    const { transport, set } = workerSet(2);
    // Two batches start two workers; the first worker, ready first, runs both.
    const tickets = [set.submit(batch([1])), set.submit(batch([2], { first: 1 }))];
    const w0 = transport.workers[0] as FakeWorker;
    w0.ready();
    await tick();
    // (This set's clock stands still: a worker's start took no time, so the second starts now.)
    const w1 = transport.workers[1] as FakeWorker;
    w0.finish(w0.runs[0] as RunMessage);
    await tick();
    // Idle again, w0 took the second batch, which was waiting for w1.
    assert.equal(w0.runs.length, 2);
    w0.finish(w0.runs[1] as RunMessage);
    await Promise.all(tickets.map((t) => t.outcome));
    const closing = set.close();
    await tick();
    // w1 never became ready: nothing it could finish, so no stop message to wait on (it would
    // be read only once the worker had loaded everything).
    assert.equal(w1.killed, true, 'the starting worker was stopped at once');
    assert.equal(w1.stopped, false);
    assert.equal(w0.stopped, true);
    w0.exit(0);
    await closing;
    assert.equal(set.liveWorkers, 0);
  });

  it('starts a second worker only for batches that outlast a worker start: a small job never starts one', async () => {
    let clock = 0;
    const { transport, set } = workerSet(2, { clock: () => clock });
    const first = [set.submit(batch([1])), set.submit(batch([2], { first: 1 }))];
    // Nothing is known of the batches while no worker is ready: one worker starts for both.
    assert.equal(transport.workers.length, 1, 'one worker starts first');
    const w0 = transport.workers[0] as FakeWorker;
    clock = 30;
    w0.ready();
    await tick();
    // Its start took 30 ms: the batch waiting behind the first has waited for less than that.
    assert.equal(transport.workers.length, 1, 'no second worker for a batch that just began to wait');
    w0.finish(w0.runs[0] as RunMessage);
    await tick();
    w0.finish(w0.runs[1] as RunMessage);
    await Promise.all(first.map((t) => t.outcome));
    assert.equal(transport.workers.length, 1, 'the first worker ran the whole job');
    // Batches that have waited as long as a worker's start get one.
    const second = [set.submit(batch([3])), set.submit(batch([4], { first: 1 }))];
    await tick();
    assert.equal(w0.runs.length, 3);
    clock = 60;
    const third = set.submit(batch([5], { first: 2 }));
    assert.equal(transport.workers.length, 2, 'a second worker for batches waiting 30 ms');
    const w1 = transport.workers[1] as FakeWorker;
    w1.ready();
    await tick();
    assert.equal(w1.runs.length, 1, 'the new worker took a waiting batch');
    for (const w of [w0, w1]) for (const run of w.runs.slice(w === w0 ? 2 : 0)) w.finish(run);
    await tick();
    for (const w of [w0, w1]) for (const run of w.runs.slice(w === w0 ? 3 : 1)) w.finish(run);
    assert.deepEqual(await valuesOf([...second, third]), [[6], [8], [10]]);
    await closeSet(set, transport);
  });

  it('a small job whose first batch was sent to its starting worker starts no second worker when that one is ready', async () => {
    let clock = 0;
    const { transport, set } = workerSet(2, { clock: () => clock }, new SharedFakeTransport());
    const tickets = [set.submit(batch([1])), set.submit(batch([2], { first: 1 }))];
    await tick();
    const w0 = transport.workers[0] as FakeWorker;
    assert.equal(w0.runs.length, 1, 'the first batch was sent while w0 starts');
    // Ready after a 30 ms start: its first batch runs from now, not from when it was sent, so
    // it has not run a worker's start yet (the second batch is not waiting behind a long one).
    clock = 30;
    w0.ready();
    await tick();
    assert.equal(transport.workers.length, 1, 'no second worker for a batch that just started');
    w0.finish(w0.runs[0] as RunMessage);
    await tick();
    w0.finish(w0.runs[1] as RunMessage);
    assert.deepEqual(await valuesOf(tickets), [[2], [4]]);
    assert.equal(transport.workers.length, 1);
    await closeSet(set, transport);
  });

  it('a short batch behind a long one gets a worker once the long one has run a worker start', async () => {
    let clock = 0;
    const { transport, set } = workerSet(2, { clock: () => clock });
    const long = set.submit(batch([1]));
    const w0 = transport.workers[0] as FakeWorker;
    clock = 30;
    w0.ready();
    await tick();
    assert.equal(w0.runs.length, 1, 'w0 runs the long batch (its length unknown)');
    // A short batch of another call arrives 10 ms later: it waits, and no worker starts yet (the
    // long batch may end any moment; a small job pays no second start).
    clock = 40;
    const short = set.submit(batch([2], { first: 1 }));
    await tick();
    assert.equal(
      transport.workers.length,
      1,
      'no second worker while the long batch has run less than a start',
    );
    // The long batch has now run longer than a worker's start (30 ms here), while the short one
    // has waited less than that: waiting for w0 would likely take longer than starting a worker.
    clock = 61;
    await eventually(() => transport.workers.length === 2, 2000, 'a worker for the batch behind a long one');
    const w1 = transport.workers[1] as FakeWorker;
    w1.ready();
    await tick();
    assert.equal(w1.runs.length, 1, 'the new worker took the short batch');
    w1.finish(w1.runs[0] as RunMessage);
    w0.finish(w0.runs[0] as RunMessage);
    assert.deepEqual(await valuesOf([long, short]), [[2], [4]]);
    await closeSet(set, transport);
  });

  it('a batch that must run alone never waits behind items in flight: it gets a worker within a start', async () => {
    let clock = 0;
    const { transport, set } = workerSet(2, { clock: () => clock });
    try {
      // One worker (the second was never needed) whose batch only awaits: it is free for others.
      const waiting = set.submit(batch([1]));
      const w0 = transport.workers[0] as FakeWorker;
      clock = 30;
      w0.ready();
      await tick();
      w0.park((w0.runs[0] as RunMessage).id);
      await tick();
      // An isolated re-run (a batch lost with its worker, run again to find the culprit) runs
      // with nothing else in flight: w0 would hold it until the awaiting item settled, and that
      // item may be waiting for it (two async items that meet), so it must not go there.
      const rerun = set.submit(batch([2], { first: 1, track: true, alone: true }));
      await tick();
      assert.equal(w0.runs.length, 1, 'the isolated batch was not sent behind the awaiting one');
      // It waits here instead, and gets a worker of its own once it has waited one worker start.
      clock = 60;
      await eventually(() => transport.workers.length === 2, 2000, 'a worker for the isolated batch');
      const w1 = transport.workers[1] as FakeWorker;
      w1.ready();
      await tick();
      assert.equal(w1.runs.length, 1, 'the new worker took the isolated batch');
      const run = w1.runs[0] as RunMessage;
      assert.equal(run.alone, true);
      w1.start(run.id, 0);
      w1.finish(run);
      w0.finish(w0.runs[0] as RunMessage);
      const outcomes = await Promise.all([waiting.outcome, rerun.outcome]);
      assert.deepEqual(
        outcomes.map((o) => (o.kind === 'done' ? Array.from(o.values) : o.kind)),
        [[2], [4]],
      );
    } finally {
      await set.terminate();
    }
  });

  it('nothing is queued behind a batch that runs alone, and it is queued behind nothing', async () => {
    const { transport, set } = workerSet(1);
    try {
      // Predictable, short batches: any other would be queued behind the one running.
      const pace = { perItemMs: 0.001 };
      const isolated = set.submit(batch([1], { pace, track: true, alone: true }));
      const w0 = transport.workers[0] as FakeWorker;
      w0.ready();
      await tick();
      const next = set.submit(batch([2], { first: 1, pace }));
      await tick();
      assert.equal(w0.runs.length, 1, 'nothing was queued behind the isolated batch');
      const [first] = w0.runs as [RunMessage];
      w0.start(first.id, 0);
      w0.finish(first);
      await tick();
      assert.equal(w0.runs.length, 2, 'the next batch went once the isolated one ended');
      const again = set.submit(batch([3], { first: 2, pace, track: true, alone: true }));
      await tick();
      assert.equal(w0.runs.length, 2, 'the isolated batch was not queued behind a running one');
      w0.finish(w0.runs[1] as RunMessage);
      await tick();
      assert.equal(w0.runs.length, 3, 'it went once its worker held nothing');
      w0.finish(w0.runs[2] as RunMessage);
      const outcomes = await Promise.all([isolated, next, again].map((t) => t.outcome));
      assert.deepEqual(
        outcomes.map((o) => (o.kind === 'done' ? Array.from(o.values) : o.kind)),
        [[2], [4], [6]],
      );
    } finally {
      await set.terminate();
    }
  });

  it('a worker busy with child tasks of its own is not idle: a batch goes to an idle one first', async () => {
    const { transport, set } = workerSet(2);
    const warm = [set.submit(batch([1])), set.submit(batch([2], { first: 1 }))];
    for (const w of transport.workers) w.ready();
    await tick();
    const [w0, w1] = transport.workers as [FakeWorker, FakeWorker];
    for (const w of [w0, w1]) w.finish(w.runs[0] as RunMessage);
    await Promise.all(warm.map((t) => t.outcome));
    // Both idle; w0 says it runs children from its deque (worker/child-deque.ts).
    w0.say({ fanout: BRAND, t: 'busy', on: true });
    const a = set.submit(batch([3], { first: 2 }));
    await tick();
    assert.deepEqual([w0.runs.length, w1.runs.length], [1, 2], 'the batch went to the idle worker');
    // With no worker idle, the busy one takes the next (it runs it between its children).
    const b = set.submit(batch([4], { first: 3 }));
    await tick();
    assert.deepEqual([w0.runs.length, w1.runs.length], [2, 2]);
    w0.say({ fanout: BRAND, t: 'busy', on: false });
    w1.finish(w1.runs[1] as RunMessage);
    w0.finish(w0.runs[1] as RunMessage);
    await Promise.all([a.outcome, b.outcome]);
    await set.terminate();
  });
});
