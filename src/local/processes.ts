/** The `processes` transport: one child process per worker (child_process.fork), V8 serialization on the wire. */

import { fileURLToPath } from 'node:url';
import { nodeChildProcess } from '../builtins.js';
import { isProtocolMessage } from '../worker/protocol.js';
import { refuseWorkersBeforeEntry, startingWorkerEnv } from '../worker/starting.js';
import { inheritedEnv, workerExecArgv } from './exec-argv.js';
import { guardChild } from './orphans.js';
import { entryUrl } from './preload.js';
import type { Transport, WorkerChannel, WorkerListener } from './transport.js';

/** How long after a child's exit its channel may stay open (held by a grandchild) before the exit counts anyway. */
const CLOSE_GRACE_MS = 1000;

export interface ProcessesOptions {
  readonly execArgv?: readonly string[] | undefined;
  /** Heap limit of each child, in MB (`--max-old-space-size`). */
  readonly maxOldSpaceMb?: number | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
}

export function processesTransport(options: ProcessesOptions = {}): Transport {
  const entry = fileURLToPath(entryUrl('process-entry'));
  // The caller's runtime flags (loaders, memory), never the ones that chose the caller's program.
  const execArgv = workerExecArgv(options.execArgv);
  if (options.maxOldSpaceMb !== undefined) execArgv.push(`--max-old-space-size=${options.maxOldSpaceMb}`);
  return {
    name: 'processes',
    supports: {
      crossesBoundary: true,
      killRunning: true,
      sharedMemory: false,
      transfer: false,
      inlineFunctions: true,
      syncPrimitives: true,
    },
    spawn(listener: WorkerListener): WorkerChannel {
      refuseWorkersBeforeEntry();
      // stdin is not inherited: a worker must never read the caller's input (`fanout run --input -`).
      const child = nodeChildProcess().fork(entry, [], {
        execArgv,
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: startingWorkerEnv(inheritedEnv(options.env ?? process.env)),
      });
      guardChild(child);
      let error: unknown;
      let exited = false;
      let gone = false;
      child.on('message', (message: unknown) => {
        if (isProtocolMessage(message)) listener.message(message as never);
      });
      child.on('error', (e) => {
        error = e;
      });
      // 'exit' can come before the last messages the child sent (a result, the error that
      // killed it) have been read; 'close' comes after them. The pool hears of the exit then, or
      // a moment later if something else holds the channel open.
      let grace: NodeJS.Timeout | undefined;
      const leave = (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(grace);
        if (gone) return;
        gone = true;
        listener.exit(code, signal, error);
      };
      child.on('exit', (code, signal) => {
        exited = true;
        grace = setTimeout(() => leave(code, signal), CLOSE_GRACE_MS);
      });
      child.on('close', (code, signal) => leave(code, signal));
      return {
        label: `process ${child.pid}`,
        send: (message) => {
          child.send(message);
        },
        kill: () => {
          if (!exited) child.kill('SIGKILL');
        },
        setBusy: (busy) => {
          const channel = child.channel as { ref?(): void; unref?(): void } | null | undefined;
          if (busy) {
            child.ref();
            channel?.ref?.();
          } else {
            child.unref();
            channel?.unref?.();
          }
        },
      };
    },
  };
}
