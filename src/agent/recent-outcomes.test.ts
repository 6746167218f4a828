import { describe, expect, it } from 'vitest';
import { RecentOutcomes } from './recent-outcomes.js';

describe('RecentOutcomes', () => {
  it('rates the frames of the last window only, divided by the frames seen', () => {
    const recent = new RecentOutcomes(60_000);
    // 60 s of nominal light at 10 fps: 60% of the frames show a defect, 5% are uncertain.
    for (let i = 0; i < 600; i++) {
      recent.add({ decision: i % 10 < 6 ? 'FAIL' : 'PASS', uncertain: i % 20 === 0 }, i * 100);
    }
    expect(recent.stats(59_900)).toEqual({
      windowS: 60,
      frames: 600,
      coveredS: 59.9,
      defectRate: 0.6,
      uncertainRate: 0.05,
    });
    // Then 30 s of night: the model finds nothing. Half the window is night.
    for (let i = 600; i < 900; i++) recent.add({ decision: 'PASS', uncertain: false }, i * 100);
    const half = recent.stats(89_900);
    expect(half.frames).toBe(600);
    expect(half.defectRate).toBeCloseTo(0.3, 6);
    expect(half.coveredS).toBe(60);
    // A minute of night later, the collapse shows in full.
    for (let i = 900; i < 1500; i++) recent.add({ decision: 'PASS', uncertain: false }, i * 100);
    expect(recent.stats(149_900).defectRate).toBe(0);
  });

  it('says how much it covers just after start, and 0 without frames', () => {
    const recent = new RecentOutcomes(60_000);
    expect(recent.stats(0)).toEqual({
      windowS: 60,
      frames: 0,
      coveredS: 0,
      defectRate: 0,
      uncertainRate: 0,
    });
    recent.add({ decision: 'FAIL', uncertain: true }, 1_000);
    recent.add({ decision: 'PASS', uncertain: false }, 19_000);
    expect(recent.stats(21_000)).toMatchObject({ frames: 2, coveredS: 20, defectRate: 0.5 });
  });
});
