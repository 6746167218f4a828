import { describe, expect, it } from 'vitest';
import { isVisionLoopError } from '../../shared/errors.js';
import { loadDriftFixtures, samplesOf } from '../../../test/fixtures/drift/fixture-samples.js';
import { KS_MAX_AUTO_EXACT_N, ksTwoSample, ksTwoSampleSorted, sortedCopy } from './ks.js';

const fixtures = loadDriftFixtures();

function relativeError(actual: number, expected: number): number {
  if (actual === expected) return 0;
  return Math.abs(actual - expected) / Math.abs(expected);
}

describe('ksTwoSample against scipy.stats.ks_2samp', () => {
  it('covers the cases the issue asks for', () => {
    const names = fixtures.ks.map((c) => c.name).join(' | ');
    for (const needed of [
      'ties',
      'separated',
      'identical',
      'heavy ties',
      'asymp',
      '5000-vs-8000',
    ]) {
      expect(names).toContain(needed);
    }
    expect(fixtures.ks.filter((c) => c.ties).length).toBeGreaterThanOrEqual(6);
  });

  for (const c of fixtures.ks) {
    it(`${c.name} (n=${c.n1}/${c.n2}, SciPy ${c.scipyMethod})`, () => {
      const result = ksTwoSample(samplesOf(c.a), samplesOf(c.b), { method: c.method });
      expect(result.method).toBe(c.scipyMethod);
      expect(result.n1).toBe(c.n1);
      expect(result.n2).toBe(c.n2);
      expect(relativeError(result.statistic, c.statistic)).toBeLessThanOrEqual(1e-15);
      // Exact p-values: SciPy computes them exactly, we agree to 1e-10 relative. Asymptotic
      // ones go through kstwo, checked to the same bound in kolmogorov.test.ts.
      const tolerance = 1e-10;
      if (!(relativeError(result.pValue, c.pvalue) <= tolerance)) {
        expect.fail(`p = ${result.pValue}, SciPy ${c.pvalue}`);
      }
    });
  }
});

describe('ksTwoSample behaviour', () => {
  it('is symmetric in its two samples', () => {
    const a = [0.1, 0.5, 0.9, 1.3, 2.2, 2.4];
    const b = [0.05, 0.2, 0.3, 0.35, 0.8, 1.0, 1.1];
    const ab = ksTwoSample(a, b);
    const ba = ksTwoSample(b, a);
    expect(ab.statistic).toBe(ba.statistic);
    expect(ab.pValue).toBe(ba.pValue);
    expect(ab.sign).toBe(-ba.sign);
  });

  it('reports where and in which direction the ECDFs differ most', () => {
    // b lies entirely above a: a's ECDF reaches 1 first, at a's largest value.
    const result = ksTwoSample([1, 2, 3], [10, 11, 12]);
    expect(result.statistic).toBe(1);
    expect(result.sign).toBe(1);
    expect(result.location).toBe(3);
    expect(result.pValue).toBeCloseTo(0.1, 14); // 2 / C(6, 3)
  });

  it('switches to the asymptotic p-value above 10 000 samples per side, as SciPy', () => {
    const a = Float64Array.from({ length: KS_MAX_AUTO_EXACT_N + 1 }, (_, i) => i);
    const b = Float64Array.from({ length: 50 }, (_, i) => i * 200 + 0.5);
    expect(ksTwoSample(a, b).method).toBe('asymp');
    expect(ksTwoSample(a.subarray(0, KS_MAX_AUTO_EXACT_N), b).method).toBe('exact');
  });

  it('skips an expensive exact walk only when the p-value is far below any α', () => {
    // 9 000 vs 9 001 fully separated samples: the exact walk would visit ~8e7 cells.
    const a = Float64Array.from({ length: 9000 }, (_, i) => i);
    const separated = ksTwoSample(
      a,
      Float64Array.from({ length: 9001 }, (_, i) => 1e6 + i),
    );
    expect(separated.method).toBe('asymp');
    expect(separated.statistic).toBe(1);
    expect(separated.pValue).toBeLessThan(1e-300);
    // Interleaved samples of the same range: D is tiny, p large, so the exact walk runs.
    const interleaved = ksTwoSample(
      a,
      Float64Array.from({ length: 9001 }, (_, i) => i * 0.9999 + 0.3),
    );
    expect(interleaved.method).toBe('exact');
    expect(interleaved.pValue).toBeGreaterThan(0.5);
    // Asking for 'exact' always gets the exact walk.
    const forced = ksTwoSample(
      a.subarray(0, 900),
      Float64Array.from({ length: 901 }, (_, i) => 1e6 + i),
      {
        method: 'exact',
      },
    );
    expect(forced.method).toBe('exact');
  });

  it('accepts presorted samples without copying', () => {
    const a = sortedCopy([3, 1, 2, 5, 4]);
    const b = sortedCopy([2.5, 6, 7, 8]);
    expect(ksTwoSampleSorted(a, b)).toEqual(ksTwoSample([3, 1, 2, 5, 4], [8, 7, 6, 2.5]));
  });

  it('rejects empty and non-finite samples with INVALID_ARGUMENT', () => {
    for (const [a, b] of [
      [[], [1]],
      [
        [1, Number.NaN],
        [1, 2],
      ],
      [[1, 2], [Infinity]],
    ] as const) {
      let caught: unknown;
      try {
        ksTwoSample(a, b);
      } catch (error) {
        caught = error;
      }
      expect(isVisionLoopError(caught) && caught.code).toBe('INVALID_ARGUMENT');
    }
  });
});
