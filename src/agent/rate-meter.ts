/**
 * Events per second over a sliding time window (default 5 s), for FPS gauges. Once the meter
 * has run for a whole window, the rate is the window's events over the window's length, so
 * rates of complementary events (frames detected and frames the motion gate skipped) add up to
 * the camera's rate. (Measured from the window's first event instead, a kind of event that
 * only began a second ago read as its burst rate: "skipped 11.9 fps" beside "detect 13.2" at a
 * camera rate of 14.9.) Before that (the meter's clock starts when it is created), from the
 * window's first event on.
 */
export class RateMeter {
  private readonly stamps: number[] = [];
  private head = 0;
  /** When the meter's clock started: its creation, or start(). */
  private firstAt: number;
  total = 0;

  constructor(private readonly windowMs = 5_000) {
    this.firstAt = Date.now();
  }

  /** Restarts the meter's clock at `now` (tests with their own clock). */
  start(now = Date.now()): void {
    this.firstAt = now;
  }

  mark(now = Date.now()): void {
    this.stamps.push(now);
    this.total++;
    this.trim(now);
  }

  rate(now = Date.now()): number {
    this.trim(now);
    const count = this.stamps.length - this.head;
    if (count === 0) return 0;
    if (now - this.firstAt >= this.windowMs) return (count * 1000) / this.windowMs;
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
