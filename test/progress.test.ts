/** Progress: the state callers get, and what is drawn on a terminal and elsewhere. */

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Pool, type ProgressState } from '../src/index.js';
import { ProgressRenderer, ProgressTracker, renderProgress } from '../src/observe/progress.js';
import tasks, { progressTasks } from './fixtures/tasks.js';
import { range } from './helpers.js';

/** A stream that keeps what is written; `isTTY` chooses the bar or the lines. */
function capture(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk));
        done();
      },
    }),
    { isTTY, columns: 100 },
  );
  return { stream, text: () => chunks.join('') };
}

describe('progress state', () => {
  it('reports counts, the total when known, rate and ETA', async () => {
    await using pool = new Pool({ workers: 2 });
    const states: ProgressState[] = [];
    await pool.map(tasks.square, range(500), { onProgress: (s) => states.push(s) });
    const last = states.at(-1) as ProgressState;
    assert.equal(last.done, 500);
    assert.equal(last.total, 500);
    assert.equal(last.failed, 0);
    assert.ok(last.itemsPerSecond > 0);
    assert.ok(states.every((s, i) => i === 0 || s.done >= (states[i - 1] as ProgressState).done));
  });

  it('counts partial progress that tasks report with taskContext().progress(n)', async () => {
    await using pool = new Pool({ workers: 1 });
    let units = 0;
    await pool.map(progressTasks.reportProgress, [3, 4], { onProgress: (s) => (units = s.units) });
    assert.equal(units, 7);
  });

  it('knows the total of an iterable only once it is exhausted', () => {
    let now = 0;
    const tracker = new ProgressTracker(() => now);
    now = 2000;
    tracker.update({ done: 10, failed: 1, total: undefined });
    const state = tracker.state();
    assert.equal(state.total, undefined);
    assert.equal(state.etaMs, undefined);
    assert.equal(state.itemsPerSecond, 5);
    tracker.update({ done: 20, failed: 1, total: 40 });
    now = 4000;
    assert.equal(tracker.state().etaMs, 4000);
  });
});

describe('progress drawing', () => {
  const state: ProgressState = {
    done: 25,
    failed: 0,
    total: 100,
    units: 0,
    elapsedMs: 5000,
    itemsPerSecond: 5,
    etaMs: 15000,
  };

  it('draws a bar with done/total, items/s, elapsed and ETA on a terminal', () => {
    const line = renderProgress(state, { tty: true, width: 100 });
    assert.match(line, /█+░+/);
    assert.match(line, /25\/100/);
    assert.match(line, /5\.0\/s/);
    assert.match(line, /elapsed 5\.0s/);
    assert.match(line, /eta 15s/);
  });

  it('writes plain lines elsewhere, and colour only on a terminal without NO_COLOR', () => {
    assert.equal(
      renderProgress(state, { tty: false }),
      '[fanout] done 25/100 items | 5.0/s elapsed 5.0s eta 15s',
    );
    assert.ok(!renderProgress(state, { tty: true, color: false }).includes('\u001b['));
    assert.ok(renderProgress(state, { tty: true, color: true }).includes('\u001b[32m'));
  });

  it('draws on the given stream (stderr by default), never stdout, and ends the bar with a newline', async () => {
    const tty = capture(true);
    await using pool = new Pool({ workers: 2 });
    await pool.map(tasks.square, range(200), { progress: { stream: tty.stream, label: 'squares' } });
    assert.ok(tty.text().includes('\r\u001b[2Ksquares '), 'redrawn in place');
    assert.match(tty.text(), /200\/200/);
    assert.ok(tty.text().endsWith('\n'));
    const log = capture(false);
    await pool.map(tasks.square, range(200), { progress: { stream: log.stream } });
    assert.match(log.text(), /^\[fanout\] done \d+\/200 items/m);
    assert.ok(log.text().trimEnd().endsWith('s') && log.text().includes('done 200/200'));
  });

  it('respects NO_COLOR', () => {
    const tty = capture(true);
    const saved = process.env.NO_COLOR;
    process.env.NO_COLOR = '1';
    try {
      const renderer = new ProgressRenderer(new ProgressTracker(undefined, 10), { stream: tty.stream });
      renderer.finish();
    } finally {
      if (saved === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = saved;
    }
    assert.ok(!tty.text().includes('\u001b[32m'));
  });
});
