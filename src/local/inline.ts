/**
 * The `inline` transport: workers that are runtimes on the main thread. Nothing is copied and
 * nothing runs in parallel, but async tasks overlap: with `concurrency: 10`, ten I/O-bound tasks
 * wait at once (Python's asyncio case) without any thread. A running task cannot be killed; a
 * timeout or abort rejects the caller at once and the task's signal aborts.
 */

import { createRuntime, type Runtime } from '../worker/runtime.js';
import type { Transport, WorkerChannel, WorkerListener } from './transport.js';

export function inlineTransport(): Transport {
  let count = 0;
  return {
    name: 'inline',
    supports: {
      crossesBoundary: false,
      killRunning: false,
      sharedMemory: true,
      transfer: false,
      inlineFunctions: true,
      syncPrimitives: true,
    },
    spawn(listener: WorkerListener): WorkerChannel {
      let gone = false;
      const leave = (code: number | null, signal: string | null) => {
        if (gone) return;
        gone = true;
        queueMicrotask(() => listener.exit(code, signal, undefined));
      };
      const runtime: Runtime = createRuntime(
        {
          // Delivered on a later microtask, as a message would be, so the pool never re-enters itself.
          send: (message) => {
            if (!gone) queueMicrotask(() => !gone && listener.message(message));
          },
          exit: () => leave(0, null),
        },
        { sharedThread: true, crossesBoundary: false, sharedMemory: true },
      );
      queueMicrotask(() => listener.message({ fanout: 'fanout/1', t: 'ready' }));
      count++;
      return {
        label: `inline ${count}`,
        send: (message) => {
          if (!gone) queueMicrotask(() => runtime.receive(message));
        },
        kill: () => leave(null, 'SIGKILL'),
        setBusy: () => {},
      };
    },
  };
}
