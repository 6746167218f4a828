import { describe, expect, it } from 'vitest';
import type { Detection } from '../shared/domain.js';
import { boxDisagreement, matchedPairs, shadowDisagrees } from './disagreement.js';

const det = (className: string, confidence: number, x: number, w = 10): Detection => ({
  classId: 0,
  className,
  confidence,
  box: { x1: x, y1: 0, x2: x + w, y2: 10 },
});

describe('boxDisagreement', () => {
  it('is 0 when both found nothing and 1 when only one of them found something', () => {
    expect(boxDisagreement([], [])).toBe(0);
    expect(boxDisagreement([det('crack', 0.9, 0)], [])).toBe(1);
    expect(boxDisagreement([], [det('crack', 0.9, 0)])).toBe(1);
  });

  it('is 0 for the same findings and counts a class change as two misses', () => {
    const serving = [det('crack', 0.9, 0), det('dent', 0.6, 50)];
    expect(boxDisagreement([det('dent', 0.5, 51), det('crack', 0.8, 1)], serving)).toBe(0);
    // IoU of [0,10] and [2,12] is 8/12 = 0.667 ≥ 0.5, but the class differs.
    expect(boxDisagreement([det('scratch', 0.8, 2)], [det('crack', 0.9, 0)])).toBe(1);
  });

  it('needs IoU ≥ 0.5: [0,10] vs [5,15] (1/3) misses, [0,10] vs [3,13] (7/13) matches', () => {
    expect(boxDisagreement([det('crack', 0.9, 5)], [det('crack', 0.9, 0)])).toBe(1);
    expect(boxDisagreement([det('crack', 0.9, 3)], [det('crack', 0.9, 0)])).toBe(0);
  });

  it('is 1 − F1: one of two shadow boxes matches one serving box → F1 2/3', () => {
    const shadow = [det('crack', 0.9, 0), det('crack', 0.4, 100)];
    expect(boxDisagreement(shadow, [det('crack', 0.7, 1)])).toBeCloseTo(1 / 3, 4);
    // 2 of 3 serving boxes matched by 2 shadow boxes: F1 = 4/5.
    const serving = [det('crack', 0.9, 0), det('crack', 0.9, 100), det('dent', 0.9, 200)];
    expect(boxDisagreement(shadow, serving)).toBeCloseTo(0.2, 4);
  });

  it('matches greedily by the shadow confidence, each serving box once', () => {
    // Both shadow boxes overlap the one serving box; only one may take it.
    const serving = [det('crack', 0.9, 0)];
    const shadow = [det('crack', 0.3, 0), det('crack', 0.8, 1)];
    expect(matchedPairs(shadow, serving)).toBe(1);
    // The confident shadow box takes its best overlap, leaving the other serving box for the next.
    const servingTwo = [det('crack', 0.9, 0), det('crack', 0.9, 4)];
    const shadowTwo = [det('crack', 0.2, 0), det('crack', 0.9, 3)];
    // 0.9 @3: IoU with @0 = 7/13, with @4 = 9/11 → takes @4; 0.2 @0 then takes @0.
    expect(matchedPairs(shadowTwo, servingTwo)).toBe(2);
  });
});

describe('shadowDisagrees', () => {
  it('is true when the decisions differ or the disagreement reaches 0.5', () => {
    expect(shadowDisagrees('PASS', 'FAIL', 0)).toBe(true);
    expect(shadowDisagrees('FAIL', 'FAIL', 0.5)).toBe(true);
    expect(shadowDisagrees('FAIL', 'FAIL', 0.4999)).toBe(false);
    expect(shadowDisagrees('PASS', 'PASS', 0)).toBe(false);
  });
});
