/**
 * Where a dashboard listens and who may read it. One rule for every dashboard (a pool's,
 * `fanout dashboard`, a worker's `--metrics-port`): it binds to 127.0.0.1 unless told
 * otherwise, and on any other address every request must carry a token, which is generated
 * when none is given.
 */

import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { InvalidArgTypeError, InvalidArgValueError } from '../../errors.js';
import { checkKnownKeys, show } from '../../options.js';

/** `Pool`'s `dashboard` option, as an object. */
export interface DashboardOptions {
  /**
   * The port to listen on; 0 for any free port.
   * @default 8787, or any free port when 8787 is taken
   */
  port?: number;
  /**
   * The address to listen on. Any address but a loopback one (127.0.0.0/8, ::1, localhost)
   * needs a token, generated when `token` is not given.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * The token every request must carry, as `?token=` in the URL or an `Authorization: Bearer`
   * header: at least 16 characters. Required on any non-loopback `host` (generated when not
   * given); optional on loopback.
   */
  token?: string;
}

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

const KEYS = ['port', 'host', 'token'];

/** The `dashboard` option of a pool: undefined when off. */
export function resolveDashboardOption(value: unknown): DashboardConfig | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return dashboardConfig({});
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgTypeError(
      `Expected \`dashboard\` to be a boolean or { port, host, token }, got ${show(value)}`,
    );
  }
  checkKnownKeys('the dashboard options', value as Record<string, unknown>, KEYS);
  const options = value as DashboardOptions;
  return dashboardConfig({ port: options.port, host: options.host, token: options.token }, 'dashboard.');
}

/**
 * Check a dashboard's port, host and token (`prefix` names them in messages: `dashboard.`,
 * `--`), generating the token a non-loopback host needs when none is given.
 */
export function dashboardConfig(
  given: { port?: unknown; host?: unknown; token?: unknown },
  prefix = '',
): DashboardConfig {
  const { port, host, token } = given;
  if (port !== undefined) {
    if (typeof port !== 'number') {
      throw new InvalidArgTypeError(
        `Expected \`${prefix}port\` to be a port number (0–65535), got ${show(port)}`,
      );
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new InvalidArgValueError(
        `Expected \`${prefix}port\` to be a port number (0–65535), got ${show(port)}`,
      );
    }
  }
  if (host !== undefined && (typeof host !== 'string' || host.trim() === '')) {
    const Err = typeof host === 'string' ? InvalidArgValueError : InvalidArgTypeError;
    throw new Err(`Expected \`${prefix}host\` to be an address or a host name, got ${show(host)}`);
  }
  if (token !== undefined) checkToken(`${prefix}token`, token);
  const resolvedHost = (host as string | undefined) ?? DEFAULT_HOST;
  return {
    port: port as number | undefined,
    host: resolvedHost,
    token: (token as string | undefined) ?? (isLoopback(resolvedHost) ? undefined : generateToken()),
  };
}

function checkToken(name: string, token: unknown): void {
  if (typeof token !== 'string') {
    throw new InvalidArgTypeError(`Expected \`${name}\` to be a string, got ${show(token)}`);
  }
  if (token.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token)) {
    throw new InvalidArgValueError(
      `Expected \`${name}\` to be at least ${MIN_TOKEN_LENGTH} printable characters with no spaces, got ${token.length} characters`,
    );
  }
}

/** A token nobody can guess: 144 random bits, URL-safe. */
export function generateToken(): string {
  return randomBytes(18).toString('base64url');
}

/** Whether `host` is reachable from this machine only: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}
