/**
 * A local HTTP server that answers every request after a fixed delay: a stand-in for a slow
 * web site, so the io demo measures waiting and nothing else. It listens on 127.0.0.1 on a
 * port the system picks, and counts how many requests it is serving at once.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlowServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The most requests that were waiting at the same time since the last `resetPeak()`. */
  readonly peak: number;
  resetPeak(): void;
  close(): Promise<void>;
}

export async function startSlowServer(delayMs: number): Promise<SlowServer> {
  let inFlight = 0;
  let peak = 0;
  const server: Server = createServer((request, response) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    const timer = setTimeout(() => response.end(`answer to ${request.url}`), delayMs);
    // Answered, or the client went away: either way it no longer waits.
    response.once('close', () => {
      clearTimeout(timer);
      inFlight--;
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get peak() {
      return peak;
    },
    resetPeak() {
      peak = inFlight;
    },
    close() {
      const closed = new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
      // Clients keep connections alive for reuse: close those too, or close() waits for them.
      server.closeAllConnections();
      return closed;
    },
  };
}
