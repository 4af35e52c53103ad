/**
 * The delaying TCP proxy of the network bench (test/delay-proxy.ts): bytes pass intact and in
 * order both ways (many small writes, and one large enough to need backpressure), an end follows
 * the data sent before it, and close() leaves no connection. Its delay is not timed here (no
 * wall-clock assertions): the bench measures it, against a direct connection.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type DelayProxy, startDelayProxy } from './delay-proxy.js';

/** Read a socket to its end. */
async function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'end');
  return Buffer.concat(chunks);
}

describe('delaying TCP proxy', () => {
  let server: Server;
  let port: number;
  /** What the server does with each connection; set by each test. */
  let handle: (socket: Socket) => void = () => {};

  before(async () => {
    server = createServer({ allowHalfOpen: true }, (socket) => handle(socket)).listen(0, '127.0.0.1');
    await once(server, 'listening');
    ({ port } = server.address() as { port: number });
  });
  after(() => {
    server.close();
  });

  const through = async (delayMs: number, run: (proxy: DelayProxy) => Promise<void>) => {
    const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port }, delayMs });
    try {
      await run(proxy);
    } finally {
      await proxy.close();
    }
  };

  for (const delayMs of [0, 5]) {
    it(`${delayMs} ms: many small writes and a large one arrive intact and in order, both ways`, async () => {
      // The server sends back each byte it gets, plus one: order and content are checked both ways.
      handle = (socket) => {
        socket.on('data', (chunk: Buffer) => socket.write(chunk.map((b) => (b + 1) & 0xff)));
        socket.on('end', () => socket.end());
      };
      await through(delayMs, async (proxy) => {
        const client = createConnection({ host: proxy.host, port: proxy.port, allowHalfOpen: true });
        await once(client, 'connect');
        const received = readAll(client);
        const sent: Buffer[] = [];
        for (let i = 0; i < 500; i++) {
          const chunk = randomBytes(1 + (i % 97));
          sent.push(chunk);
          client.write(chunk);
        }
        const large = randomBytes(8 << 20);
        sent.push(large);
        client.write(large);
        client.end();
        const expected = Buffer.concat(sent).map((b) => (b + 1) & 0xff);
        assert.ok((await received).equals(expected), 'what came back is what was sent, plus one, in order');
      });
    });
  }

  it('an end follows the data before it: a reply sent just before closing arrives whole', async () => {
    const reply = randomBytes(64 << 10);
    handle = (socket) => {
      socket.end(reply);
    };
    await through(5, async (proxy) => {
      const client = createConnection({ host: proxy.host, port: proxy.port });
      assert.ok((await readAll(client)).equals(reply));
    });
  });

  it('close() drops every connection', async () => {
    handle = () => {};
    await through(5, async (proxy) => {
      const client = createConnection({ host: proxy.host, port: proxy.port });
      await once(client, 'connect');
      client.on('error', () => {});
      while (proxy.connections === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      const closed = once(client, 'close');
      await proxy.close();
      await closed;
      assert.equal(proxy.connections, 0);
    });
  });

  it('refuses a negative delay, naming it', async () => {
    await assert.rejects(startDelayProxy({ target: { host: '127.0.0.1', port }, delayMs: -1 }), {
      name: 'RangeError',
      message: /delayMs must be a number ≥ 0, got -1/,
    });
  });
});
