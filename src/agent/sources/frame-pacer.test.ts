import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { FramePacer } from './frame-pacer.js';

describe('FramePacer', () => {
  it('never lets frames through faster than the rate', async () => {
    const pacer = new FramePacer(100);
    const started = performance.now();
    for (let i = 0; i < 6; i += 1) expect(await pacer.wait()).toBe(true);
    // Frame 5 is due 50 ms after the first; the first wait anchors no earlier than `started`.
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
  });

  it('restarts the schedule instead of bursting after the consumer falls behind', async () => {
    const pacer = new FramePacer(100);
    await pacer.wait();
    await new Promise((resolve) => setTimeout(resolve, 60));
    // Late: delivered at once, and the next one is a full period after it, not caught up.
    expect(await pacer.wait()).toBe(true);
    const relaunched = performance.now();
    await pacer.wait();
    expect(performance.now() - relaunched).toBeGreaterThanOrEqual(9);
  });

  it('returns false as soon as the signal aborts', async () => {
    const pacer = new FramePacer(0.5);
    const controller = new AbortController();
    await pacer.wait(controller.signal);
    const waiting = pacer.wait(controller.signal);
    controller.abort();
    expect(await waiting).toBe(false);
  });

  it('rejects a rate that is not positive', () => {
    expect(() => new FramePacer(0)).toThrow(RangeError);
  });
});
