/** Events per second over a sliding time window (default 5 s), for FPS gauges. */
export class RateMeter {
  private readonly stamps: number[] = [];
  private head = 0;
  total = 0;

  constructor(private readonly windowMs = 5_000) {}

  mark(now = Date.now()): void {
    this.stamps.push(now);
    this.total++;
    this.trim(now);
  }

  rate(now = Date.now()): number {
    this.trim(now);
    const count = this.stamps.length - this.head;
    if (count === 0) return 0;
    const first = this.stamps[this.head] ?? now;
    const span = Math.max(now - first, 1);
    // With fewer than two events in the window there is no interval to measure.
    return count < 2 ? 0 : ((count - 1) * 1000) / span;
  }

  private trim(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.head < this.stamps.length && (this.stamps[this.head] ?? 0) < cutoff) this.head++;
    if (this.head > 1024 && this.head * 2 > this.stamps.length) {
      this.stamps.splice(0, this.head);
      this.head = 0;
    }
  }
}
