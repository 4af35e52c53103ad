/**
 * Print the saved results again, as text or as the README's Markdown table, without rerunning:
 *
 *   node dist-bench/bench/print.js [--markdown] [--partial]   (--partial: the last limited run)
 */

import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from './args.js';
import { type FairnessRecord, fairnessTable } from './fairness-rows.js';
import type { BenchRecord } from './record.js';
import { markdownTable, textTable } from './table.js';

const args = parseArgs(process.argv.slice(2));
const format = args.has('markdown') ? markdownTable : textTable;
const stem = args.has('partial') ? 'partial' : 'latest';
for (const name of [`${stem}.json`, `${stem}-extra.json`]) {
  const file = new URL(`../../bench/results/${name}`, import.meta.url);
  if (!existsSync(file)) continue;
  const records = JSON.parse(readFileSync(file, 'utf8')) as BenchRecord[];
  process.stdout.write(`${format(records)}\n\n`);
  for (const r of records) {
    if (r.note && r.library !== 'serial') process.stdout.write(`- ${r.workload} · ${r.library}: ${r.note}\n`);
  }
  process.stdout.write('\n');
}
const fairnessFile = new URL(`../../bench/results/${stem}-fairness.json`, import.meta.url);
if (existsSync(fairnessFile)) {
  const records = JSON.parse(readFileSync(fairnessFile, 'utf8')) as FairnessRecord[];
  process.stdout.write(`${fairnessTable(records, args.has('markdown'))}\n\n`);
  for (const r of records) process.stdout.write(`- ${r.workload} · ${r.library}: ${r.note}\n`);
}
