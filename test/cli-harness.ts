/**
 * Running the compiled `fanout` command in tests (test/cli.test.ts, test/demos.test.ts), and
 * reading the tables the demos print.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The compiled entry point, for tests that start it themselves. */
export const cliPath = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/** A `skip` reason when the CLI has not been built (npm test builds it first). */
export const skipWithoutBuild = !existsSync(cliPath) && 'run `npm run build` first';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run the compiled CLI under plain node, with `input` on its stdin (a .ts task module makes it
 * re-run itself under tsx).
 */
export async function runCli(args: string[], input?: string): Promise<CliResult> {
  const child = execFile(process.execPath, [cliPath, ...args], { env: { ...process.env, NODE_OPTIONS: '' } });
  child.stdin?.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  return { code, stdout, stderr };
}

/** The cells of every table row that starts with `label` (columns are two or more spaces apart). */
export function rows(stdout: string, label: string): string[][] {
  const found = stdout
    .split('\n')
    .filter((l) => l.startsWith(`${label}  `))
    .map((l) => l.split(/ {2,}/).map((cell) => cell.trim()));
  assert.ok(found.length > 0, `no row "${label}" in:\n${stdout}`);
  return found;
}

/** The cells of the first table row that starts with `label`. */
export const row = (stdout: string, label: string): string[] => rows(stdout, label)[0] as string[];

/** A number as printed in a table: 1,234,567 or 0.0140 or 1.93×. */
export const numberIn = (cell: string | undefined): number => Number((cell ?? '').replace(/[,×%]/g, ''));
