import { describe, expect, it } from 'vitest';
import { DEFAULT_RANKING_SETTINGS } from '../../shared/api/sampling.js';
import type { Detection } from '../../shared/domain.js';
import { Rng } from '../../synth/rng.js';
import {
  candidateScores,
  candidateUncertainty,
  classBalanceFloor,
  difficultyWeights,
  kCenterGreedy,
  kMeansPlusPlus,
  mixScores,
  twoStageSelect,
  typicalSelect,
} from './selection.js';

function box(confidence: number, classScores?: number[], classId = 0): Detection {
  return {
    classId,
    className: `c${classId}`,
    confidence,
    box: { x1: 0, y1: 0, x2: 10, y2: 10 },
    ...(classScores === undefined ? {} : { classScores }),
  };
}

const line = (a: number, b: number) => Math.abs(a - b);

describe('candidate uncertainty (scores below the threshold)', () => {
  it('least confidence peaks at a coin flip and vanishes at sure answers', () => {
    expect(candidateScores(box(0.5)).leastConfidence).toBe(1);
    expect(candidateScores(box(0.2)).leastConfidence).toBeCloseTo(0.4, 10);
    expect(candidateScores(box(0.02)).leastConfidence).toBeCloseTo(0.04, 10);
    expect(candidateScores(box(1)).leastConfidence).toBe(0);
  });

  it('margin ranks a two-way confusion above a clear class; entropy a flat vector', () => {
    const confused = candidateScores(box(0.2, [0.2, 0.19, 0, 0]));
    const clear = candidateScores(box(0.2, [0.2, 0.01, 0.01, 0.01]));
    expect(confused.margin).toBeCloseTo(0.4 * (1 - 0.01 / 0.2), 10);
    expect(clear.margin).toBeCloseTo(0.4 * (1 - 0.19 / 0.2), 10);
    expect(confused.margin).toBeGreaterThan(clear.margin);
    const flat = candidateScores(box(0.2, [0.2, 0.2, 0.2, 0.2]));
    expect(flat.entropy).toBeCloseTo(0.4, 10);
    expect(clear.entropy).toBeLessThan(flat.entropy);
  });

  it('ranks frames: a half-seen defect above faint noise above nothing (noisy-or)', () => {
    const halfSeen = candidateUncertainty([box(0.2)]);
    const noise = candidateUncertainty([box(0.02), box(0.03), box(0.01)]);
    const nothing = candidateUncertainty([]);
    expect(halfSeen.leastConfidence).toBeCloseTo(0.4, 10);
    // 1 − (0.96 · 0.94 · 0.98)
    expect(noise.leastConfidence).toBeCloseTo(1 - 0.96 * 0.94 * 0.98, 10);
    expect(nothing).toEqual({ leastConfidence: 0, margin: 0, entropy: 0, candidates: 0 });
    const order = [nothing, halfSeen, noise]
      .map((u, i) => ({ i, u: u.leastConfidence }))
      .sort((a, b) => b.u - a.u)
      .map((x) => x.i);
    expect(order).toEqual([1, 2, 0]);
  });

  it('weighs hard classes more (difficulty calibration)', () => {
    const weight = difficultyWeights([0.9, 0.5]);
    expect(weight(1)).toBe(1);
    expect(weight(0)).toBeCloseTo(0.2, 10);
    expect(weight(7)).toBe(1);
    const easy = candidateUncertainty([box(0.5, undefined, 0)], weight);
    const hard = candidateUncertainty([box(0.5, undefined, 1)], weight);
    expect(easy.leastConfidence).toBeCloseTo(0.2, 10);
    expect(hard.leastConfidence).toBe(1);
  });
});

describe('k-center greedy', () => {
  it('picks the farthest point each time, starting from what is covered', () => {
    const points = [0, 1, 2, 10, 11, 20];
    expect(kCenterGreedy(points, 3, line, { covered: [0] })).toEqual([
      { index: 5, distance: 20 },
      { index: 3, distance: 10 },
      { index: 2, distance: 2 },
    ]);
  });

  it('without a cover starts at the lowest index, and honours per-camera caps', () => {
    const points = [0, 1, 2, 10, 11, 20];
    expect(kCenterGreedy(points, 2, line).map((p) => p.index)).toEqual([0, 5]);
    const cameras = ['a', 'a', 'a', 'b', 'b', 'b'];
    const picks = kCenterGreedy(points, 4, line, {
      covered: [0],
      group: (i) => cameras[i] as string,
      perGroupCap: 1,
    });
    // One per camera: the farthest of b (20), then the farthest of a (2); then nothing left.
    expect(picks.map((p) => p.index)).toEqual([5, 2]);
  });
});

