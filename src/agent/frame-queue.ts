/**
 * A bounded frame queue between capture and inference. When inference falls behind, the
 * oldest waiting frame is dropped (and counted), so the detector always works on the freshest
 * frame instead of an ever-growing backlog: a line camera wants "now", not "30 s ago".
 */
export class DropOldestQueue<T> {
  private readonly items: T[] = [];
  private waiter: ((item: T | null) => void) | null = null;
  private spaceWaiters: (() => void)[] = [];
  private closed = false;
  dropped = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`queue capacity must be an integer ≥ 1, got ${capacity}`);
    }
  }

  get size(): number {
    return this.items.length;
  }

  /** Adds an item; returns the item it dropped to make room, if any. */
  push(item: T): T | undefined {
    if (this.closed) throw new Error('push on a closed queue');
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = null;
      waiter(item);
      return undefined;
    }
    let droppedItem: T | undefined;
    if (this.items.length >= this.capacity) {
      droppedItem = this.items.shift();
      this.dropped++;
    }
    this.items.push(item);
    return droppedItem;
  }

  /** Resolves when a push would not drop anything (for sources that must not lose frames). */
  async waitForSpace(): Promise<void> {
    while (this.items.length >= this.capacity && !this.closed) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
  }

  /** The next item, waiting if empty; null once closed and drained. */
  async take(): Promise<T | null> {
    const item = this.items.shift();
    if (item !== undefined) {
      this.spaceWaiters.shift()?.();
      return item;
    }
    if (this.closed) return null;
    return new Promise<T | null>((resolve) => {
      this.waiter = resolve;
    });
  }

  /** No more pushes; a pending take() resolves null once the queue is drained. */
  close(): void {
    this.closed = true;
    for (const resolve of this.spaceWaiters.splice(0)) resolve();
    if (this.waiter && this.items.length === 0) {
      const waiter = this.waiter;
      this.waiter = null;
      waiter(null);
    }
  }
}
