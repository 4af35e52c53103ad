/**
 * A report opened in a real browser: headless Chromium (Debian's package, driven by
 * playwright-core) renders the page, the charts have drawn marks, and a screenshot is saved as a
 * test artifact (test-artifacts/report.png). Without Chromium the test says SKIPPED loudly;
 * with FANOUT_REQUIRE_BROWSER=1 (CI) it fails instead.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { type BatchTrace, Pool } from '../src/index.js';
import { writeReport } from '../src/observe/report.js';
import tasks from './fixtures/tasks.js';
import { range } from './helpers.js';
import { requirement } from './requirements.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = requirement('test/report.e2e.test.ts', {
  missing: existsSync(CHROMIUM) ? undefined : `there is no Chromium at ${CHROMIUM}`,
  env: 'FANOUT_REQUIRE_BROWSER',
  install: 'apt-get install chromium, or set CHROMIUM_PATH',
});

it('a report renders its charts in headless Chromium', {
  skip,
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fanout-report-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    // A real run: batches from a 2-worker map, and a scaling series.
    const batches: BatchTrace[] = [];
    await using pool = new Pool({ workers: 2 });
    await pool.map(tasks.slowSquare, range(40), { batchSize: 2, onBatch: (b) => batches.push(b) });
    const file = join(dir, 'report.html');
    await writeReport(file, {
      title: 'Report test',
      subtitle: 'speedup, efficiency and a timeline',
      scaling: [
        {
          name: 'work',
          points: [
            { workers: 1, seconds: 2 },
            { workers: 2, seconds: 1.1 },
          ],
          baselineSeconds: 2,
        },
      ],
      batches,
      tables: [
        {
          caption: 'Runs',
          columns: ['workers', 'seconds'],
          rows: [
            [1, 2],
            [2, 1.1],
          ],
        },
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(pathToFileURL(file).href);
    // Runs in the page: the DOM types are not part of this (Node) project's compilation.
    type Box = {
      id: string;
      getBoundingClientRect(): { width: number };
      querySelectorAll(s: string): { length: number };
    };
    const drawn = await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<Box> } })
        .document;
      return [...doc.querySelectorAll('svg.chart')].map((svg) => ({
        id: svg.id,
        width: svg.getBoundingClientRect().width,
        marks: svg.querySelectorAll('path.series, circle.point, rect.batch').length,
      }));
    });
    assert.deepEqual(
      drawn.map((d) => d.id),
      ['speedup', 'efficiency', 'timeline'],
    );
    for (const chart of drawn) {
      assert.ok(chart.width > 100, `${chart.id} has a size`);
      assert.ok(chart.marks > 0, `${chart.id} has drawn marks`);
    }
    const timelineBatches = drawn.find((d) => d.id === 'timeline')?.marks;
    assert.equal(timelineBatches, batches.length, 'one rectangle per batch');
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: join('test-artifacts', 'report.png'), fullPage: true });
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
