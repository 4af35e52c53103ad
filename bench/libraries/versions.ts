/** Installed versions of the libraries, read from their package.json (for the records). */

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/**
 * Walk up from the package's entry point (not every package exports its package.json); for
 * fanout itself, from this file, since the benchmark runs its own compiled copy of src/.
 */
export function versionOf(name: string): string {
  let dir = name === 'fanout' ? dirname(fileURLToPath(import.meta.url)) : dirname(require.resolve(name));
  while (dir !== dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (json.name === name && json.version) return json.version;
    }
    dir = dirname(dir);
  }
  return 'unknown';
}
