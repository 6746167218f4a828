/**
 * Paces file and synthetic sources at a fixed rate on an absolute schedule: frame k is due at
 * start + k / fps, so timer lateness does not accumulate into drift. When the consumer falls
 * more than one period behind, the schedule restarts from now instead of delivering a burst to
 * catch up (a camera does not replay the frames it missed). Never delivers a frame early.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

export class FramePacer {
  private readonly periodMs: number;
  private startedAt: number | null = null;
  private scheduled = 0;

  constructor(readonly fps: number) {
    if (!Number.isFinite(fps) || fps <= 0) throw new RangeError(`fps must be > 0, got ${fps}`);
    this.periodMs = 1000 / fps;
  }

  /**
   * Waits until the next frame is due. The first call returns at once. Resolves false when the
   * signal aborts first (the caller should stop), true otherwise.
   */
  async wait(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return false;
    const now = performance.now();
    if (this.startedAt === null) {
      this.startedAt = now;
      this.scheduled = 0;
      return true;
    }
    this.scheduled += 1;
    const due = this.startedAt + this.scheduled * this.periodMs;
    if (now - due > this.periodMs) {
      this.startedAt = now;
      this.scheduled = 0;
      return true;
    }
    // Timers may fire up to a millisecond early; loop until the due time has really passed.
    for (let remaining = due - now; remaining > 0; remaining = due - performance.now()) {
      try {
        await sleep(Math.ceil(remaining), undefined, signal ? { signal } : undefined);
      } catch {
        return false;
      }
    }
    return !signal?.aborted;
  }
}
