import { describe, expect, it } from 'vitest';
import type { Detection } from '../shared/domain.js';
import {
  decideFrame,
  DEFAULT_DECISION_POLICY,
  DEFAULT_UNCERTAIN_BAND,
  failingDetections,
  informativeness,
  isUncertain,
  type DecisionPolicy,
} from './decision.js';

function det(className: string, confidence: number, w = 10, h = 10): Detection {
  return { classId: 0, className, confidence, box: { x1: 100, y1: 100, x2: 100 + w, y2: 100 + h } };
}

describe('decideFrame', () => {
  it('defaults: any class, confidence ≥ 0.5, any size', () => {
    expect(DEFAULT_DECISION_POLICY).toEqual({
      failClasses: 'all',
      failThreshold: 0.5,
      minAreaPx: 0,
    });
    expect(decideFrame([], DEFAULT_DECISION_POLICY)).toBe('PASS');
    expect(decideFrame([det('stain', 0.49)], DEFAULT_DECISION_POLICY)).toBe('PASS');
    expect(decideFrame([det('stain', 0.5)], DEFAULT_DECISION_POLICY)).toBe('FAIL');
    expect(decideFrame([det('stain', 0.3), det('dent', 0.9)], DEFAULT_DECISION_POLICY)).toBe(
      'FAIL',
    );
  });

  it('fails only on the configured classes', () => {
    const policy: DecisionPolicy = {
      failClasses: ['crack', 'scratch'],
      failThreshold: 0.6,
      minAreaPx: 0,
    };
    expect(decideFrame([det('stain', 0.99)], policy)).toBe('PASS');
    expect(decideFrame([det('crack', 0.59)], policy)).toBe('PASS');
    expect(decideFrame([det('crack', 0.6)], policy)).toBe('FAIL');
    expect(decideFrame([det('stain', 0.99)], { ...policy, failClasses: [] })).toBe('PASS');
  });

  it('ignores defects smaller than the minimum area', () => {
    const policy: DecisionPolicy = { failClasses: 'all', failThreshold: 0.5, minAreaPx: 100 };
    expect(decideFrame([det('dent', 0.9, 9, 11)], policy)).toBe('PASS'); // 99 px²
    expect(decideFrame([det('dent', 0.9, 10, 10)], policy)).toBe('FAIL'); // 100 px²
  });

  it('lists the detections that fail the frame', () => {
    const detections = [det('stain', 0.3), det('dent', 0.9), det('crack', 0.7, 2, 2)];
    const policy: DecisionPolicy = { failClasses: 'all', failThreshold: 0.5, minAreaPx: 10 };
    expect(failingDetections(detections, policy)).toEqual([detections[1]]);
  });
});

describe('isUncertain', () => {
  it('flags confidences strictly inside 0.4 … 0.7 by default', () => {
    expect(DEFAULT_UNCERTAIN_BAND).toEqual({ low: 0.4, high: 0.7 });
    const flagged = (c: number): boolean => isUncertain([det('dent', c)], DEFAULT_UNCERTAIN_BAND);
    expect([0.39, 0.4, 0.41, 0.69, 0.7, 0.9].map(flagged)).toEqual([
      false,
      false,
      true,
      true,
      false,
      false,
    ]);
    expect(isUncertain([], DEFAULT_UNCERTAIN_BAND)).toBe(false);
    expect(isUncertain([det('dent', 0.9), det('dent', 0.5)], DEFAULT_UNCERTAIN_BAND)).toBe(true);
    expect(isUncertain([det('dent', 0.5)], { low: 0.6, high: 0.8 })).toBe(false);
  });
});

describe('informativeness', () => {
  it('margin is top-1 minus top-2', () => {
    expect(informativeness([0.1, 0.7, 0.4]).margin).toBeCloseTo(0.3, 12);
    expect(informativeness(Float32Array.from([0.5, 0.5])).margin).toBe(0);
  });

  it('entropy is normalized: 0 for one certain class, 1 for uniform scores', () => {
    expect(informativeness([0, 0.9, 0, 0])).toEqual({ margin: 0.9, entropy: 0 });
    expect(informativeness([0.2, 0.2, 0.2, 0.2]).entropy).toBeCloseTo(1, 12);
    // Scores 0.75, 0.25 → p = (0.75, 0.25): H = −(0.75 ln 0.75 + 0.25 ln 0.25) / ln 2 ≈ 0.811278.
    expect(informativeness([0.75, 0.25]).entropy).toBeCloseTo(0.8112781244591328, 12);
    // Normalization makes entropy scale-free: (0.3, 0.1) is the same distribution.
    expect(informativeness([0.3, 0.1]).entropy).toBeCloseTo(0.8112781244591328, 12);
  });

  it('has defined values for degenerate inputs', () => {
    expect(informativeness([])).toEqual({ margin: 0, entropy: 0 });
    expect(informativeness([0.8])).toEqual({ margin: 0.8, entropy: 0 });
    expect(informativeness([0, 0, 0])).toEqual({ margin: 0, entropy: 1 });
    expect(informativeness([Number.NaN, -1, 0.5])).toEqual({ margin: 0.5, entropy: 0 });
  });
});
