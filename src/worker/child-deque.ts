/**
 * A worker's deque of child tasks it has not started (lazy task creation, as in Cilk): a child
 * submitted through `taskContext().pool` waits here instead of going to the pool, and this
 * worker runs it itself, newest first (depth-first, so the deque stays short), as a direct
 * call. Only while another worker is idle does the oldest child (in a recursion, the largest)
 * go to the pool for it: one child per idle worker, through the caller. Nothing crosses a
 * channel while every worker is busy.
 *
 * The deque is drained in slices of SLICE_MS, then from a macrotask, so the worker still hears
 * from the pool meanwhile (a process worker learns of idle workers only by message). From the
 * first child in an empty deque until the deque is empty again, the worker tells the pool it is
 * busy (`busy`): its batches may only await, but it is not idle. Said later (when the batch
 * that submitted the children reports that it only awaits), the pool would count this worker
 * idle for a moment, and another worker would give it a child it does not need.
 */

import { elapsed } from './clock.js';

/** What the deque needs of the worker that owns it. */
export interface DequeHost<T> {
  /** Whether some other worker is idle now (the pool's `hunger` count is above 0). */
  hungry(): boolean;
  /**
   * Give `child` to the pool for an idle worker, claiming one unit of hunger. False when it
   * cannot go (its arguments cannot be sent): then it runs here.
   */
  giveAway(child: T): boolean;
  /** Run `child` here, as a direct call. */
  runHere(child: T): void;
  /** Tell the pool whether this worker is busy with children of its own (see the module note). */
  busy(on: boolean): void;
}

/** How long the worker drains its deque before it lets messages in. */
const SLICE_MS = 1;
/** How many children run between looks at the clock. */
const CLOCK_EVERY = 16;

export class ChildDeque<T> {
  /** Oldest first: thieves take from the front, the worker runs from the back. */
  private readonly children: T[] = [];
  private scheduled = false;
  /** Said `busy` to the pool: from the first child in an empty deque until it is empty again. */
  private busy = false;

  constructor(private readonly host: DequeHost<T>) {}

  get length(): number {
    return this.children.length;
  }

  /**
   * Keep `child` for later. If a worker is idle meanwhile, the oldest child already here goes
   * to it first (the newest stays: this worker runs it next).
   */
  push(child: T): void {
    if (!this.busy) {
      // Before anything else this worker says (a `parked`, a child given away).
      this.busy = true;
      this.host.busy(true);
    }
    if (this.children.length > 0 && this.host.hungry()) this.giveOldest();
    this.children.push(child);
    if (!this.scheduled) {
      this.scheduled = true;
      // After the submitting task's synchronous part: it may submit more children first.
      queueMicrotask(this.drain);
    }
  }

  /** Take `child` out if it still waits here (its call was cancelled); false when it is gone. */
  remove(child: T): boolean {
    const at = this.children.lastIndexOf(child);
    if (at < 0) return false;
    this.children.splice(at, 1);
    return true;
  }

  private giveOldest(): void {
    const oldest = this.children.shift() as T;
    if (!this.host.giveAway(oldest)) this.host.runHere(oldest);
  }

  private readonly drain = (): void => {
    const until = elapsed() + SLICE_MS;
    const { children, host } = this;
    let ran = 0;
    while (children.length > 0) {
      // Keep one for this worker; with an idle worker, the oldest of the others goes to it.
      if (children.length > 1 && host.hungry()) {
        this.giveOldest();
        continue;
      }
      host.runHere(children.pop() as T);
      if (++ran % CLOCK_EVERY === 0 && children.length > 0 && elapsed() >= until) {
        setImmediate(this.drain);
        return;
      }
    }
    this.scheduled = false;
    this.busy = false;
    host.busy(false);
  };
}
