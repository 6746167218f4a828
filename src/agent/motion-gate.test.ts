import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../vision/image.js';
import { DEFAULT_MOTION_GATE, MotionGate } from './motion-gate.js';

/** A gray frame with seeded sensor noise and an optional bright square. */
function frame(
  seed: number,
  square?: { x: number; y: number; size: number },
  noise = 12,
): RgbImage {
  const width = 320;
  const height = 240;
  const data = new Uint8Array(width * height * 3);
  let state = seed >>> 0;
  for (let i = 0; i < width * height; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const n = ((state / 2 ** 32) * 2 - 1) * noise;
    const x = i % width;
    const y = Math.floor(i / width);
    const inSquare =
      square &&
      x >= square.x &&
      x < square.x + square.size &&
      y >= square.y &&
      y < square.y + square.size;
    const value = Math.max(0, Math.min(255, (inSquare ? 220 : 100) + n));
    data[i * 3] = value;
    data[i * 3 + 1] = value;
    data[i * 3 + 2] = value;
  }
  return { width, height, data };
}

describe('MotionGate', () => {
  it('lets the first frame through, then skips a still scene despite sensor noise', () => {
    const gate = new MotionGate();
    expect(gate.check(frame(1), 0)).toBe('first-frame');
    for (let i = 2; i < 12; i++) expect(gate.check(frame(i), i * 66)).toBe('still');
  });

  it('detects an object moving into the scene', () => {
    const gate = new MotionGate();
    gate.check(frame(1), 0);
    expect(gate.check(frame(2, { x: 100, y: 100, size: 24 }), 66)).toBe('motion');
    expect(gate.lastChangedFraction).toBeGreaterThan(DEFAULT_MOTION_GATE.minChangedFraction);
  });

  it('forces a keep-alive detection after the interval', () => {
    const gate = new MotionGate({ ...DEFAULT_MOTION_GATE, keepAliveMs: 1_000 });
    gate.check(frame(1), 0);
    expect(gate.check(frame(2), 500)).toBe('still');
    expect(gate.check(frame(3), 1_000)).toBe('keep-alive');
    expect(gate.check(frame(4), 1_500)).toBe('still');
  });

  it('passes every frame when disabled', () => {
    const gate = new MotionGate({ ...DEFAULT_MOTION_GATE, enabled: false });
    expect(gate.check(frame(1), 0)).toBe('gate-off');
    expect(gate.check(frame(1), 10)).toBe('gate-off');
  });
});
