import { describe, expect, it } from 'vitest';
import { isVisionLoopError } from '../../shared/errors.js';
import { loadDriftFixtures } from '../../../test/fixtures/drift/fixture-samples.js';
import { chiSquareHomogeneity } from './chi-square.js';

const fixtures = loadDriftFixtures();

describe('chiSquareHomogeneity against scipy.stats.chi2_contingency', () => {
  for (const c of fixtures.chi2Contingency) {
    it(c.name, () => {
      const result = chiSquareHomogeneity(c.reference, c.current, {
        yatesCorrection: c.correction,
      });
      expect(result.dof).toBe(c.dof);
      expect(result.keptCategories).toEqual(c.keptColumns);
      expect(result.statistic).toBeCloseTo(c.statistic, 10);
      if (c.statistic !== 0) {
        expect(Math.abs(result.statistic - c.statistic) / c.statistic).toBeLessThan(1e-12);
      }
      if (c.pvalue === 0) {
        expect(result.pValue).toBeLessThan(1e-300);
      } else {
        expect(Math.abs(result.pValue - c.pvalue) / c.pvalue).toBeLessThan(1e-10);
      }
    });
  }
});

describe('chiSquareHomogeneity behaviour', () => {
  it('drops classes absent from both samples and says so', () => {
    const result = chiSquareHomogeneity([50, 0, 20, 10], [12, 0, 8, 5]);
    expect(result.droppedCategories).toEqual([1]);
    expect(result.dof).toBe(2);
  });

  it('applies Yates only for two categories and only when asked', () => {
    expect(chiSquareHomogeneity([70, 30], [40, 35]).yatesApplied).toBe(true);
    expect(chiSquareHomogeneity([70, 30], [40, 35], { yatesCorrection: false }).yatesApplied).toBe(
      false,
    );
    expect(chiSquareHomogeneity([70, 30, 5], [40, 35, 5]).yatesApplied).toBe(false);
  });

  it('reports the smallest expected count', () => {
    expect(chiSquareHomogeneity([10, 10], [10, 0]).minExpected).toBeCloseTo((10 * 10) / 30, 12);
  });

  it('rejects bad counts with INVALID_ARGUMENT', () => {
    for (const [a, b] of [
      [[1, 2], [1]],
      [
        [1, -2],
        [1, 2],
      ],
      [
        [1, Number.NaN],
        [1, 2],
      ],
      [
        [0, 0],
        [1, 2],
      ],
    ] as const) {
      let caught: unknown;
      try {
        chiSquareHomogeneity(a, b);
      } catch (error) {
        caught = error;
      }
      expect(isVisionLoopError(caught) && caught.code).toBe('INVALID_ARGUMENT');
    }
  });
});
