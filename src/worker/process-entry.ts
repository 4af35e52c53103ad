/** Entry of a worker process: wires the IPC channel into the shared runtime. */

import { BRAND, type FromWorker, isProtocolMessage } from './protocol.js';
import { createRuntime } from './runtime.js';
import { workerEntryStarted } from './starting.js';
import { watchParent } from './watch-parent.js';

workerEntryStarted();

const send = process.send?.bind(process);
if (!send) throw new Error('fanout: process-entry must run in a process started by fork()');

/** Sends still being written to the channel; the process leaves only once they are flushed. */
let unsent = 0;
let leaving: number | undefined;
const post = (message: FromWorker) => {
  unsent++;
  send(message, undefined, undefined, () => {
    unsent--;
    if (unsent === 0 && leaving !== undefined) process.exit(leaving);
  });
};
const leave = (code: number) => {
  leaving = code;
  if (unsent === 0) process.exit(code);
};

const runtime = createRuntime(
  { send: post, exit: () => leave(0) },
  { sharedThread: false, crossesBoundary: true, sharedMemory: false },
);

const die = (error: unknown) => {
  runtime.fatal(error);
  leave(1);
};
process.on('uncaughtException', die);
process.on('unhandledRejection', die);
// The pool went away (it exited or was killed): nobody is left to work for.
process.on('disconnect', () => process.exit(0));
watchParent();

process.on('message', (message: unknown) => {
  if (isProtocolMessage(message)) runtime.receive(message as never);
});
post({ fanout: BRAND, t: 'ready' });
