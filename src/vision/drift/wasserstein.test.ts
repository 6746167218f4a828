import { describe, expect, it } from 'vitest';
import { loadDriftFixtures, samplesOf } from '../../../test/fixtures/drift/fixture-samples.js';
import { sortedCopy } from './ks.js';
import {
  NORMAL_IQR,
  quantileSorted,
  referenceSpread,
  standardDeviation,
  wassersteinDistance,
} from './wasserstein.js';

const fixtures = loadDriftFixtures();

function expectRelative(actual: number, expected: number, tolerance: number): void {
  if (expected === 0) {
    expect(Math.abs(actual)).toBeLessThan(1e-15);
  } else {
    expect(Math.abs(actual - expected) / Math.abs(expected)).toBeLessThan(tolerance);
  }
}

describe('wassersteinDistance against scipy.stats.wasserstein_distance', () => {
  for (const c of fixtures.wasserstein) {
    it(c.name, () => {
      const a = samplesOf(c.a);
      const b = samplesOf(c.b);
      // Summation order differs from numpy's pairwise sum: 1e-12 relative.
      expectRelative(wassersteinDistance(a, b), c.distance, 1e-12);
      const sorted = sortedCopy(a);
      expectRelative(
        quantileSorted(sorted, 0.75) - quantileSorted(sorted, 0.25),
        c.referenceIqr,
        1e-12,
      );
      expectRelative(standardDeviation(a), c.referenceStd, 1e-12);
    });
  }

  it('is the shift between two copies of a sample shifted by a constant', () => {
    const a = [0.1, 0.4, 0.45, 0.9, 1.7];
    expect(
      wassersteinDistance(
        a,
        a.map((v) => v + 0.25),
      ),
    ).toBeCloseTo(0.25, 14);
  });
});

describe('referenceSpread', () => {
  it('is IQR / 1.349 for spread-out data', () => {
    const sorted = sortedCopy([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(referenceSpread(sorted)).toEqual({ value: 4 / NORMAL_IQR, kind: 'iqr' });
  });

  it('falls back to the standard deviation when the IQR is 0', () => {
    const sorted = sortedCopy([5, 5, 5, 5, 5, 5, 5, 9]);
    const spread = referenceSpread(sorted);
    expect(spread.kind).toBe('std');
    expect(spread.value).toBeCloseTo(Math.sqrt(7 * 0.5 ** 2 + 3.5 ** 2) / Math.sqrt(8), 12);
  });

  it('has none for a constant reference', () => {
    expect(referenceSpread(sortedCopy([2, 2, 2]))).toEqual({ value: 0, kind: 'none' });
  });
});
