/**
 * What a Redis URL says about safety: whether it reaches another machine in plaintext with no
 * password (the warning the pool and the worker give). The URL itself is checked with the other
 * options (options/checks.ts).
 */

import { BlockList, isIP } from 'node:net';
import { redactUrl } from '../options/checks.js';

/** Addresses that never leave the machine: 127.0.0.0/8 and ::1 (IPv4-mapped too). */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether a URL's host is this machine's loopback: `localhost` or a loopback address (no DNS lookup). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === 'localhost.') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The warning for a Redis reached in plaintext without a password on another machine, or
 * undefined. Whoever can reach such a Redis can write jobs, so run the workers' tasks on
 * arguments of their choosing, and read or forge every argument and result. Loopback is
 * exempt: only this machine reaches it. One decision for the worker and the pool.
 */
export function exposureWarning(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'redis:') return undefined;
  if (parsed.password !== '' || (parsed.searchParams.get('password') ?? '') !== '') return undefined;
  if (isLoopbackHost(parsed.hostname)) return undefined;
  return (
    `Redis at ${redactUrl(url)} is reached in plaintext (redis://) with no password. Anyone who can ` +
    'reach that address can queue jobs that make the workers run any task of their modules on ' +
    'arguments of their choosing, and read or replace every argument and result. Protect it: TLS ' +
    'and a password or ACL user (rediss://user:password@host:port), or keep Redis on loopback.'
  );
}
