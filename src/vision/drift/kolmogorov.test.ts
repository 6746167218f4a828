import { describe, expect, it } from 'vitest';
import { loadDriftFixtures } from '../../../test/fixtures/drift/fixture-samples.js';
import { kolmogorovSf, smirnovSf } from './kolmogorov.js';

const fixtures = loadDriftFixtures();

function relativeError(actual: number, expected: number): number {
  if (actual === expected) return 0;
  return Math.abs(actual - expected) / Math.abs(expected);
}

describe('kolmogorovSf (SciPy kstwo.sf)', () => {
  it('matches SciPy to 1e-10 relative in every regime (n = 1 … 150 000)', () => {
    expect(fixtures.kstwo.length).toBeGreaterThan(300);
    for (const { n, x, sf } of fixtures.kstwo) {
      const got = kolmogorovSf(n, x);
      if (!(relativeError(got, sf) <= 1e-10)) {
        expect.fail(`kstwo.sf(${x}, ${n}): got ${got}, SciPy ${sf}`);
      }
    }
  });

  it('agrees with a 60-digit evaluation of Durbin’s matrix where SciPy uses Pomeranz', () => {
    // mpmath, 60 digits, exact Durbin matrix power (see docs/drift.md).
    expect(relativeError(kolmogorovSf(100, 0.2), 5.551927328028097e-4)).toBeLessThan(1e-11);
    expect(relativeError(kolmogorovSf(140, 0.1690308509457033), 5.761521040051857e-4)).toBeLessThan(
      1e-11,
    );
  });

  it('has the closed forms at both ends of the support', () => {
    expect(kolmogorovSf(10, 0.04)).toBe(1); // x ≤ 1/(2n)
    expect(kolmogorovSf(10, 0.96)).toBeCloseTo(2 * 0.04 ** 10, 25);
    expect(kolmogorovSf(10, 1)).toBe(0);
    expect(kolmogorovSf(10, 0)).toBe(1);
    expect(kolmogorovSf(0, 0.5)).toBeNaN();
    expect(kolmogorovSf(2.5, 0.5)).toBeNaN();
  });

  it('is monotone in x', () => {
    for (const n of [7, 150, 3000]) {
      let previous = 1;
      for (let x = 0.001; x < 1; x += 0.001) {
        const sf = kolmogorovSf(n, x);
        expect(sf).toBeLessThanOrEqual(previous + 1e-12);
        previous = sf;
      }
    }
  });
});

describe('smirnovSf (SciPy special.smirnov)', () => {
  it('matches SciPy to 1e-11 relative', () => {
    for (const { n, x, sf } of fixtures.smirnov) {
      const got = smirnovSf(n, x);
      if (!(relativeError(got, sf) <= 1e-11)) {
        expect.fail(`smirnov(${n}, ${x}): got ${got}, SciPy ${sf}`);
      }
    }
  });

  it('is 1 − x for a single draw', () => {
    expect(smirnovSf(1, 0.3)).toBeCloseTo(0.7, 15);
  });
});
