import { describe, expect, it } from 'vitest';
import { checkDrift, prepareReference } from './drift-detector.js';
import { categoricalShares, sharedHistogram } from './distribution.js';

describe('sharedHistogram', () => {
  it('bins both sides on the same edges over their joint range', () => {
    const reference = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const current = [5, 6, 7, 8, 9, 10, 11, 12, 13, 20];
    const h = sharedHistogram(reference, current, 4);
    expect(h).toEqual({
      kind: 'histogram',
      edges: [0, 5, 10, 15, 20],
      reference: [0.5, 0.5, 0, 0],
      current: [0, 0.5, 0.4, 0.1],
    });
  });

  it('puts the maximum in the last bin and sums each side to 1', () => {
    const h = sharedHistogram([1, 2, 2, 3], [3, 3, 3], 20);
    expect(h?.edges).toHaveLength(21);
    expect(h?.reference.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(h?.current).toEqual([...Array<number>(19).fill(0), 1]);
  });

  it('gives constant data one unit-wide bin and an empty side null', () => {
    expect(sharedHistogram([4, 4], [4], 10)).toEqual({
      kind: 'histogram',
      edges: [3.5, 4.5],
      reference: [1],
      current: [1],
    });
    expect(sharedHistogram([], [1, 2], 10)).toBeNull();
  });
});

describe('categoricalShares', () => {
  it('turns counts into shares per side, null when a side counts nothing', () => {
    expect(categoricalShares(['a', 'b'], [3, 1], [0, 2])).toEqual({
      kind: 'categories',
      categories: ['a', 'b'],
      reference: [0.75, 0.25],
      current: [0, 1],
    });
    expect(categoricalShares(['a'], [0], [2])).toBeNull();
  });
});

describe('drift reports carry distributions', () => {
  it('for tested numeric and categorical features', () => {
    const ref = Array.from({ length: 200 }, (_, i) => (i % 50) / 50);
    const cur = ref.map((v) => v + 0.5);
    const reference = prepareReference({
      id: 'r',
      numeric: { brightness: ref },
      categorical: { classMix: { scratch: 40, crack: 10 } },
    });
    const report = checkDrift(reference, {
      numeric: { brightness: cur },
      categorical: { classMix: { scratch: 10, crack: 40 } },
    });
    const brightness = report.features.find((f) => f.feature === 'brightness');
    expect(brightness?.drifted).toBe(true);
    const histogram = brightness?.distribution;
    if (histogram?.kind !== 'histogram') throw new Error('no histogram');
    expect(histogram.edges[0]).toBe(0);
    expect(histogram.edges.at(-1)).toBeCloseTo(1.48, 6);
    // Bins of 0.074: the first six end at 0.444, below every shifted value (≥ 0.5) and above
    // 23 of each 50 reference values.
    const lowerRef = histogram.reference.slice(0, 6).reduce((a, b) => a + b, 0);
    const lowerCur = histogram.current.slice(0, 6).reduce((a, b) => a + b, 0);
    expect(lowerRef).toBeCloseTo(0.46, 3);
    expect(lowerCur).toBe(0);
    expect(report.features.find((f) => f.feature === 'classMix')?.distribution).toEqual({
      kind: 'categories',
      categories: ['scratch', 'crack'],
      reference: [0.8, 0.2],
      current: [0.2, 0.8],
    });
  });
});
