/**
 * A worker set's re-check: one timer for the earliest time it is asked for. Asked for a later
 * time while armed, it keeps the earlier one; asked for an earlier one, it moves there. It does
 * not keep the process alive: whatever waits on the re-check is kept alive by a busy worker.
 */
export class RecheckTimer {
  private timer: NodeJS.Timeout | undefined;
  private due = 0;

  constructor(
    /** The set's clock (ms). */
    private readonly now: () => number,
    private readonly check: () => void,
  ) {}

  /** Re-check at `due` (the set's clock), at least 1 ms from now, unless armed sooner. */
  at(due: number): void {
    if (this.timer && this.due <= due) return;
    clearTimeout(this.timer);
    this.due = due;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.check();
      },
      Math.max(1, due - this.now()),
    );
    this.timer.unref();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
