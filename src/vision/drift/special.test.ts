import { describe, expect, it } from 'vitest';
import { loadDriftFixtures } from '../../../test/fixtures/drift/fixture-samples.js';
import { chiSquareSf, logGamma, regularizedGammaP, regularizedGammaQ } from './special.js';

const fixtures = loadDriftFixtures();

/** |actual − expected| within `rel` of |expected| (plus a floor for values at zero). */
function expectClose(actual: number, expected: number, rel: number, abs = 1e-300): void {
  const error = Math.abs(actual - expected);
  if (!(error <= rel * Math.abs(expected) + abs)) {
    expect.fail(`got ${actual}, SciPy ${expected} (relative error ${error / Math.abs(expected)})`);
  }
}

describe('logGamma', () => {
  it('matches scipy.special.gammaln', () => {
    for (const { x, lgamma } of fixtures.lgamma) expectClose(logGamma(x), lgamma, 1e-13, 1e-15);
  });

  it('is NaN outside x > 0', () => {
    expect(logGamma(0)).toBeNaN();
    expect(logGamma(-1.5)).toBeNaN();
  });
});

describe('regularized incomplete gamma', () => {
  it('matches scipy.special.gammainc and gammaincc to 1e-10 relative', () => {
    for (const { a, x, p, q } of fixtures.gamma) {
      expectClose(regularizedGammaP(a, x), p, 1e-10);
      expectClose(regularizedGammaQ(a, x), q, 1e-10);
    }
  });

  it('covers both expansions and keeps P + Q = 1', () => {
    for (const [a, x] of [
      [3, 1],
      [3, 10],
      [0.5, 0.2],
      [50, 70],
    ] as const) {
      expect(regularizedGammaP(a, x) + regularizedGammaQ(a, x)).toBeCloseTo(1, 14);
    }
    expect(regularizedGammaQ(2, 0)).toBe(1);
    expect(regularizedGammaP(2, 0)).toBe(0);
    expect(regularizedGammaQ(2, Infinity)).toBe(0);
    expect(regularizedGammaQ(-1, 2)).toBeNaN();
  });
});

describe('chiSquareSf', () => {
  it('matches scipy.stats.chi2.sf to 1e-10 relative', () => {
    for (const { dof, x, sf } of fixtures.chi2sf) expectClose(chiSquareSf(x, dof), sf, 1e-10);
  });

  it('gives the textbook 5% critical values', () => {
    expect(chiSquareSf(3.841458820694124, 1)).toBeCloseTo(0.05, 12);
    expect(chiSquareSf(7.814727903251178, 3)).toBeCloseTo(0.05, 12);
  });
});
