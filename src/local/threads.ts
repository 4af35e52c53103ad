/** The `threads` transport: one worker_threads Worker per worker, structured clone on the wire. */

import { type ResourceLimits, Worker } from 'node:worker_threads';
import { isProtocolMessage } from '../worker/protocol.js';
import { refuseWorkersBeforeEntry } from '../worker/starting.js';
import { workerExecArgv } from './exec-argv.js';
import { entryUrl, threadBootstrap, threadLoadsSync, threadPreloads } from './preload.js';
import type { Transport, WorkerChannel, WorkerListener } from './transport.js';

export interface ThreadsOptions {
  readonly resourceLimits?: ResourceLimits | undefined;
  readonly execArgv?: readonly string[] | undefined;
}

export function threadsTransport(options: ThreadsOptions = {}): Transport {
  const entry = entryUrl('thread-entry').href;
  // Without extra flags a thread shares the caller's (Node copies the ones a thread can have).
  // With them, Node takes the list as given, so it gets the caller's runtime flags first, like
  // a worker process. A thread runs its bootstrap whatever the flags say, but `--input-type`
  // would still decide how that bootstrap is read: see threadBootstrap.
  const execArgv = options.execArgv ? workerExecArgv(options.execArgv) : undefined;
  const sync = threadLoadsSync(execArgv);
  return {
    name: 'threads',
    supports: {
      crossesBoundary: true,
      killRunning: true,
      sharedMemory: true,
      transfer: true,
      inlineFunctions: true,
      syncPrimitives: true,
    },
    spawn(listener: WorkerListener, modules: readonly string[] = []): WorkerChannel {
      refuseWorkersBeforeEntry();
      const worker = new Worker(threadBootstrap, {
        eval: true,
        workerData: { entry, preloads: threadPreloads(), modules, sync },
        resourceLimits: options.resourceLimits,
        ...(execArgv ? { execArgv } : {}),
      });
      let error: unknown;
      worker.on('message', (message: unknown) => {
        if (isProtocolMessage(message)) listener.message(message as never);
      });
      worker.on('error', (e) => {
        error = e;
      });
      worker.on('exit', (code) => listener.exit(code, null, error));
      return {
        label: `thread ${worker.threadId}`,
        syncTag: worker.threadId + 1,
        send: (message, transfer) => worker.postMessage(message, transfer),
        kill: () => {
          void worker.terminate();
        },
        setBusy: (busy) => (busy ? worker.ref() : worker.unref()),
      };
    },
  };
}
