/**
 * The README's picture of the dashboard (docs/dashboard.png): a pool of two threads with its
 * dashboard on, two calls running (one of them with items that throw), photographed by headless
 * Chromium mid-run, and stored with a palette of 256 colours (bench/png-palette.ts).
 *
 *   node --import tsx bench/dashboard-screenshot.ts [--out docs/dashboard.png]
 */

import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { Pool } from '../src/index.js';
import tasks from './dashboard-tasks.js';
import { toPalette } from './png-palette.js';

const { values } = parseArgs({ options: { out: { type: 'string' }, chromium: { type: 'string' } } });
const out = values.out ?? 'docs/dashboard.png';

const pool = new Pool({ workers: 2, dashboard: { port: 0 } });
const url = await pool.dashboard?.url();
if (!url) throw new Error('no dashboard');
const browser = await chromium.launch({
  executablePath: values.chromium ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
});
try {
  // Item lengths vary (2–14 ms), so batches differ and the stream shows them.
  const lengths = Array.from({ length: 5000 }, (_, i) => 2 + ((i * 7919) % 13));
  const simulation = pool.map(tasks.simulate, lengths);
  const lines = Array.from({ length: 400 }, (_, i) => (i % 97 === 13 ? `n/a (sensor ${i})` : String(i / 10)));
  const parsing = (async () => {
    await new Promise((resolve) => setTimeout(resolve, 6000));
    return pool.map(tasks.parseReading, lines, { errors: 'collect', batchSize: 8 });
  })();
  const page = await browser.newPage({ viewport: { width: 1360, height: 1000 }, deviceScaleFactor: 1 });
  await page.goto(url);
  await new Promise((resolve) => setTimeout(resolve, 14_000));
  // Shipped in the package, so kept small: the page down to its charts (the errors below them
  // hold stack paths of this machine), and 256 colours, plenty for this page.
  const shot = join(tmpdir(), `fanout-dashboard-${process.pid}.png`);
  await page.screenshot({ path: shot, clip: { x: 0, y: 0, width: 1360, height: 846 } });
  console.log(`wrote ${out}: ${toPalette(shot, out)} bytes`);
  rmSync(shot, { force: true });
  await Promise.all([simulation, parsing]);
} finally {
  await browser.close();
  await pool.close();
}
