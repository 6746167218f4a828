import { describe, expect, it } from 'vitest';
import { LatencyWindow } from './latency-window.js';
import { RateMeter } from './rate-meter.js';

describe('RateMeter', () => {
  it('measures events per second over the window', () => {
    const meter = new RateMeter(5_000);
    for (let i = 0; i < 11; i++) meter.mark(10_000 + i * 100);
    expect(meter.rate(11_000)).toBeCloseTo(10, 5);
    expect(meter.total).toBe(11);
  });

  it('rates complementary events so that they add up once a window has passed', () => {
    // A camera at 15 fps; for 4 s every frame is detected, then the motion gate skips all.
    const camera = new RateMeter(5_000);
    const detected = new RateMeter(5_000);
    const skipped = new RateMeter(5_000);
    for (const meter of [camera, detected, skipped]) meter.start(0);
    for (let i = 0; i < 150; i++) {
      const at = Math.round((i * 1000) / 15);
      camera.mark(at);
      (at < 9_000 ? detected : skipped).mark(at);
    }
    const now = 10_000;
    expect(camera.rate(now)).toBeCloseTo(15, 0);
    // The skipped frames began 1 s ago: 15 of them over the 5-s window, not a 15-fps burst.
    expect(skipped.rate(now)).toBeCloseTo(3, 0);
    expect(detected.rate(now) + skipped.rate(now)).toBeCloseTo(camera.rate(now), 5);
  });

  it('forgets events older than the window', () => {
    const meter = new RateMeter(1_000);
    meter.mark(0);
    meter.mark(100);
    expect(meter.rate(5_000)).toBe(0);
    expect(meter.total).toBe(2);
  });
});

describe('LatencyWindow', () => {
  it('returns nearest-rank percentiles of the retained samples', () => {
    const window = new LatencyWindow(100);
    for (let i = 1; i <= 100; i++) window.add(i);
    expect(window.percentile(50)).toBe(50);
    expect(window.percentile(99)).toBe(99);
    expect(window.percentile(100)).toBe(100);
  });

  it('keeps only the last samples', () => {
    const window = new LatencyWindow(3);
    [100, 1, 2, 3].forEach((v) => window.add(v));
    expect(window.percentile(100)).toBe(3);
    expect(window.size).toBe(3);
    expect(new LatencyWindow().percentile(50)).toBeNaN();
  });
});
