/**
 * No worker process outlives its pool's process.
 *
 * Three ways a parent can go, three guards:
 * - it exits (`process.exit`, end of the event loop): an `exit` hook kills every live child;
 * - it gets SIGINT/SIGTERM and nobody else listens for it: the children are killed, then the
 *   signal is raised again so the parent ends exactly as it would have (exit code 130/143);
 *   when the program has its own handler, shutting down is its call (and the hooks above and
 *   below still apply);
 * - it is killed outright (SIGKILL): nothing runs in the parent, so each child watches its
 *   parent itself (see worker/watch-parent.ts).
 * Hooks are installed while at least one child is alive, and removed after.
 */

import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  killAll();
  if (process.listenerCount(signal) === 1) {
    uninstall();
    process.kill(process.pid, signal);
  }
}

const handlers = new Map(SIGNALS.map((signal) => [signal, () => onSignal(signal)]));

function install(): void {
  process.on('exit', killAll);
  for (const [signal, handler] of handlers) process.on(signal, handler);
}

function uninstall(): void {
  process.removeListener('exit', killAll);
  for (const [signal, handler] of handlers) process.removeListener(signal, handler);
}

/** Track a worker process until it exits. */
export function guardChild(child: ChildProcess): void {
  if (live.size === 0) install();
  live.add(child);
  child.once('exit', () => {
    live.delete(child);
    if (live.size === 0) uninstall();
  });
}
