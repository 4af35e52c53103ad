/**
 * A TCP proxy that delays every chunk by `delayMs` in each direction, in order: what a network
 * link of round trip 2 × `delayMs` does to a connection (bandwidth and loss aside). The redis
 * network bench puts it between the caller (and workers) and Redis.
 *
 * Each direction of each connection is a queue of chunks stamped with the time they may leave;
 * one timer at a time writes out the head of the queue when it is due, so order is kept even
 * when timers fire late. Nagle is off on both sides, as Redis clients set it. A destination that
 * cannot keep up pauses its source (backpressure), as TCP would.
 */

import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface DelayProxyOptions {
  /** Where connections go. */
  readonly target: { readonly host: string; readonly port: number };
  /** Delay of each chunk, each way (the round trip gains twice this). 0: passed on at once. */
  readonly delayMs: number;
  /** Address to listen on (default 127.0.0.1); the port is a free one. */
  readonly host?: string;
}

export interface DelayProxy {
  readonly host: string;
  readonly port: number;
  /** Connections open now (both sides count as one). */
  readonly connections: number;
  /** Stop listening and drop every connection (again: the same promise). */
  close(): Promise<void>;
}

/** Forward `from` → `to`, each chunk `delayMs` after it arrived; `from`'s end follows its data. */
function forward(from: Socket, to: Socket, delayMs: number): void {
  const queue: { readonly due: number; readonly chunk: Buffer | null }[] = [];
  let scheduled = false;
  let paused = false;
  const flush = () => {
    scheduled = false;
    const now = performance.now();
    for (let head = queue[0]; head && head.due <= now; head = queue[0]) {
      queue.shift();
      if (to.destroyed) return;
      if (head.chunk === null) {
        to.end();
        return;
      }
      if (!to.write(head.chunk) && !paused) {
        paused = true;
        from.pause();
        to.once('drain', () => {
          paused = false;
          from.resume();
        });
      }
    }
    if (queue[0]) {
      scheduled = true;
      setTimeout(flush, queue[0].due - now);
    }
  };
  const push = (chunk: Buffer | null) => {
    queue.push({ due: performance.now() + delayMs, chunk });
    if (delayMs === 0) flush();
    else if (!scheduled) {
      scheduled = true;
      setTimeout(flush, delayMs);
    }
  };
  from.on('data', (chunk: Buffer) => push(chunk));
  from.on('end', () => push(null));
}

/** Start a delaying proxy to `target`. */
export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const { target, delayMs } = options;
  if (!(Number.isFinite(delayMs) && delayMs >= 0)) {
    throw new RangeError(`delayMs must be a number ≥ 0, got ${delayMs}`);
  }
  const pairs = new Set<readonly [Socket, Socket]>();
  // Half-open sockets: an end is passed on after the data before it, not at once.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = createConnection({ ...target, allowHalfOpen: true });
    const pair = [client, upstream] as const;
    pairs.add(pair);
    let open = 2;
    for (const socket of pair) {
      socket.setNoDelay(true);
      socket.once('close', () => {
        if (--open === 0) pairs.delete(pair);
      });
      // One side failing ends the pair, as a reset would.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    forward(client, upstream, delayMs);
    forward(upstream, client, delayMs);
  });
  const host = options.host ?? '127.0.0.1';
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    get connections() {
      return pairs.size;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const pair of pairs) for (const socket of pair) socket.destroy();
      });
      return closing;
    },
  };
}
