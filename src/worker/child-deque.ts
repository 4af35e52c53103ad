/**
 * A worker's deque of child tasks it has not started (lazy task creation, as in Cilk): a child
 * submitted through `taskContext().pool` waits here instead of going to the pool, and this
 * worker runs it itself, newest first (depth-first, so the deque stays short), as a direct
 * call. Only while another worker is idle does the oldest child (in a recursion, the largest)
 * go to the pool for it: one child per idle worker, through the caller. Nothing crosses a
 * channel while every worker is busy.
 *
 * The deque is drained in slices of SLICE_MS from a macrotask, so the worker still hears from
 * the pool meanwhile (a process worker learns of idle workers only by message). While it
 * drains with a thief waiting, or past one slice, the worker tells the pool it is busy
 * (`busy`): its batches may only await, but it is not idle, and must not be sent its own
 * children back.
 */

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
  /** Tell the pool whether this worker is busy with its own children (see the module note). */
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
  private reportedBusy = false;

  constructor(private readonly host: DequeHost<T>) {}

  get length(): number {
    return this.children.length;
  }

  /**
   * Keep `child` for later. If a worker is idle meanwhile, the oldest child already here goes
   * to it first (the newest stays: this worker runs it next).
   */
  push(child: T): void {
    if (this.children.length > 0 && this.host.hungry()) this.giveOldest();
    this.children.push(child);
    if (!this.scheduled) {
      this.scheduled = true;
      // After the submitting task's synchronous part: it may submit more children first.
      queueMicrotask(this.drain);
    }
  }

  private giveOldest(): void {
    if (!this.reportedBusy) {
      // Before the child: the pool must not hand it back to this worker as an idle one.
      this.reportedBusy = true;
      this.host.busy(true);
    }
    const oldest = this.children.shift() as T;
    if (!this.host.giveAway(oldest)) this.host.runHere(oldest);
  }

  private readonly drain = (): void => {
    const until = performance.now() + SLICE_MS;
    const { children, host } = this;
    let ran = 0;
    while (children.length > 0) {
      // Keep one for this worker; with an idle worker, the oldest of the others goes to it.
      if (children.length > 1 && host.hungry()) {
        this.giveOldest();
        continue;
      }
      host.runHere(children.pop() as T);
      if (++ran % CLOCK_EVERY === 0 && children.length > 0 && performance.now() >= until) {
        if (!this.reportedBusy) {
          this.reportedBusy = true;
          host.busy(true);
        }
        setImmediate(this.drain);
        return;
      }
    }
    this.scheduled = false;
    if (this.reportedBusy) {
      this.reportedBusy = false;
      host.busy(false);
    }
  };
}
