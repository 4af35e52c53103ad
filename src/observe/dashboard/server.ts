/**
 * The dashboard's HTTP server (node:http, nothing else): the page, its state as JSON and as a
 * stream of Server-Sent Events, and Prometheus metrics.
 *
 * - It never keeps the process alive (unless asked, for `fanout dashboard`): the listening
 *   socket and every connection are unref'd, and the push timer too.
 * - On a non-loopback address every request needs the token (`?token=` or `Authorization:
 *   Bearer`): 401 without one, 403 with a wrong one; without a token it refuses to start. On
 *   loopback without a token, requests must name a loopback host (a page on another site that
 *   points its name at 127.0.0.1 cannot read it), and no response allows other origins.
 * - The page is one document with its script and style inline, allowed by a per-response
 *   nonce (Content-Security-Policy): nothing else can run in it, and it loads nothing else.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { hostname } from 'node:os';
import { DashboardError, describe } from '../../errors.js';
import { type DashboardConfig, DEFAULT_PORT, isLoopback } from '../../options/dashboard.js';
import { METRICS_CONTENT_TYPE } from './metrics.js';
import { dashboardPage } from './page.js';
import type { DashboardSnapshot } from './types.js';

/** What a server shows. `snapshot` and `metrics` never reject: a source reports its problems inside. */
export interface DashboardSource {
  snapshot(): Promise<DashboardSnapshot>;
  metrics(): Promise<string>;
}

export interface ServeOptions extends DashboardConfig {
  /** Serve /metrics only (a `fanout worker --metrics-port`). */
  readonly metricsOnly?: boolean;
  /** Keep the process alive while listening (`fanout dashboard`, which does nothing else). */
  readonly keepAlive?: boolean;
  /** How often the page gets a new state, in ms. */
  readonly pushEveryMs?: number;
}

const PUSH_EVERY_MS = 500;

export class DashboardServer {
  private readonly clients = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private pushTimer: NodeJS.Timeout | undefined;
  private pushing = false;
  private closing: Promise<void> | undefined;

  /** The port it listens on. */
  port = 0;

  private constructor(
    private readonly server: Server,
    private readonly source: DashboardSource,
    private readonly options: ServeOptions,
  ) {}

  /**
   * Listen as `options` say. Rejects with ERR_DASHBOARD when it cannot: a non-loopback host
   * without a token, a port taken (the default port falls back to any free one), an address
   * this machine does not have.
   */
  static async listen(source: DashboardSource, options: ServeOptions): Promise<DashboardServer> {
    if (!isLoopback(options.host) && !options.token) {
      throw new DashboardError(
        `Refusing to serve the dashboard on ${options.host} without a token: anyone who can reach that address could read it. Give a token, or listen on 127.0.0.1`,
      );
    }
    const server = createServer((request, response) => dashboard.handle(request, response));
    const dashboard = new DashboardServer(server, source, options);
    // A client that is slow to send its request cannot hold a socket for long (these bound the
    // request, not the response: an event stream stays open).
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.on('connection', (socket: Socket) => {
      dashboard.sockets.add(socket);
      socket.once('close', () => dashboard.sockets.delete(socket));
      if (!options.keepAlive) socket.unref();
    });
    try {
      dashboard.port = await bind(server, options.host, options.port ?? DEFAULT_PORT);
    } catch (error) {
      if (options.port !== undefined || (error as { code?: string }).code !== 'EADDRINUSE') {
        throw listenError(options, error);
      }
      try {
        dashboard.port = await bind(server, options.host, 0);
      } catch (again) {
        throw listenError(options, again);
      }
    }
    if (!options.keepAlive) server.unref();
    return dashboard;
  }

