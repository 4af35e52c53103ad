/**
 * Where a dashboard listens and who may read it. One rule for every dashboard (a pool's,
 * `fanout dashboard`, a worker's `--metrics-port`): it binds to 127.0.0.1 unless told
 * otherwise, and on any other address every request must carry a token, which is generated
 * when none is given. The `dashboard` pool option (options/schema.ts) and the commands' flags
 * are read through the specs declared here.
 */

import { nodeCrypto, nodeNet } from '../builtins.js';
import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';
import type { DashboardOptions } from '../types.js';
import { show } from './checks.js';
import { keysMatch, type OptionSpec, optionSet, type Resolved, resolveOptions } from './option-set.js';

/** A dashboard's address and token, checked. */
export interface DashboardConfig {
  /** Undefined: DEFAULT_PORT, or any free port when it is taken. */
  readonly port: number | undefined;
  readonly host: string;
  readonly token: string | undefined;
}

/** Dask's dashboard port, which users of Python's cluster tools know. */
export const DEFAULT_PORT = 8787;
export const DEFAULT_HOST = '127.0.0.1';
export const MIN_TOKEN_LENGTH = 16;
/** The variable `fanout dashboard` and `fanout worker --metrics-port` read a token from (kept out of the process list). */
export const TOKEN_ENV = 'FANOUT_DASHBOARD_TOKEN';

export const DASHBOARD = optionSet('the dashboard options', {
  port: {
    check: (v: unknown, name: string): number => {
      const Err = typeof v === 'number' ? InvalidArgValueError : InvalidArgTypeError;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
        throw new Err(`Expected \`${name}\` to be a port number (0–65535), got ${show(v)}`);
      }
      return v;
    },
    doc: `the port to listen on (0: any free port; default: ${DEFAULT_PORT}, or any free port when it is taken)`,
    flag: { name: 'port', kind: 'port' },
  } satisfies OptionSpec<number>,
  host: {
    check: (v: unknown, name: string): string => {
      if (typeof v === 'string' && v.trim() !== '') return v;
      const Err = typeof v === 'string' ? InvalidArgValueError : InvalidArgTypeError;
      throw new Err(`Expected \`${name}\` to be an address or a host name, got ${show(v)}`);
    },
    default: DEFAULT_HOST,
    doc: 'the address to listen on (any but loopback needs a token)',
    flag: { name: 'host', kind: 'text' },
  } satisfies OptionSpec<string>,
  token: {
    check: (v: unknown, name: string): string => {
      if (typeof v !== 'string') {
        throw new InvalidArgTypeError(`Expected \`${name}\` to be a string, got ${show(v)}`);
      }
      if (v.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(v)) {
        throw new InvalidArgValueError(
          `Expected \`${name}\` to be at least ${MIN_TOKEN_LENGTH} printable characters with no spaces, got ${v.length} characters`,
        );
      }
      return v;
    },
    doc: `the token every request must carry (at least ${MIN_TOKEN_LENGTH} characters)`,
    flag: { name: 'token', kind: 'text' },
  } satisfies OptionSpec<string>,
});
keysMatch<typeof DASHBOARD.specs, DashboardOptions>(true);

/** The `dashboard` option of a pool (its check in the pool's option set): undefined when off. */
export function resolveDashboardOption(value: unknown, name = 'dashboard'): DashboardConfig | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return dashboardConfig(resolveOptions(DASHBOARD, {}));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgTypeError(
      `Expected \`${name}\` to be a boolean or { port, host, token }, got ${show(value)}`,
    );
  }
  return dashboardConfig(resolveOptions(DASHBOARD, value, { prefix: `${name}.` }));
}

/** A dashboard's checked options as it listens: the token a non-loopback host needs is generated when none was given. */
export function dashboardConfig(given: Resolved<typeof DASHBOARD.specs>): DashboardConfig {
  return {
    port: given.port,
    host: given.host,
    token: given.token ?? (isLoopback(given.host) ? undefined : generateToken()),
  };
}

/** A token nobody can guess: 144 random bits, URL-safe. */
export function generateToken(): string {
  return nodeCrypto().randomBytes(18).toString('base64url');
}

/** Whether `host` is reachable from this machine only: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const { isIP } = nodeNet();
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}
