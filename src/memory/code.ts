/**
 * The hash of a task's code: the bytes of its task module's source file. Editing any function
 * of the module changes it, so cached results of the old code are never returned for the new.
 * (Coarser than one function's source, on purpose: a task also depends on the module's
 * helpers and constants. Modules it imports are not covered; see the README.)
 *
 * The hash is taken once per module per thread, when the module is first used there, and kept:
 * it describes the code this thread imported, even if the file changes afterwards. A module
 * that is not a file (a `data:` URL holds its own source) is hashed by its URL.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nodeCrypto } from '../builtins.js';
import { CacheError, describe } from '../errors.js';
import { HASH_ALGORITHM } from './hash.js';

const hashes = new Map<string, string>();

/** The hex hash of the source of the module at `moduleUrl`; throws `CacheError` if unreadable. */
export function codeHash(moduleUrl: string): string {
  let hash = hashes.get(moduleUrl);
  if (hash === undefined) {
    hash = nodeCrypto().createHash(HASH_ALGORITHM).update(moduleSource(moduleUrl)).digest('hex');
    hashes.set(moduleUrl, hash);
  }
  return hash;
}

function moduleSource(moduleUrl: string): Buffer | string {
  if (!moduleUrl.startsWith('file:')) return moduleUrl;
  try {
    return readFileSync(fileURLToPath(moduleUrl));
  } catch (error) {
    throw new CacheError(
      `Cannot read the source of task module ${moduleUrl} to hash its code: ${describe(error)}`,
      { cause: error },
    );
  }
}
