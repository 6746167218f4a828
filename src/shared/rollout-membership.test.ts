import { describe, expect, it } from 'vitest';
import { cameraHashUnit, rolloutCovers } from './rollout-membership.js';

describe('rolloutCovers', () => {
  it('covers exactly the listed cameras when the rollout names them', () => {
    const scope = { cameras: ['line-1', 'line-3'], share: null };
    expect(['line-1', 'line-2', 'line-3'].filter((c) => rolloutCovers(scope, c))).toEqual([
      'line-1',
      'line-3',
    ]);
  });

  it('picks a stable share of cameras by name hash', () => {
    const cameras = Array.from({ length: 1000 }, (_, i) => `cam-${i}`);
    const picked = cameras.filter((c) => rolloutCovers({ cameras: null, share: 0.25 }, c));
    expect(picked.length).toBeGreaterThan(200);
    expect(picked.length).toBeLessThan(300);
    // Same answer every time, and a larger share keeps every camera the smaller one had.
    expect(cameras.filter((c) => rolloutCovers({ cameras: null, share: 0.25 }, c))).toEqual(picked);
    const wider = new Set(cameras.filter((c) => rolloutCovers({ cameras: null, share: 0.5 }, c)));
    expect(picked.every((c) => wider.has(c))).toBe(true);
    expect(rolloutCovers({ cameras: null, share: 0 }, 'cam-1')).toBe(false);
    expect(rolloutCovers({ cameras: null, share: 1 }, 'cam-1')).toBe(true);
  });

  it('hashes into [0, 1)', () => {
    expect(cameraHashUnit('')).toBeCloseTo(0x811c9dc5 / 2 ** 32, 12);
    for (const name of ['a', 'line-1', 'ü-camera']) {
      const unit = cameraHashUnit(name);
      expect(unit).toBeGreaterThanOrEqual(0);
      expect(unit).toBeLessThan(1);
    }
  });
});
