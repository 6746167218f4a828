import { describe, expect, it } from 'vitest';
import { loadDriftFixtures } from '../../../test/fixtures/drift/fixture-samples.js';
import { adjustPValues } from './multiple-testing.js';

const fixtures = loadDriftFixtures();

describe('adjustPValues', () => {
  it('matches the Bonferroni and Benjamini–Hochberg values computed with numpy', () => {
    for (const c of fixtures.padjust) {
      const bonferroni = adjustPValues(c.p, 'bonferroni');
      const bh = adjustPValues(c.p, 'benjamini-hochberg');
      c.bonferroni.forEach((v, i) => expect(bonferroni[i]).toBeCloseTo(v, 15));
      c.benjaminiHochberg.forEach((v, i) => expect(bh[i]).toBeCloseTo(v, 15));
    }
  });

  it('gives the textbook BH example', () => {
    // p = 0.01, 0.02, 0.03, 0.04, 0.05 with m = 5: every adjusted value is 0.05.
    for (const value of adjustPValues([0.05, 0.01, 0.03, 0.02, 0.04], 'benjamini-hochberg')) {
      expect(value).toBeCloseTo(0.05, 15);
    }
  });

  it('leaves p alone for none, keeps NaN out of m', () => {
    expect(adjustPValues([0.2, 0.01], 'none')).toEqual([0.2, 0.01]);
    const adjusted = adjustPValues([0.01, Number.NaN, 0.02], 'bonferroni');
    expect(adjusted[0]).toBeCloseTo(0.02, 15);
    expect(adjusted[1]).toBeNaN();
    expect(adjusted[2]).toBeCloseTo(0.04, 15);
  });
});
