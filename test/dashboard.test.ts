/**
 * The dashboard's collector, its figures and its formats, without a server: a worker set's
 * events in, rows, bars, errors and totals out, bounded; series merged by second; snapshots
 * merged from several processes; Prometheus text that a strict reader accepts; options checked.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CALLS_KEPT, CallCollector } from '../src/observe/dashboard/calls.js';
import { decodePart, encodePart } from '../src/observe/dashboard/heartbeat.js';
import { mergeParts } from '../src/observe/dashboard/merge.js';
import { prometheusText } from '../src/observe/dashboard/metrics.js';
import { PAGE_SCRIPT } from '../src/observe/dashboard/page-script.js';
import { mergeSeries, Series } from '../src/observe/dashboard/series.js';
import { DashboardServer } from '../src/observe/dashboard/server.js';
import type { SourceView, WorkerPart } from '../src/observe/dashboard/types.js';
import { BARS_PER_LANE, ENDED_KEPT, ERRORS_KEPT, WorkerCollector } from '../src/observe/dashboard/workers.js';
import { isLoopback, resolveDashboardOption } from '../src/options/dashboard.js';
import type { BatchOutcome, BatchRequest } from '../src/scheduler/backend.js';
import { parsePrometheus, sampleValue } from './prometheus.js';

/** A clock the test moves by hand. */
function fakeClock(start = 1_800_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function request(taskName: string, first: number, count: number): BatchRequest {
  return {
    task: { kind: 'task', module: 'file:///tasks.js', name: taskName },
    taskName,
    spread: false,
    items: new Array(count).fill(0),
    first,
    timeout: undefined,
    track: false,
    stopOnError: true,
    seed: 1,
  };
}

function done(
  worker: number,
  startedAt: number,
  duration: number,
  ran: number,
  failures?: number[],
): BatchOutcome {
  // As a backend hands it over: rebuilt from its record (codec/errors.ts).
  const error = Object.assign(new RangeError('bad item'), {
    code: 'E_BAD',
    stack: 'RangeError: bad item\n    at task',
  });
  return {
    kind: 'done',
    values: new Array(ran).fill(1),
    ran,
    failures: failures?.map((offset) => ({ offset, kind: 'threw' as const, error })),
    worker,
    startedAt,
    duration,
  };
}

function collector() {
  const clock = fakeClock();
  const c = new WorkerCollector({ now: clock.now, rss: () => 100 * 1024 * 1024 });
  return { clock, c };
}

const SOURCE: SourceView = {
  kind: 'pool',
  backend: 'threads',
  size: 2,
  queue: null,
  machine: 'here',
  pid: 1,
  startedAt: 0,
  problem: null,
};

describe('the worker collector', () => {
  it('follows a worker from its start to its exit: state, task, heap, tasks done, bars', () => {
    const { clock, c } = collector();
    c.started(0, 'thread 7');
    assert.equal(c.part().workers[0]?.state, 'starting');
    c.ready(0);
    assert.equal(c.part().workers[0]?.state, 'idle');
    const batch = request('square', 0, 10);
    c.running(0, batch);
    clock.advance(50);
    let row = c.part().workers[0];
    assert.equal(row?.state, 'busy');
    assert.equal(row?.task, 'square');
    c.heap(0, 12_345_678);
    c.settled(0, batch, done(0, clock.now() - 50, 50, 10));
    c.running(0, undefined);
    row = c.part().workers[0];
    assert.equal(row?.state, 'idle');
    assert.equal(row?.task, null);
    assert.equal(row?.heapUsed, 12_345_678);
    assert.equal(row?.rss, 100 * 1024 * 1024);
    assert.equal(row?.tasksDone, 10);
    assert.deepEqual(row?.batches, [[clock.now() - 50, 50, 0, 10, 0, 0]]);
    assert.equal(row?.label, 'thread 7');
    assert.equal(row?.pid, process.pid);
    c.exited(0, 0, null, 'retired');
    row = c.part().workers[0];
    assert.equal(row?.state, 'exited');
    assert.equal(row?.exit, 'exited with code 0');
    assert.equal(c.part().totals.crashes, 0);
  });

  it('tells crashes from kills, and blames the lost batch on its worker', () => {
    const { c } = collector();
    c.started(0, 'process 4242');
    c.started(1, 'process 4243');
    c.started(2, 'process 4244');
    const batch = request('square', 5, 1);
    c.settled(0, batch, {
      kind: 'lost',
      error: Object.assign(new Error('The worker exited with code 9'), { code: 'ERR_WORKER_CRASHED' }),
      offset: 0,
      started: true,
    });
    c.exited(0, 9, null, undefined);
    c.exited(1, null, 'SIGKILL', 'timeout');
    c.exited(2, 0, null, undefined);
    const [crashed, killed, stopped] = c.part().workers;
    assert.equal(crashed?.pid, 4242, 'a worker process is shown by its own pid');
    assert.equal(crashed?.state, 'crashed');
    assert.equal(crashed?.failures, 1);
    assert.equal(killed?.state, 'killed');
    assert.equal(killed?.exit, 'killed: timeout');
    assert.equal(stopped?.state, 'exited');
    const part = c.part();
    assert.equal(part.totals.crashes, 1);
    assert.equal(part.totals.kills, 1);
    assert.equal(part.errors.length, 1);
    assert.equal(part.errors[0]?.code, 'ERR_WORKER_CRASHED');
    assert.equal(part.errors[0]?.index, 5);
    assert.equal(part.errors[0]?.worker, crashed?.id);
  });

  it('lists failed items with their stacks, and ignores work cut short by closing the pool', () => {
    const { clock, c } = collector();
    c.started(0, 'thread 1');
    const batch = request('parse', 100, 4);
    c.settled(0, batch, done(0, clock.now(), 3, 4, [1, 3]));
    c.settled(0, request('parse', 0, 1), {
      kind: 'failed',
      error: Object.assign(new Error('The pool was terminated'), { code: 'ERR_POOL_CLOSED' }),
    });
    const part = c.part();
    assert.deepEqual(
      part.errors.map((e) => [e.index, e.code, e.name, e.message, e.task]),
      [
        [101, 'E_BAD', 'RangeError', 'bad item', 'parse'],
        [103, 'E_BAD', 'RangeError', 'bad item', 'parse'],
      ],
    );
    assert.match(part.errors[0]?.stack ?? '', /at task/);
    assert.equal(part.totals.failures, 2);
    assert.equal(part.workers[0]?.failures, 2);
    assert.equal(part.workers[0]?.batches[0]?.[5], 1, 'the bar is marked as holding a failure');
  });

  it('stays bounded: bars per lane, errors, ended workers', () => {
    const { clock, c } = collector();
    c.started(0, 'thread 1');
    const batch = request('f', 0, 1);
    for (let i = 0; i < BARS_PER_LANE + 50; i++) {
      c.settled(0, { ...batch, first: i }, done(0, clock.now() + i, 1, 1, i % 2 ? [0] : undefined));
    }
    const part = c.part();
    const bars = part.workers[0]?.batches ?? [];
    assert.equal(bars.length, BARS_PER_LANE);
    assert.equal(bars[0]?.[2], 50, 'the oldest bars were dropped');
    assert.equal(part.errors.length, ERRORS_KEPT);
    assert.equal(part.totals.tasksDone, BARS_PER_LANE + 50, 'totals count everything');
    for (let w = 1; w <= ENDED_KEPT + 5; w++) {
      c.started(w, `thread ${w + 1}`);
      c.exited(w, 0, null, 'retired');
    }
    const rows = c.part().workers;
    assert.equal(rows.length, 1 + ENDED_KEPT, 'the live worker and the last ended ones');
    assert.ok(rows.some((r) => r.label === 'thread 1'));
  });

  it('measures utilisation over the last seconds, the running batch included', () => {
    const { clock, c } = collector();
    c.started(0, 'thread 1');
    c.ready(0);
    clock.advance(6000);
    assert.equal(c.part().workers[0]?.utilisation, 0, 'idle since it started');
    const batch = request('f', 0, 1);
    c.running(0, batch);
    clock.advance(3000);
    const third = c.part().workers[0]?.utilisation ?? 0;
    assert.ok(Math.abs(third - 1 / 3) < 1e-9, `busy 3 s of the 9 s since it started: ${third}`);
    clock.advance(3000);
    assert.equal(c.part().workers[0]?.utilisation, 1, 'busy all along since the reading 6 s ago');
    c.settled(0, batch, done(0, clock.now() - 6000, 6000, 1));
    c.running(0, undefined);
    clock.advance(6000);
    assert.equal(c.part().workers[0]?.utilisation, 0, 'idle since the last reading');
  });

  it('counts batch durations into histogram buckets', () => {
    const { clock, c } = collector();
    c.started(0, 'thread 1');
    for (const ms of [0.5, 3, 70, 70_000]) c.settled(0, request('f', 0, 1), done(0, clock.now(), ms, 1));
    const h = c.part().histogram;
    assert.deepEqual(h.bounds.slice(0, 4), [0.001, 0.005, 0.01, 0.05]);
    assert.equal(h.counts[0], 1);
    assert.equal(h.counts[1], 1);
    assert.equal(h.counts[4], 1, '70 ms ≤ 0.1 s');
    assert.equal(h.over, 1, '70 s > 60 s');
  });
});

describe('per-second series', () => {
  it('adds batches to the second they ended in, and merges windows of skewed clocks by second', () => {
    const a = new Series(10);
    a.add(1_000_500, 10, 4);
    a.add(1_000_900, 5, 8);
    a.add(1_003_100, 7, 2);
    const data = a.data(1_004_000);
    assert.equal(data.end, 1004);
    assert.deepEqual(data.items.slice(-5), [15, 0, 0, 7, 0]);
    assert.deepEqual(data.batches.slice(-5), [2, 0, 0, 1, 0]);
    assert.deepEqual(data.durationSum.slice(-5), [12, 0, 0, 2, 0]);
    assert.deepEqual(data.durationMax.slice(-5), [8, 0, 0, 2, 0]);
    const b = new Series(10);
    b.add(1_003_000, 1, 9);
    const merged = mergeSeries([data, b.data(1_003_500)], 1_004_200, 10);
    assert.deepEqual(merged.items.slice(-5), [15, 0, 0, 8, 0]);
    assert.deepEqual(merged.durationMax.slice(-5), [8, 0, 0, 9, 0]);
    assert.equal(new Series(10).data(1_100_000).items.length, 10);
    assert.deepEqual(a.data(1_100_000).items, new Array(10).fill(0), 'old seconds fall out of the window');
  });
});

describe('calls', () => {
  it('follows a call through its progress to its end, and keeps the last finished ones', () => {
    const clock = fakeClock();
    const calls = new CallCollector(clock.now);
    const watch = calls.observe('pool.map', 'square', 100);
    watch.progress({ done: 40, failed: 1, total: 100 });
    watch.batch({ worker: 0, startedAt: clock.now(), duration: 10, first: 0, count: 40, taskName: 'square' });
    let [view] = calls.views();
    assert.equal(view?.state, 'running');
    assert.equal(view?.done, 40);
    assert.equal(view?.failed, 1);
    assert.equal(view?.total, 100);
    assert.equal(view?.series.items.at(-1), 40);
    clock.advance(2000);
    watch.end();
    [view] = calls.views();
    assert.equal(view?.state, 'finished');
    assert.equal(view?.rate, 20, '40 items in 2 s');
    for (let i = 0; i < CALLS_KEPT + 3; i++) calls.observe('pool.run', 'f', 1).end();
    const running = calls.observe('pool.imap', 'g', undefined);
    const views = calls.views();
    assert.equal(views.length, CALLS_KEPT + 1);
    assert.equal(views[0]?.call, 'pool.imap', 'running calls first');
    assert.equal(views[0]?.total, null);
    assert.deepEqual(calls.counts(), { started: CALLS_KEPT + 5, running: 1 });
    running.end();
  });
});

/** A part of another process, as its heartbeat carries it. */
function remotePart(machine: string, pid: number, tasks: string[]): WorkerPart {
  const clock = fakeClock();
  const c = new WorkerCollector({ now: clock.now, rss: () => null });
  c.started(0, 'thread 1');
  tasks.forEach((task, i) => {
    c.settled(0, request(task, i, 1), done(0, clock.now(), 1, 1, task === 'bad' ? [0] : undefined));
  });
  const part = c.part();
  return {
    ...part,
    machine,
    pid,
    workers: part.workers.map((w) => ({ ...w, machine, pid, id: `${machine}:${pid}/0` })),
  };
}

describe('snapshots of several processes', () => {
  it('re-points bars at one table of task names, lists workers by machine, and adds figures', () => {
    const b = remotePart('beta', 20, ['g', 'f']);
    const a = remotePart('alpha', 10, ['f', 'bad']);
    const snapshot = mergeParts({
      now: 1_800_000_001_000,
      source: SOURCE,
      parts: [b, a],
      calls: [],
      queue: null,
      remote: true,
    });
    assert.deepEqual(snapshot.taskNames, ['g', 'f', 'bad']);
    assert.deepEqual(
      snapshot.workers.map((w) => w.machine),
      ['alpha', 'beta'],
    );
    const names = (bars: readonly (readonly number[])[]) =>
      bars.map((bar) => snapshot.taskNames[bar[4] as number]);
    assert.deepEqual(names(snapshot.workers[0]?.batches ?? []), ['f', 'bad']);
    assert.deepEqual(names(snapshot.workers[1]?.batches ?? []), ['g', 'f']);
    assert.equal(snapshot.totals.tasksDone, 4);
    assert.equal(snapshot.series.items.at(-2), 4);
    assert.equal(snapshot.errors.length, 1);
    assert.deepEqual(
      snapshot.processes.map((p) => `${p.machine}:${p.pid}`),
      ['beta:20', 'alpha:10'],
    );
  });

  it('round-trips a heartbeat through JSON, trims one that is too large, and refuses another version', () => {
    const part = remotePart('alpha', 10, ['f']);
    assert.deepEqual(decodePart(encodePart(part)), part);
    assert.equal(decodePart(JSON.stringify({ ...part, version: 2 })), undefined);
    assert.equal(decodePart('not json'), undefined);
    assert.equal(decodePart(null), undefined);
    const bars = Array.from({ length: 100 }, (_, i): [number, number, number, number, number, 0] => [
      i,
      1,
      i,
      1,
      0,
      0,
    ]);
    const huge = {
      ...part,
      workers: Array.from({ length: 200 }, (_, i) => ({ ...part.workers[0], id: `w${i}`, batches: bars })),
    } as WorkerPart;
    const encoded = encodePart(huge);
    assert.ok(encoded.length <= 256 * 1024, `${encoded.length} bytes`);
    const decoded = decodePart(encoded);
    assert.equal(decoded?.workers.length, 200, 'every worker stays, with fewer bars');
    assert.ok((decoded?.workers[0]?.batches.length ?? 0) >= 1);
  });
});

describe('Prometheus text', () => {
  it('is the exposition format: HELP and TYPE per family, counters _total, histogram buckets cumulative', () => {
    const a = remotePart('alpha', 10, ['f', 'bad', 'f']);
    const weird = remotePart('we"ird\\host\nname', 11, ['g']);
    const text = prometheusText({
      source: SOURCE,
      parts: [a, weird],
      calls: { started: 3, running: 1 },
      queue: { name: 'fanout:fanout', waiting: 4, active: 2, completed: 0, failed: 1 },
    });
    const families = parsePrometheus(text);
    assert.equal(families.get('fanout_tasks_total')?.type, 'counter');
    assert.equal(sampleValue(families, 'fanout_tasks_total', { machine: 'alpha', pid: '10' }), 3);
    assert.equal(
      sampleValue(families, 'fanout_tasks_total', { machine: 'we"ird\\host\nname' }),
      1,
      'label values escaped and read back',
    );
    assert.equal(sampleValue(families, 'fanout_task_failures_total', { machine: 'alpha' }), 1);
    assert.equal(sampleValue(families, 'fanout_calls_total'), 3);
    assert.equal(sampleValue(families, 'fanout_calls_running'), 1);
    assert.equal(sampleValue(families, 'fanout_queue_jobs', { state: 'waiting' }), 4);
    assert.equal(sampleValue(families, 'fanout_workers', { state: 'starting' }), 2);
    assert.equal(sampleValue(families, 'fanout_worker_tasks_total', { worker: 'alpha:10/0' }), 3);
    assert.equal(sampleValue(families, 'fanout_worker_busy_ratio', { worker: 'alpha:10/0' }) >= 0, true);
    assert.equal(families.get('fanout_batch_duration_seconds')?.type, 'histogram');
    assert.equal(sampleValue(families, 'fanout_batch_duration_seconds_count', { machine: 'alpha' }), 3);
    assert.equal(
      sampleValue(families, 'fanout_batch_duration_seconds_bucket', { machine: 'alpha', le: '0.001' }),
      3,
    );
    assert.equal(sampleValue(families, 'fanout_info', { source: 'pool', backend: 'threads' }), 1);
  });

  it('has every family even with nothing to count yet', () => {
    const families = parsePrometheus(prometheusText({ source: SOURCE, parts: [] }));
    assert.equal(families.get('fanout_tasks_total')?.samples.length, 0);
    assert.equal(sampleValue(families, 'fanout_workers', { state: 'busy' }), 0);
  });
});

describe('options and guards', () => {
  it('resolves the dashboard option: loopback by default, a token generated for any other address', () => {
    assert.equal(resolveDashboardOption(undefined), undefined);
    assert.equal(resolveDashboardOption(false), undefined);
    assert.deepEqual(resolveDashboardOption(true), { port: undefined, host: '127.0.0.1', token: undefined });
    const open = resolveDashboardOption({ host: '0.0.0.0', port: 0 });
    assert.equal(open?.host, '0.0.0.0');
    assert.match(open?.token ?? '', /^[\w-]{24}$/);
    assert.notEqual(resolveDashboardOption({ host: '::' })?.token, open?.token, 'a token per dashboard');
    const given = 'a-token-of-enough-length';
    assert.equal(resolveDashboardOption({ host: '10.0.0.5', token: given })?.token, given);
    assert.equal(
      resolveDashboardOption({ token: given })?.token,
      given,
      'a token on loopback is kept (and required)',
    );
  });

  it('refuses bad dashboard options with coded errors that name them', () => {
    const cases: [unknown, string, RegExp][] = [
      ['yes', 'ERR_INVALID_ARG_TYPE', /`dashboard`/],
      [{ port: -1 }, 'ERR_INVALID_ARG_VALUE', /`dashboard\.port`.*-1/],
      [{ port: 70000 }, 'ERR_INVALID_ARG_VALUE', /`dashboard\.port`/],
      [{ port: '80' }, 'ERR_INVALID_ARG_TYPE', /`dashboard\.port`/],
      [{ host: '' }, 'ERR_INVALID_ARG_VALUE', /`dashboard\.host`/],
      [{ token: 'short' }, 'ERR_INVALID_ARG_VALUE', /`dashboard\.token`.*16/],
      [{ token: 'has spaces in it, sixteen+' }, 'ERR_INVALID_ARG_VALUE', /`dashboard\.token`/],
      [{ prot: 80 }, 'ERR_INVALID_ARG_VALUE', /prot/],
    ];
    for (const [value, code, message] of cases) {
      assert.throws(
        () => resolveDashboardOption(value),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, code, `${JSON.stringify(value)}: ${e.message}`);
          assert.match(e.message, message);
          return true;
        },
      );
    }
  });

  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', 'app.localhost'])
      assert.ok(isLoopback(host), host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.org', '192.168.1.2', '::ffff:10.0.0.1'])
      assert.ok(!isLoopback(host), host);
  });

  it('will not serve a non-loopback address without a token (ERR_DASHBOARD)', async () => {
    const source = {
      snapshot: () => Promise.reject(new Error('unused')),
      metrics: () => Promise.resolve(''),
    };
    await assert.rejects(DashboardServer.listen(source, { host: '0.0.0.0', port: 0, token: undefined }), {
      code: 'ERR_DASHBOARD',
      message: /without a token/,
    });
  });

  it('ships a page script that parses', () => {
    assert.doesNotThrow(() => new Function(PAGE_SCRIPT));
    assert.doesNotMatch(
      PAGE_SCRIPT,
      /innerHTML|eval\(|https?:\/\//,
      'no HTML from data, no eval, nothing fetched from elsewhere',
    );
  });
});
