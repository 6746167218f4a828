import { describe, expect, it } from 'vitest';
import type { Box } from '../shared/domain.js';
import type { Candidate } from './layouts.js';
import { boxArea, iou, nonMaxSuppression } from './nms.js';

function box(x1: number, y1: number, x2: number, y2: number): Box {
  return { x1, y1, x2, y2 };
}

function cand(score: number, b: Box, classId = 0): Candidate {
  return { classId, score, box: b };
}

describe('iou', () => {
  it('matches hand-worked values', () => {
    expect(iou(box(0, 0, 10, 10), box(0, 0, 10, 10))).toBe(1);
    // Overlap 5×10 = 50, union 100 + 100 − 50 = 150.
    expect(iou(box(0, 0, 10, 10), box(5, 0, 15, 10))).toBeCloseTo(1 / 3, 12);
    // Contained: 25 / 100.
    expect(iou(box(0, 0, 10, 10), box(0, 0, 5, 5))).toBe(0.25);
    // Corner overlap 2×3 = 6, union 16 + 16 − 6 = 26.
    expect(iou(box(0, 0, 4, 4), box(2, 1, 6, 5))).toBeCloseTo(6 / 26, 12);
  });

  it('is 0 for disjoint, touching, empty and inverted boxes', () => {
    expect(iou(box(0, 0, 10, 10), box(20, 20, 30, 30))).toBe(0);
    expect(iou(box(0, 0, 10, 10), box(10, 0, 20, 10))).toBe(0);
    expect(iou(box(5, 5, 5, 5), box(5, 5, 5, 5))).toBe(0);
    expect(iou(box(10, 10, 0, 0), box(0, 0, 10, 10))).toBe(0);
  });

  it('boxArea is 0 for inverted boxes', () => {
    expect(boxArea(box(0, 0, 4, 2.5))).toBe(10);
    expect(boxArea(box(4, 0, 0, 2))).toBe(0);
  });
});

describe('nonMaxSuppression', () => {
  const a = cand(0.9, box(0, 0, 10, 10));
  const b = cand(0.8, box(1, 0, 11, 10)); // IoU with a: 90 / 110 ≈ 0.82
  const c = cand(0.7, box(5, 0, 15, 10)); // IoU with a: 1/3
  const d = cand(0.85, box(1, 0, 11, 10), 1); // like b, another class

  it('suppresses same-class overlaps only, and returns the survivors by score', () => {
    const kept = nonMaxSuppression([c, b, a, d], { iouThreshold: 0.45, maxDetections: 100 });
    expect(kept).toEqual([a, d, c]);
    // The kept objects are the inputs themselves.
    expect(kept[0]).toBe(a);
  });

  it('suppresses across classes when class-agnostic', () => {
    expect(
      nonMaxSuppression([c, b, a, d], {
        iouThreshold: 0.45,
        maxDetections: 100,
        classAgnostic: true,
      }),
    ).toEqual([a, c]);
  });

  it('suppresses only above the threshold (strictly)', () => {
    const options = { maxDetections: 100 };
    expect(nonMaxSuppression([a, c], { ...options, iouThreshold: 1 / 3 })).toEqual([a, c]);
    expect(nonMaxSuppression([a, c], { ...options, iouThreshold: 0.33 })).toEqual([a]);
  });

  it('is greedy: a suppressed box suppresses nothing', () => {
    const first = cand(0.9, box(0, 0, 10, 10));
    const second = cand(0.8, box(4, 0, 14, 10)); // IoU with first 60/140 ≈ 0.43
    const third = cand(0.7, box(8, 0, 18, 10)); // IoU with first 20/180, with second 0.43
    expect(
      nonMaxSuppression([third, second, first], { iouThreshold: 0.3, maxDetections: 10 }),
    ).toEqual([first, third]);
  });

  it('breaks ties by input order: the earlier candidate wins', () => {
    const early = cand(0.5, box(0, 0, 10, 10));
    const late = cand(0.5, box(0, 0, 10, 10));
    const kept = nonMaxSuppression([early, late], { iouThreshold: 0.45, maxDetections: 10 });
    expect(kept).toHaveLength(1);
    expect(kept[0]).toBe(early);
    const apart = [0, 1, 2, 3].map((i) => cand(0.5, box(i * 20, 0, i * 20 + 10, 10)));
    const sorted = nonMaxSuppression(apart, { iouThreshold: 0.45, maxDetections: 10 });
    sorted.forEach((k, i) => expect(k).toBe(apart[i]));
  });

  it('keeps at most maxDetections, the highest-scored', () => {
    const many = [0.1, 0.9, 0.3, 0.7, 0.5].map((s, i) => cand(s, box(i * 20, 0, i * 20 + 10, 10)));
    expect(
      nonMaxSuppression(many, { iouThreshold: 0.45, maxDetections: 3 }).map((k) => k.score),
    ).toEqual([0.9, 0.7, 0.5]);
    expect(nonMaxSuppression(many, { iouThreshold: 0.45, maxDetections: 0 })).toEqual([]);
    expect(nonMaxSuppression([], { iouThreshold: 0.45, maxDetections: 10 })).toEqual([]);
  });

  it('ranks a NaN score last', () => {
    const nan = cand(Number.NaN, box(0, 0, 10, 10));
    const low = cand(0.1, box(0, 0, 10, 10));
    expect(nonMaxSuppression([nan, low], { iouThreshold: 0.45, maxDetections: 10 })).toEqual([low]);
  });

  it('agrees with a plain reference implementation on random boxes', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 4294967296;
    };
    const candidates: Candidate[] = Array.from({ length: 400 }, () => {
      const x = random() * 200;
      const y = random() * 200;
      return cand(
        Math.round(random() * 20) / 20, // many ties
        box(x, y, x + 5 + random() * 40, y + 5 + random() * 40),
        Math.floor(random() * 3),
      );
    });
    // Reference: stable sort by score, then keep a box unless a kept box of its class overlaps it.
    const order = candidates
      .map((c, i) => ({ c, i }))
      .sort((p, q) => q.c.score - p.c.score || p.i - q.i);
    const reference: Candidate[] = [];
    for (const { c } of order) {
      if (reference.every((k) => k.classId !== c.classId || iou(k.box, c.box) <= 0.45)) {
        reference.push(c);
      }
    }
    const kept = nonMaxSuppression(candidates, { iouThreshold: 0.45, maxDetections: 1000 });
    expect(kept.length).toBeGreaterThan(100);
    expect(kept.length).toBeLessThan(400);
    expect(kept).toEqual(reference);
    expect(nonMaxSuppression(candidates, { iouThreshold: 0.45, maxDetections: 50 })).toEqual(
      reference.slice(0, 50),
    );
  });
});
