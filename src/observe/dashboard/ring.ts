/** A ring buffer: the last `capacity` values pushed, oldest first; pushing past it drops the oldest. */
export class Ring<T> {
  private readonly values: (T | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.values = new Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(value: T): void {
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** The values, oldest first. */
  toArray(): T[] {
    const out: T[] = new Array(this.count);
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) out[i] = this.values[(start + i) % this.capacity] as T;
    return out;
  }
}