describe('k-means++ and the two stages', () => {
  it('k-means++ never repeats a point and reaches every cluster', () => {
    const points = [0, 0.1, 0.2, 50, 50.1, 100, 100.2];
    const rng = new Rng(3);
    const picks = kMeansPlusPlus(points, 3, line, () => rng.next(), 0);
    expect(picks[0]).toBe(0);
    expect(new Set(picks).size).toBe(3);
    const clusters = new Set(picks.map((i) => Math.round((points[i] as number) / 50)));
    expect(clusters).toEqual(new Set([0, 1, 2]));
  });

  it('takes exact duplicates last, in index order, when nothing else is left', () => {
    expect(kMeansPlusPlus([5, 5, 5], 3, line, () => 0.5, 1)).toEqual([1, 0, 2]);
  });

  it('chooses diverse frames within the most uncertain pool', () => {
    // Uncertain frames 0–3 sit in two places (0, 0.1, 0.2 and 30); 4–5 are far but certain.
    const frames = [
      { uncertainty: 0.9, embedding: 0 },
      { uncertainty: 0.85, embedding: 0.1 },
      { uncertainty: 0.8, embedding: 0.2 },
      { uncertainty: 0.7, embedding: 30 },
      { uncertainty: 0.1, embedding: 100 },
      { uncertainty: 0.05, embedding: 200 },
    ];
    const rng = new Rng(1);
    const picks = twoStageSelect(frames, 2, line, () => rng.next(), 2);
    // Pool: the 4 most uncertain; first pick the most uncertain, then (by D², almost surely)
    // the far one of the pool — never a certain frame.
    expect(picks).toEqual([0, 3]);
    // Uncertainty alone would take 0 and 1 (near-duplicates).
  });

  it('lets diversity choose among all frames when the model sees nothing (all tied)', () => {
    // A total drift: every uncertainty is 0. Arrival order would take 0 and 1 (neighbours);
    // the tied frames all join the pool, and k-means++ reaches the far cluster.
    const frames = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 80].map((embedding) => ({
      uncertainty: 0,
      embedding,
    }));
    const rng = new Rng(2);
    expect(twoStageSelect(frames, 2, line, () => rng.next(), 2)).toEqual([0, 6]);
  });
});

describe('typicality (TypiClust)', () => {
  it('labels the dense middle of each of the largest clusters, never an outlier', () => {
    // A: 10 points around 0, B: 10 around 10, C: 4 around 20; outliers at 50 and -40.
    const a = [-0.4, -0.3, -0.2, -0.1, 0, 0, 0.1, 0.2, 0.3, 0.4];
    const points = [...a, ...a.map((x) => x + 10), 19.9, 20, 20.1, 20.2, 50, -40];
    for (const seed of [1, 2, 3]) {
      const rng = new Rng(seed);
      const picks = typicalSelect(points, 2, line, () => rng.next());
      const values = picks.map((i) => points[i] as number);
      // One from A and one from B, each within 0.1 of its cluster's centre.
      expect(values.map((v) => Math.round(v / 10)).sort()).toEqual([0, 1]);
      for (const v of values)
        expect(Math.abs(v - Math.round(v / 10) * 10)).toBeLessThanOrEqual(0.1);
    }
    // k-means++ (the two stages' second step) reaches an outlier with these points.
    const rng = new Rng(1);
    const spread = kMeansPlusPlus(points, 3, line, () => rng.next(), 0).map((i) => points[i]);
    expect(spread.some((v) => v === 50 || v === -40)).toBe(true);
  });

  it('orders the picks by cluster size and takes each cluster once', () => {
    const points = [0, 0.1, 0.2, 0.3, 0.4, 10, 10.1, 10.2, 20, 20.1];
    const rng = new Rng(5);
    const picks = typicalSelect(points, 3, line, () => rng.next());
    expect(picks.map((i) => Math.round((points[i] as number) / 10))).toEqual([0, 1, 2]);
    expect(picks[0]).toBe(2); // 0.2, the middle of 0…0.4
    expect(picks[1]).toBe(6); // 10.1
  });

  it('returns everything when the budget covers the pool, nothing for an empty one', () => {
    expect(typicalSelect([3, 1, 2], 5, line, () => 0.5)).toEqual([0, 1, 2]);
    expect(typicalSelect([], 2, line, () => 0.5)).toEqual([]);
  });
});

describe('mixing and class balance', () => {
  it('is the weighted mean and names the largest weighted contribution', () => {
    const weights = { uncertainty: 1, candidates: 2, diversity: 1, class_balance: 0, random: 0 };
    expect(mixScores({ uncertainty: 0.4, candidates: 0.3, diversity: 0.9 }, weights)).toEqual({
      score: (0.4 + 0.6 + 0.9) / 4,
      strategy: 'diversity',
      strategyScore: 0.9,
    });
    expect(mixScores({ uncertainty: 0.4, candidates: 0.3 }, weights).strategy).toBe('candidates');
    // All weights zero: score 0, the strategy with the largest raw score.
    const zero = { uncertainty: 0, candidates: 0, diversity: 0, class_balance: 0, random: 0 };
    expect(mixScores({ diversity: 0.2, random: 0.7 }, zero)).toEqual({
      score: 0,
      strategy: 'random',
      strategyScore: 0.7,
    });
    expect(DEFAULT_RANKING_SETTINGS.weights.random).toBe(0);
  });

  it('floors a rare class in the first k items', () => {
    const ranked = ['a1', 'a2', 'a3', 'a4', 'b1', 'a5', 'b2'];
    const classes = (item: string) => [item.startsWith('b') ? 'scratch' : 'dent'];
    // scratch is 2 of 100 reviewed labels: under a 0.25 floor, it gets ⌈0.25·4⌉ = 1 of 4 slots.
    expect(
      classBalanceFloor(ranked, 4, classes, { dent: 98, scratch: 2 }, ['dent', 'scratch'], 0.25),
    ).toEqual(['a1', 'a2', 'a3', 'b1', 'a4', 'a5', 'b2']);
    // Balanced labels: the order stays.
    expect(
      classBalanceFloor(ranked, 4, classes, { dent: 50, scratch: 50 }, ['dent', 'scratch'], 0.25),
    ).toEqual(ranked);
  });
});
