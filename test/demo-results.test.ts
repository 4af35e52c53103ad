/**
 * The demos whose variants must agree (marshaling's sums, strings' strings, io's answers), run
 * compiled at --quick size. Each demo prints its own verdict ("every variant computed the same
 * sum"); these tests do not take its word for it: they check what every variant computed against
 * a reference computed here, from the public `randomStream` or from what the server answers. They
 * also check the rows and the report, as test/demos.test.ts does for the other demos.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { DemoResult } from '../src/demos/demo.js';
import type { GraphComputed } from '../src/demos/graph.js';
import type { IoComputed } from '../src/demos/io.js';
import type { MarshalingComputed } from '../src/demos/marshaling.js';
import type { StringsComputed } from '../src/demos/strings.js';
import { randomStream } from '../src/index.js';
import { writeReport } from '../src/observe/report.js';
import { numberIn, row, skipWithoutBuild } from './cli-harness.js';
import { gate } from './requirements.js';

/** Without a build every test is registered as skipped, so the summary counts them. */
const { after, before, describe, it } = gate(skipWithoutBuild);
const runner = fileURLToPath(new URL('./fixtures/demo-runner.mjs', import.meta.url));

describe('the demos’ results, against references of the tests’ own', { timeout: 300_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-demo-results-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Run a compiled demo with 2 workers at --quick size: what it printed, its report's HTML, what it computed. */
  async function run<C>(name: string): Promise<{ stdout: string; html: string; computed: C }> {
    const { stdout } = await promisify(execFile)(process.execPath, [runner, name], {
      env: { ...process.env, NODE_OPTIONS: '' },
      maxBuffer: 64 * 1024 * 1024,
    });
    const { lines, result } = JSON.parse(stdout) as { lines: string[]; result: DemoResult<C> };
    assert.ok(result.computed, `${name} returns what each variant computed`);
    const report = join(dir, `${name}.html`);
    await writeReport(report, result);
    return { stdout: `${lines.join('\n')}\n`, html: readFileSync(report, 'utf8'), computed: result.computed };
  }

  it('marshaling: every way of summing gives the sum of the stream’s numbers, computed here', async () => {
    const { stdout, html, computed } = await run<MarshalingComputed>('marshaling');
    const variants = [
      'typed-array loop (Float64Array)',
      'JS-array loop (number[])',
      'JS array, reduce()',
      'pool.map, one item per message',
      'pool.map, automatic batches',
      'pool.map, batchSize 10,000',
      'pool.run, whole array (one copy)',
      'shared array, 2 slices (no copy)',
    ];
    for (const variant of variants) {
      const cells = row(stdout, variant);
      assert.ok(numberIn(cells[3]) > 0, `${variant}: ns per number ${cells[3]}`);
    }
    assert.equal(numberIn(row(stdout, 'pool.map, one item per message')[1]), 5000);
    assert.match(stdout, /Every variant computed the same sum\./);
    assert.match(html, /<caption>One sum, every way<\/caption>/);

    // The reference: the numbers drawn one by one from the stream of (seed, 0), summed in order.
    assert.deepEqual(
      computed.sums.map((s) => s.variant),
      variants,
    );
    const counts = new Set(computed.sums.map((s) => s.items));
    assert.deepEqual(
      [...counts].sort((a, b) => a - b),
      [5000, 100_000],
    );
    const reference = new Map<number, number>();
    const rng = randomStream(computed.seed, 0);
    let sum = 0;
    for (let i = 1; i <= 100_000; i++) {
      sum += rng.random();
      if (counts.has(i)) reference.set(i, sum);
    }
    for (const { variant, items, sum } of computed.sums) {
      const expected = reference.get(items) as number;
      // Slices and batches add in another order: the last bits may differ, nothing more.
      assert.ok(Math.abs(sum - expected) <= 1e-9 * expected, `${variant}: ${sum} vs ${expected}`);
      // Uniform draws in [0, 1): the mean is ½ within 6 standard errors (√(1/12) / √n).
      assert.ok(Math.abs(expected / items - 0.5) < (6 * Math.sqrt(1 / 12)) / Math.sqrt(items), `${items}`);
    }
  });

  it('graph: the serial loop, the graph and the futures compute the summary computed here', async () => {
    const { stdout, html, computed } = await run<GraphComputed>('graph');
    const variants = [
      'serial loop',
      'graph (pool.compute), 2 threads',
      'futures (pool.run), 2 threads',
      'graph (pool.compute), 2 processes',
    ];
    assert.deepEqual(
      computed.summaries.map((s) => s.variant),
      variants,
    );
    for (const variant of variants.slice(1)) assert.ok(numberIn(row(stdout, variant)[1]) > 0, variant);
    assert.match(stdout, /Every variant computed the same summary, bit for bit\./);
    assert.match(html, /<caption>Serial loop, graph and futures<\/caption>/);

    // The reference, from the demo's documented rule: file i holds 200 + ⌊100·u⌋ lines, each a
    // sensor (one draw) and a reading 20 + 10·u rounded to 3 decimals, from the stream of (seed, i).
    let readings = 0;
    let sum = 0;
    let max = Number.NEGATIVE_INFINITY;
    let alerts = 0;
    let worstFile = -1;
    let worstAlerts = -1;
    for (let i = 0; i < computed.files; i++) {
      const rng = randomStream(computed.seed, i);
      const lines = 200 + Math.floor(100 * rng.random());
      let fileSum = 0;
      let fileAlerts = 0;
      for (let l = 0; l < lines; l++) {
        rng.random();
        const reading = Math.round((20 + 10 * rng.random()) * 1000) / 1000;
        fileSum += reading;
        if (reading > max) max = reading;
        if (reading > 29.5) fileAlerts++;
      }
      readings += lines;
      sum += fileSum;
      alerts += fileAlerts;
      if (fileAlerts > worstAlerts) {
        worstAlerts = fileAlerts;
        worstFile = i;
      }
    }
    const reference = { files: computed.files, readings, sum, max, alerts, worstFile };
    for (const { variant, summary } of computed.summaries) assert.deepEqual(summary, reference, variant);
  });

  it('strings: every variant made string i from the stream of (seed, i), as computed here', async () => {
    const { stdout, html, computed } = await run<StringsComputed>('strings');
    const loads = ['small: 4 × 5 chars', 'large: 16 × 50,000 chars'];
    const variants = [
      'serial loop',
      '2 threads, pool running',
      '2 processes, pool running',
      '2 threads, pool started',
      '2 processes, pool started',
    ];
    for (const load of loads) {
      for (const variant of variants) {
        assert.ok(
          stdout.split('\n').some((l) => l.startsWith(load) && l.includes(variant)),
          `${load} / ${variant}`,
        );
      }
    }
    assert.match(stdout, /Every variant made the same strings/);
    assert.match(html, /<svg id="speedup-by-load"/);

    // The reference: seed 001's rand_string, letters and digits drawn from the stream of (seed, i).
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    const expected = (count: number, length: number) =>
      Array.from({ length: count }, (_, i) => {
        const rng = randomStream(computed.seed, i);
        let text = '';
        for (let k = 0; k < length; k++) text += alphabet[Math.floor(rng.random() * alphabet.length)];
        return text;
      });
    const references = new Map([
      [loads[0], expected(4, 5)],
      [loads[1], expected(16, 50_000)],
    ]);
    assert.deepEqual(
      computed.strings.map((s) => `${s.load} / ${s.variant}`),
      loads.flatMap((load) => variants.map((variant) => `${load} / ${variant}`)),
    );
    for (const { load, variant, strings } of computed.strings) {
      // Not deepEqual on the whole array: a mismatch would print megabytes of strings.
      const reference = references.get(load) as string[];
      assert.equal(strings.length, reference.length, `${load} / ${variant}: how many strings`);
      strings.forEach((s, i) => {
        assert.ok(s === reference[i], `${load} / ${variant}: string ${i} differs from the reference`);
      });
    }
  });

  it('io: every variant got the answer to each of its requests, in order, as the server gives it', async () => {
    const { stdout, html, computed } = await run<IoComputed>('io');
    assert.equal(numberIn(row(stdout, 'sequential')[2]), 1);
    const async = numberIn(row(stdout, 'async, Promise.all')[2]);
    assert.ok(async >= 1 && async <= 10);
    assert.ok(numberIn(row(stdout, 'async, inline pool')[2]) >= 1);
    const threads = numberIn(row(stdout, '2 worker threads')[2]);
    assert.ok(threads >= 1 && threads <= 2, `threads held ${threads} requests at once`);
    assert.match(stdout, /Every answer arrived, in order\./);
    assert.match(html, /<caption>One batch of requests, four ways<\/caption>/);

    // The reference: the demo's server answers "answer to <path>" to each request.
    assert.deepEqual(
      computed.answers.map((a) => a.variant),
      ['sequential', 'async, Promise.all', 'async, inline pool', '2 worker threads'],
    );
    for (const { variant, urls, bodies } of computed.answers) {
      assert.equal(new Set(urls).size, 10, `${variant}: 10 different requests`);
      assert.deepEqual(
        bodies,
        urls.map((url) => `answer to ${new URL(url).pathname}`),
        variant,
      );
    }
  });
});
