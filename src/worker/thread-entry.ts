/** Entry of a worker thread: wires the parent port into the shared runtime. */

import { parentPort } from 'node:worker_threads';
import { BRAND, isProtocolMessage } from './protocol.js';
import { createRuntime } from './runtime.js';

const port = parentPort;
if (!port) throw new Error('fanout: thread-entry must run in a worker thread');
const runtime = createRuntime(
  {
    send: (message, transfer) => port.postMessage(message, transfer),
    exit: () => process.exit(0),
  },
  { sharedThread: false, crossesBoundary: true, sharedMemory: true },
);

const die = (error: unknown) => {
  runtime.fatal(error);
  process.exit(1);
};
process.on('uncaughtException', die);
process.on('unhandledRejection', die);
// A task that calls process.exit() ends the thread at once: results held back still reach the
// pool (a thread's messages posted while it exits are delivered), so they are not run again.
process.on('exit', () => runtime.flushHeld());

port.on('message', (message: unknown) => {
  if (isProtocolMessage(message)) runtime.receive(message as never);
});
port.postMessage({ fanout: BRAND, t: 'ready' });
