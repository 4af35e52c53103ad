/**
 * Node built-in modules that only some programs use, required on first use instead of imported.
 * Importing one is not free: node:v8 costs ~2.3 ms of a start-up, node:crypto ~2 ms,
 * node:child_process and node:net ~1.5 ms, node:util ~0.6 ms (node:util/types, which is all
 * most modules use of it, next to nothing), in the program and in every worker thread that
 * loads the module importing it. A pool of threads needs none of them until a queue, a
 * dashboard, a worker process or the disk cache does.
 */

import { createRequire } from 'node:module';

/** Made on first use too: the first `createRequire` of a thread costs ~0.5 ms (the CommonJS loader's setup). */
let cachedRequire: NodeJS.Require | undefined;
const requireBuiltin = (id: string): unknown => {
  cachedRequire ??= createRequire(import.meta.url);
  return cachedRequire(id);
};

/** node:v8 (the serializer: queues' values, cache entries, broadcasts to a cluster). */
let v8: typeof import('node:v8') | undefined;
export function nodeV8(): typeof import('node:v8') {
  v8 ??= requireBuiltin('node:v8') as typeof import('node:v8');
  return v8;
}

/** node:os (the core count, the host's name). */
export function nodeOs(): typeof import('node:os') {
  return requireBuiltin('node:os') as typeof import('node:os');
}

/** node:fs (for the rare synchronous check: a trace file's folder). */
export function nodeFs(): typeof import('node:fs') {
  return requireBuiltin('node:fs') as typeof import('node:fs');
}

/** node:util (`inspect`, for the disk cache's description of a call's arguments). */
export function nodeUtil(): typeof import('node:util') {
  return requireBuiltin('node:util') as typeof import('node:util');
}

/** node:crypto (hashes, random ids and tokens). */
export function nodeCrypto(): typeof import('node:crypto') {
  return requireBuiltin('node:crypto') as typeof import('node:crypto');
}

/** node:net (address checks). */
export function nodeNet(): typeof import('node:net') {
  return requireBuiltin('node:net') as typeof import('node:net');
}

/** node:child_process (worker processes). */
export function nodeChildProcess(): typeof import('node:child_process') {
  return requireBuiltin('node:child_process') as typeof import('node:child_process');
}
