/**
 * A pool's dashboard in a real browser: headless Chromium (Debian's package, driven by
 * playwright-core) loads the page with no console error, and the page follows a map as it runs:
 * its done count rises, a worker's lane gains bars, the call is listed as running. The test
 * feeds the map's input itself, so "while it runs" is decided, not timed. A screenshot is
 * saved as a test artifact (test-artifacts/dashboard.png). Without Chromium the test says
 * SKIPPED loudly; with FANOUT_REQUIRE_BROWSER=1 (CI) it fails instead.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { Pool } from '../src/index.js';
import tasks from './fixtures/tasks.js';
import { range } from './helpers.js';
import { requirement } from './requirements.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = requirement('test/dashboard.e2e.test.ts', {
  missing: existsSync(CHROMIUM) ? undefined : `there is no Chromium at ${CHROMIUM}`,
  env: 'FANOUT_REQUIRE_BROWSER',
  install: 'apt-get install chromium, or set CHROMIUM_PATH',
});

/** An input the test hands out in portions: the call reading it stays open until `end()`. */
class Feed implements AsyncIterable<number> {
  private readonly queue: number[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  push(items: readonly number[]): void {
    this.queue.push(...items);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<number> {
    for (;;) {
      const next = this.queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}

// Runs in the page: the DOM types are not part of this (Node) project's compilation.
type Doc = {
  getElementById(
    id: string,
  ): { dataset: Record<string, string | undefined>; textContent: string | null } | null;
};

/** What the page shows now: the done count, the bars of each lane, the calls table's text. */
async function shown(page: Page): Promise<{ done: number; laneBars: number[]; calls: string }> {
  return await page.evaluate(() => {
    const doc = (globalThis as unknown as { document: Doc }).document;
    const lanes = doc.getElementById('stream')?.dataset.laneBars ?? '';
    return {
      done: Number(doc.getElementById('c-done')?.dataset.value),
      laneBars: lanes === '' ? [] : lanes.split(',').map(Number),
      calls: doc.getElementById('calls')?.textContent ?? '',
    };
  });
}

async function untilDone(page: Page, atLeast: number): Promise<void> {
  await page.waitForFunction(
    (n) => {
      const doc = (globalThis as unknown as { document: Doc }).document;
      return Number(doc.getElementById('c-done')?.dataset.value) >= n;
    },
    atLeast,
    { timeout: 60_000, polling: 50 },
  );
}

it('the dashboard loads with no console error and follows a map as it runs', {
  skip,
  timeout: 180_000,
}, async () => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const pool = new Pool({ workers: 2, dashboard: { port: 0 } });
  const feed = new Feed();
  let running: Promise<number[]> | undefined;
  try {
    const url = (await pool.dashboard?.url()) as string;
    const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('requestfailed', (request) => problems.push(`${request.url()}: ${request.failure()?.errorText}`));
    await page.goto(url);
    await page.waitForFunction(() => {
      const doc = (globalThis as unknown as { document: Doc }).document;
      return doc.getElementById('c-done')?.dataset.value === '0';
    });

    running = (async () => {
      const results: number[] = [];
      for await (const r of pool.imap(tasks.square, feed, { batchSize: 5 })) results.push(r);
      return results;
    })();
    feed.push(range(50));
    await untilDone(page, 50);
    const first = await shown(page);
    assert.equal(first.laneBars.length > 0, true, 'a lane per worker');
    assert.ok(
      first.laneBars.some((n) => n > 0),
      `bars: ${first.laneBars}`,
    );
    assert.match(first.calls, /pool\.imap.*square.*running/s);

    feed.push(range(120).slice(50));
    await untilDone(page, 120);
    const second = await shown(page);
    assert.ok(second.done > first.done, `the done count rose: ${first.done} → ${second.done}`);
    assert.ok(
      second.laneBars.some((n, i) => n > (first.laneBars[i] ?? 0)),
      `a lane gained bars: ${first.laneBars} → ${second.laneBars}`,
    );
    assert.match(second.calls, /running/, 'the call is still running: its input is open');

    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: join('test-artifacts', 'dashboard.png'), fullPage: true });
    await page.close();
    assert.deepEqual(problems, [], 'no console error, no failed request');
    feed.end();
    assert.deepEqual(
      await running,
      range(120).map((x) => x * x),
    );
  } finally {
    feed.end();
    await running?.catch(() => {});
    await browser.close();
    await pool.close();
  }
});
