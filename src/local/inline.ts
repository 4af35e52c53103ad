/**
 * The `inline` transport: workers that are runtimes on the main thread. Nothing is copied and
 * nothing runs in parallel, but async tasks overlap: with `concurrency: 10`, ten I/O-bound tasks
 * wait at once (Python's asyncio case) without any thread. A running task cannot be killed; a
 * timeout or abort rejects the caller at once and the task's signal aborts.
 *
 * Like a thread, an inline worker starts by loading the worker runtime (a dynamic import: a
 * program that never runs inline does not load the worker's code on its main thread), and says
 * `ready` once it has; what the pool sends before that waits, in order.
 */

import type { ToWorker } from '../worker/protocol.js';
import type { Runtime } from '../worker/runtime.js';
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
      const leave = (code: number | null, signal: string | null, error?: unknown) => {
        if (gone) return;
        gone = true;
        queueMicrotask(() => listener.exit(code, signal, error));
      };
      let runtime: Runtime | undefined;
      const early: ToWorker[] = [];
      import('../worker/runtime.js').then(
        ({ createRuntime }) => {
          if (gone) return;
          runtime = createRuntime(
            {
              // Delivered on a later microtask, as a message would be, so the pool never re-enters itself.
              send: (message) => {
                if (!gone) queueMicrotask(() => !gone && listener.message(message));
              },
              exit: () => leave(0, null),
            },
            { sharedThread: true, crossesBoundary: false, sharedMemory: true },
          );
          listener.message({ fanout: 'fanout/1', t: 'ready' });
          for (const message of early.splice(0)) if (!gone) runtime.receive(message);
        },
        (error: unknown) => leave(1, null, error),
      );
      count++;
      return {
        label: `inline ${count}`,
        send: (message) => {
          if (gone) return;
          if (runtime) {
            const started = runtime;
            queueMicrotask(() => started.receive(message));
          } else early.push(message);
        },
        kill: () => leave(null, 'SIGKILL'),
        setBusy: () => {},
      };
    },
  };
}