  /** The page's address, with the token when there is one (a non-loopback host is shown by this machine's name). */
  get url(): string {
    const { host, token } = this.options;
    const shown = host === '0.0.0.0' || host === '::' ? hostname() : host;
    const authority = shown.includes(':') ? `[${shown}]` : shown;
    const path = this.options.metricsOnly ? '/metrics' : '/';
    return `http://${authority}:${this.port}${path}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  }

  /** Stop listening and end every connection; resolves once the port is free. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      clearInterval(this.pushTimer);
      this.pushTimer = undefined;
      for (const client of this.clients) client.end();
      this.clients.clear();
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
    return this.closing;
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://dashboard.invalid');
    const refusal = this.refusal(request, url);
    if (refusal) {
      const [status, message, headers] = refusal;
      send(response, status, 'text/plain; charset=utf-8', `${message}\n`, headers);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(response, 405, 'text/plain; charset=utf-8', 'Only GET is served\n', { Allow: 'GET, HEAD' });
      return;
    }
    const path = url.pathname;
    if (path === '/metrics') {
      void this.source.metrics().then(
        (text) => send(response, 200, METRICS_CONTENT_TYPE, text),
        (error: unknown) => send(response, 500, 'text/plain; charset=utf-8', `${describe(error)}\n`),
      );
      return;
    }
    if (this.options.metricsOnly) {
      send(response, 404, 'text/plain; charset=utf-8', 'This server serves /metrics only\n');
      return;
    }
    if (path === '/' || path === '/index.html') {
      const nonce = randomBytes(16).toString('base64');
      send(response, 200, 'text/html; charset=utf-8', dashboardPage(nonce), {
        'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        'X-Frame-Options': 'DENY',
      });
      return;
    }
    if (path === '/api/state') {
      void this.source.snapshot().then(
        (snapshot) => send(response, 200, 'application/json; charset=utf-8', JSON.stringify(snapshot)),
        (error: unknown) => send(response, 500, 'text/plain; charset=utf-8', `${describe(error)}\n`),
      );
      return;
    }
    if (path === '/api/events') {
      this.subscribe(request, response);
      return;
    }
    send(response, 404, 'text/plain; charset=utf-8', 'Not found\n');
  }

  /** Why a request may not be answered: [status, message, headers], or undefined when it may. */
  private refusal(request: IncomingMessage, url: URL): [number, string, Record<string, string>] | undefined {
    const { token } = this.options;
    if (token) {
      const given = url.searchParams.get('token') ?? bearer(request.headers.authorization);
      if (given === undefined || given === null) {
        return [
          401,
          'This dashboard needs its token: add ?token=... to the URL, or send Authorization: Bearer ...',
          { 'WWW-Authenticate': 'Bearer realm="fanout"' },
        ];
      }
      if (!sameSecret(given, token)) return [403, 'Wrong token', {}];
      return undefined;
    }
    // No token: loopback only, and only by a loopback name (a DNS-rebinding page would send its own).
    const hostHeader = request.headers.host ?? '';
    const name = hostHeader.replace(/:\d+$/, '');
    if (!isLoopback(name)) return [403, `Unexpected Host ${JSON.stringify(hostHeader.slice(0, 100))}`, {}];
    return undefined;
  }

  private subscribe(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      Connection: 'keep-alive',
    });
    response.write('retry: 2000\n\n');
    this.clients.add(response);
    request.once('close', () => {
      this.clients.delete(response);
      if (this.clients.size === 0) {
        clearInterval(this.pushTimer);
        this.pushTimer = undefined;
      }
    });
    void this.push();
    if (!this.pushTimer) {
      this.pushTimer = setInterval(() => void this.push(), this.options.pushEveryMs ?? PUSH_EVERY_MS);
      if (!this.options.keepAlive) this.pushTimer.unref();
    }
  }

  /** One snapshot, sent to every page connected (skipped while the last one is still being taken). */
  private async push(): Promise<void> {
    if (this.pushing || this.clients.size === 0) return;
    this.pushing = true;
    try {
      const data = `event: state\ndata: ${JSON.stringify(await this.source.snapshot())}\n\n`;
      for (const client of this.clients) client.write(data);
    } catch {
      // The next tick tries again; a source reports its own problems inside the snapshot.
    } finally {
      this.pushing = false;
    }
  }
}

function bind(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function listenError(options: ServeOptions, error: unknown): DashboardError {
  const code = (error as { code?: string }).code;
  const where = `${options.host}:${options.port ?? DEFAULT_PORT}`;
  const why =
    code === 'EADDRINUSE'
      ? 'the port is taken (choose another, or 0 for any free port)'
      : code === 'EACCES'
        ? 'this user may not use that port (ports below 1024 need privileges)'
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
          ? 'this machine has no such address'
          : describe(error);
  return new DashboardError(`Cannot serve the dashboard on ${where}: ${why}`, { cause: error });
}

function send(
  response: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    ...headers,
  });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** Compare secrets in constant time (hashed first, so lengths do not show either). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
