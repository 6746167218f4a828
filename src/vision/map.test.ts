import { describe, expect, it } from 'vitest';
import type { Box } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import {
  IOU_THRESHOLDS,
  RECALL_THRESHOLDS,
  evaluateDetections,
  type GroundTruthImage,
  type ImageId,
  type PredictedObject,
} from './map.js';

const box = (x1: number, y1: number, x2: number, y2: number): Box => ({ x1, y1, x2, y2 });
const gt = (imageId: ImageId, objects: [number, Box][]): GroundTruthImage => ({
  imageId,
  objects: objects.map(([classId, b]) => ({ classId, box: b })),
});
const pred = (imageId: ImageId, classId: number, score: number, b: Box): PredictedObject => ({
  imageId,
  classId,
  score,
  box: b,
});
const ONE = ['scratch'];
const TWO = ['scratch', 'crack'];
/** A box far from every other box in these tests. */
const FAR = (k: number) => box(1000 + 50 * k, 1000, 1040 + 50 * k, 1040);

describe('COCO constants', () => {
  it('uses numpy.linspace floats for the IoU and recall thresholds', () => {
    // Printed by numpy 1.24: np.linspace(.5, .95, 10) and np.linspace(0, 1, 101).
    expect(IOU_THRESHOLDS).toEqual([
      0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95,
    ]);
    expect(RECALL_THRESHOLDS).toHaveLength(101);
    expect(RECALL_THRESHOLDS[35]).toBe(0.35000000000000003);
    expect(RECALL_THRESHOLDS[57]).toBe(0.5700000000000001);
    expect(RECALL_THRESHOLDS[94]).toBe(0.9400000000000001);
    expect(RECALL_THRESHOLDS[25]).toBe(0.25);
    expect(RECALL_THRESHOLDS[100]).toBe(1);
  });
});

describe('evaluateDetections', () => {
  it('gives AP 1 for perfect predictions (1 - 2.2e-16, as pycocotools: pr = tp / (tp + eps))', () => {
    const truth = [
      gt(1, [
        [0, box(10, 10, 50, 50)],
        [1, box(100, 100, 180, 140)],
      ]),
      gt(2, [[1, box(0, 0, 20, 30)]]),
    ];
    const preds = [
      pred(1, 0, 0.9, box(10, 10, 50, 50)),
      pred(1, 1, 0.8, box(100, 100, 180, 140)),
      pred(2, 1, 0.7, box(0, 0, 20, 30)),
    ];
    const report = evaluateDetections(truth, preds, { classNames: TWO });
    for (const value of [report.map50, report.map75, report.map50_95]) {
      expect(value).toBeCloseTo(1, 12);
    }
    expect(report.perClass.map((c) => [c.gtCount, c.predCount, c.precision, c.recall])).toEqual([
      [1, 1, 1, 1],
      [2, 2, 1, 1],
    ]);
    expect(report.precision).toBe(1);
    expect(report.recall).toBe(1);
    expect(report.confusion.matrix).toEqual([
      [1, 0, 0],
      [0, 2, 0],
      [0, 0, 0],
    ]);
    expect([report.images, report.gtCount, report.predCount]).toEqual([2, 3, 3]);
  });

  it('gives AP 0, precision 0 and recall 0 when there are no predictions', () => {
    const truth = [gt('a', [[0, box(0, 0, 10, 10)]])];
    const report = evaluateDetections(truth, [], { classNames: ONE });
    expect([report.map50, report.map50_95, report.precision, report.recall]).toEqual([0, 0, 0, 0]);
    expect(report.confusion.matrix).toEqual([
      [0, 1],
      [0, 0],
    ]);
  });

  it('leaves a class without ground truth out of the mean (AP -1)', () => {
    // scratch: one object found perfectly. crack: no ground truth, but two false alarms.
    const truth = [gt(1, [[0, box(0, 0, 10, 10)]])];
    const preds = [
      pred(1, 0, 0.9, box(0, 0, 10, 10)),
      pred(1, 1, 0.95, box(0, 0, 10, 10)),
      pred(1, 1, 0.6, FAR(0)),
    ];
    const report = evaluateDetections(truth, preds, { classNames: TWO });
    const crack = report.perClass[1];
    expect([crack?.ap50, crack?.ap50_95, crack?.recall, crack?.precision]).toEqual([-1, -1, -1, 0]);
    expect(report.map50).toBeCloseTo(1, 12);
    expect(report.map50_95).toBeCloseTo(1, 12);
    // Both crack predictions are false alarms. The one on the scratch is not a confusion: the
    // scratch was already found by the scratch prediction, and an object is counted once.
    expect(report.confusion.matrix).toEqual([
      [1, 0, 0],
      [0, 0, 0],
      [0, 2, 0],
    ]);
    // Micro precision over both classes: 1 true positive, 2 false.
    expect(report.precision).toBeCloseTo(1 / 3, 15);
  });

  it('gives -1 means when no class has ground truth', () => {
    const report = evaluateDetections([gt(1, [])], [pred(1, 0, 0.9, FAR(0))], { classNames: ONE });
    expect([report.map50, report.map50_95, report.recall, report.precision]).toEqual([
      -1, -1, -1, 0,
    ]);
  });

  it('matches a PR curve worked on paper', () => {
    // One class, four objects g1..g4, five detections in score order:
    //   0.9 on g1 (IoU 1)      TP at every threshold
    //   0.8 on nothing         FP
    //   0.7 on g2 (IoU 1)      TP
    //   0.6 on nothing         FP
    //   0.5 on g3 (IoU 0.625)  TP at IoU 0.50/0.55/0.60, FP from 0.65 on
    // g4 is never found.
    //
    // IoU 0.50..0.60:  tp 1 1 2 2 3, fp 0 1 1 2 2
    //   recall    .25  .25  .50  .50  .75
    //   precision 1    .5   .667 .5   .6   → envelope 1 .667 .667 .6 .6
    //   101-point: r = 0.00..0.25 → 1 (26 points), 0.26..0.50 → 2/3 (25), 0.51..0.75 → .6 (25),
    //   0.76..1 → 0 (25). AP = (26 + 25·2/3 + 25·0.6) / 101 = 173/303 = 0.570957…
    // IoU 0.65..0.95:  tp 1 1 2 2 2, fp 0 1 1 2 3
    //   recall .25 .25 .5 .5 .5, precision 1 .5 .667 .5 .4 → envelope 1 .667 .667 .5 .4
    //   AP = (26 + 25·2/3) / 101 = 128/303 = 0.422442…
    // AP@[.5:.95] = (3·173/303 + 7·128/303) / 10 = 1415/3030 = 0.466996…
    const g = [box(0, 0, 10, 10), box(20, 0, 30, 10), box(40, 0, 50, 10), box(60, 0, 70, 10)];
    const truth = [
      gt(
        1,
        g.map((b) => [0, b] as [number, Box]),
      ),
    ];
    const preds = [
      pred(1, 0, 0.6, FAR(1)),
      pred(1, 0, 0.9, g[0] ?? FAR(9)),
      pred(1, 0, 0.5, box(40, 0, 50, 6.25)),
      pred(1, 0, 0.8, FAR(0)),
      pred(1, 0, 0.7, g[1] ?? FAR(9)),
    ];
    const report = evaluateDetections(truth, preds, { classNames: ONE });
    expect(report.map50).toBeCloseTo(173 / 303, 12);
    expect(report.map75).toBeCloseTo(128 / 303, 12);
    expect(report.map50_95).toBeCloseTo(1415 / 3030, 12);
    // At the default serving threshold 0.5 every detection counts: 3 TP, 2 FP, 1 missed.
    expect(report.perClass[0]).toMatchObject({
      truePositives: 3,
      falsePositives: 2,
      falseNegatives: 1,
      precision: 0.6,
      recall: 0.75,
    });
    // At 0.65 only the first three: 2 TP, 1 FP.
    const strict = evaluateDetections(truth, preds, { classNames: ONE, servingThreshold: 0.65 });
    expect([strict.precision, strict.recall]).toEqual([2 / 3, 0.5]);
    // The AP does not depend on the serving threshold.
    expect(strict.map50).toBe(report.map50);
  });

  it('breaks score ties across images by image id, as COCOeval does', () => {
    // Equal scores: a false positive on image 1 and a true positive on image 2, two objects.
    // COCO sorts by score with a stable sort over images in id order → FP first:
    //   recall 0 .5, precision 0 .5 → envelope .5 .5 → r 0..0.5 → .5 (51 points): AP = 25.5/101.
    // The other order would give TP first: precision 1 .5 → AP = 51/101.
    const truth = [gt(2, [[0, box(0, 0, 10, 10)]]), gt(1, [[0, box(0, 0, 10, 10)]])];
    const tpOn2 = pred(2, 0, 0.5, box(0, 0, 10, 10));
    const fpOn1 = pred(1, 0, 0.5, FAR(0));
    const report = evaluateDetections(truth, [tpOn2, fpOn1], { classNames: ONE });
    expect(report.map50).toBeCloseTo(25.5 / 101, 12);
    // Renaming the images so the true positive's image sorts first flips the order.
    const renamed = evaluateDetections(
      [gt(0, [[0, box(0, 0, 10, 10)]]), gt(1, [[0, box(0, 0, 10, 10)]])],
      [{ ...tpOn2, imageId: 0 }, fpOn1],
      { classNames: ONE },
    );
    expect(renamed.map50).toBeCloseTo(51 / 101, 12);
  });

  it('breaks score ties inside an image by input order', () => {
    // One object (100×100); two detections with equal score: A (IoU 0.7) listed before B (0.9).
    // IoU 0.50..0.70 (5 thresholds): A takes the object, B is a duplicate → TP, FP → AP 1.
    // IoU 0.75..0.90 (4 thresholds, 0.9 ≥ 0.8999999999999999): A misses, B matches → FP, TP
    //   → precision 0 .5 → envelope .5 .5 → AP .5.  IoU 0.95: nothing matches → AP 0.
    // AP@[.5:.95] = (5·1 + 4·0.5 + 0) / 10 = 0.7.
    const truth = [gt(1, [[0, box(0, 0, 100, 100)]])];
    const a = pred(1, 0, 0.8, box(0, 0, 70, 100));
    const b = pred(1, 0, 0.8, box(0, 0, 90, 100));
    const report = evaluateDetections(truth, [a, b], { classNames: ONE });
    expect(report.map50).toBeCloseTo(1, 12);
    expect(report.map75).toBeCloseTo(0.5, 12);
    expect(report.map50_95).toBeCloseTo(0.7, 12);
    // Listed the other way round, B comes first and takes the object at every threshold ≤ 0.9.
    const swapped = evaluateDetections(truth, [b, a], { classNames: ONE });
    expect(swapped.map50_95).toBeCloseTo(0.9, 12);

    // Two identical objects and one detection on both: one is found, the other missed.
    const twin = evaluateDetections(
      [
        gt(1, [
          [0, box(0, 0, 10, 10)],
          [0, box(0, 0, 10, 10)],
        ]),
      ],
      [pred(1, 0, 0.9, box(0, 0, 10, 10))],
      { classNames: ONE },
    );
    expect(twin.perClass[0]).toMatchObject({ truePositives: 1, falseNegatives: 1, recall: 0.5 });
    expect(twin.map50).toBeCloseTo(51 / 101, 12);
  });

  it('counts a second detection of the same object as a false positive', () => {
    // Objects g1, g2; detections 0.9 on g1, 0.8 on g1 again, 0.7 on g2.
    //   tp 1 1 2, fp 0 1 1 → recall .5 .5 1, precision 1 .5 .667 → envelope 1 .667 .667
    //   r 0..0.5 → 1 (51 points), 0.51..1 → 2/3 (50 points): AP = (51 + 100/3) / 101 = 253/303.
    const truth = [
      gt(1, [
        [0, box(0, 0, 10, 10)],
        [0, box(20, 0, 30, 10)],
      ]),
    ];
    const preds = [
      pred(1, 0, 0.9, box(0, 0, 10, 10)),
      pred(1, 0, 0.8, box(0, 0, 10, 10)),
      pred(1, 0, 0.7, box(20, 0, 30, 10)),
    ];
    const report = evaluateDetections(truth, preds, { classNames: ONE });
    expect(report.map50).toBeCloseTo(253 / 303, 12);
    expect(report.perClass[0]).toMatchObject({ truePositives: 2, falsePositives: 1 });
    // The duplicate is a false alarm on background in the confusion summary.
    expect(report.confusion.matrix).toEqual([
      [2, 0],
      [1, 0],
    ]);
  });

  it('keeps the 100 highest-scored detections per image and class', () => {
    // 100 false alarms above the one true detection: it is cut, AP 0.
    const truth = [gt(1, [[0, box(0, 0, 10, 10)]])];
    const alarms = Array.from({ length: 100 }, (_, k) => pred(1, 0, 0.9, FAR(k)));
    const hit = pred(1, 0, 0.1, box(0, 0, 10, 10));
    expect(evaluateDetections(truth, [...alarms, hit], { classNames: ONE }).map50).toBe(0);
    // With 101 kept it is the 101st: precision 1/101 at full recall, the envelope is 1/101
    // everywhere, AP = 1/101.
    const wider = evaluateDetections(truth, [...alarms, hit], {
      classNames: ONE,
      maxDetections: 101,
    });
    expect(wider.map50).toBeCloseTo(1 / 101, 12);
    // The cut is per class: 100 alarms of class 0 do not push out a class-1 detection.
    const perClass = evaluateDetections(
      [gt(1, [[1, box(0, 0, 10, 10)]])],
      [...alarms, pred(1, 1, 0.1, box(0, 0, 10, 10))],
      { classNames: TWO },
    );
    expect(perClass.perClass[1]?.ap50).toBeCloseTo(1, 12);
  });

  it('scores small, medium and large objects with COCO area ranges and ignores the rest', () => {
    // Areas 20² = 400 (small), 50² = 2500 (medium), 100² = 10000 (large).
    const truth = [
      gt(1, [
        [0, box(0, 0, 20, 20)],
        [0, box(100, 0, 150, 50)],
        [0, box(200, 0, 300, 100)],
      ]),
    ];
    const preds = [
      pred(1, 0, 0.9, box(100, 0, 150, 50)),
      pred(1, 0, 0.8, box(200, 0, 300, 100)),
      // A large false alarm, scored highest: ignored when scoring small and medium objects.
      pred(1, 0, 0.95, box(500, 500, 600, 600)),
    ];
    const report = evaluateDetections(truth, preds, { classNames: ONE });
    expect(report.mapSmall).toBe(0);
    expect(report.mapMedium).toBeCloseTo(1, 12);
    // Large: FP then TP → precision 0 .5, one large object → AP .5.
    expect(report.mapLarge).toBeCloseTo(0.5, 12);
    // All: FP, TP, TP over 3 objects → recall 0 1/3 2/3, precision 0 .5 .667 → envelope .667
    // up to recall 2/3: r 0..0.66 → 2/3 (67 points): AP = 67·(2/3)/101.
    expect(report.map50).toBeCloseTo((67 * (2 / 3)) / 101, 12);
    // COCO files carry their own area (e.g. the mask's): it decides the range.
    const withArea = evaluateDetections(
      [{ imageId: 1, objects: [{ classId: 0, box: box(0, 0, 20, 20), area: 2000 }] }],
      [pred(1, 0, 0.9, box(0, 0, 20, 20))],
      { classNames: ONE },
    );
    expect([withArea.mapSmall, withArea.mapLarge]).toEqual([-1, -1]);
    expect(withArea.mapMedium).toBeCloseTo(1, 12);
  });

  it('uses a COCO [x, y, w, h] box exactly as given', () => {
    // Object [0.1, 0, 0.3, 1], detection [0.1, 0, 0.15, 1]: half the object in exact arithmetic.
    // In floats COCOeval's IoU (area w·h, right edge w + x) is 0.5000000000000001 → a match at
    // 0.5. Through corners (x2 = x + w, then w = x2 - x1) it would be 0.4999999999999999 → no
    // match. Carrying cocoBbox keeps COCOeval's answer.
    const object: [number, number, number, number] = [0.1, 0, 0.3, 1];
    const detection: [number, number, number, number] = [0.1, 0, 0.15, 1];
    const corners = ([x, y, w, h]: [number, number, number, number]) => box(x, y, x + w, y + h);
    const exact = evaluateDetections(
      [{ imageId: 1, objects: [{ classId: 0, box: corners(object), cocoBbox: object }] }],
      [{ imageId: 1, classId: 0, score: 0.9, box: corners(detection), cocoBbox: detection }],
      { classNames: ONE },
    );
    expect(exact.map50).toBeCloseTo(1, 12);
    expect(exact.map75).toBe(0);
    const viaCorners = evaluateDetections(
      [gt(1, [[0, corners(object)]])],
      [pred(1, 0, 0.9, corners(detection))],
      { classNames: ONE },
    );
    expect(viaCorners.map50).toBe(0);
  });

  it('summarizes confusions between classes at the serving threshold', () => {
    // scratch s1 at A, cracks c1 at B and c2 at C.
    //   crack 0.9 on A      → scratch seen as crack
    //   crack 0.8 on B      → crack found
    //   scratch 0.7 on D    → false alarm (background → scratch)
    //   crack 0.3 on C      → below the threshold: c2 is missed (crack → background)
    const A = box(0, 0, 10, 10);
    const B = box(20, 0, 30, 10);
    const C = box(40, 0, 50, 10);
    const truth = [
      gt(1, [
        [0, A],
        [1, B],
        [1, C],
      ]),
    ];
    const preds = [
      pred(1, 1, 0.9, A),
      pred(1, 1, 0.8, B),
      pred(1, 0, 0.7, FAR(0)),
      pred(1, 1, 0.3, C),
    ];
    const report = evaluateDetections(truth, preds, { classNames: TWO });
    expect(report.confusion.labels).toEqual(['scratch', 'crack', 'background']);
    expect(report.confusion.matrix).toEqual([
      [0, 1, 0],
      [0, 1, 1],
      [1, 0, 0],
    ]);
    expect(report.perClass.map((c) => [c.precision, c.recall])).toEqual([
      [0, 0],
      [0.5, 0.5],
    ]);
    expect([report.precision, report.recall]).toEqual([1 / 3, 1 / 3]);
  });

  it('rejects predictions it cannot place, naming them', () => {
    const truth = [gt(1, [[0, box(0, 0, 10, 10)]])];
    const run = (p: PredictedObject) => () => evaluateDetections(truth, [p], { classNames: ONE });
    expect(run(pred(7, 0, 0.5, FAR(0)))).toThrow(
      /prediction 0: image 7 is not in the ground truth/,
    );
    expect(run(pred(1, 3, 0.5, FAR(0)))).toThrow(/class id 3 is outside 0..0/);
    expect(run(pred(1, 0, Number.NaN, FAR(0)))).toThrow(/score must be a finite number/);
    expect(run(pred(1, 0, 0.5, box(10, 0, 0, 10)))).toThrow(/negative width or height/);
    expect(run(pred(1, 0, 0.5, FAR(0)))).not.toThrow();
    try {
      run(pred(7, 0, 0.5, FAR(0)))();
    } catch (error) {
      expect(error).toBeInstanceOf(VisionLoopError);
      expect((error as VisionLoopError).code).toBe('VALIDATION_FAILED');
    }
    expect(() => evaluateDetections([gt(1, []), gt(1, [])], [], { classNames: ONE })).toThrow(
      /image 1 appears twice/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Property test: a brute-force reference written from the COCO definition, not from map.ts.

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function overlap(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

/**
 * AP of one class at one IoU threshold, straight from the definition: rank all detections
 * (score, then image id, then rank in image), match each to the best free object of its image,
 * then average over r = 0, 0.01, …, 1 the best precision reached at recall ≥ r.
 */
function referenceAp(
  truth: GroundTruthImage[],
  preds: PredictedObject[],
  classId: number,
  threshold: number,
  maxDets: number,
): number {
  const objects = truth.flatMap((image) =>
    image.objects.filter((o) => o.classId === classId).map((o) => ({ image: image.imageId, o })),
  );
  if (objects.length === 0) return -1;
  const ranked = truth
    .map((image) => image.imageId as number)
    .sort((a, b) => a - b)
    .flatMap((imageId) =>
      preds
        .map((p, inputIndex) => ({ p, inputIndex }))
        .filter(({ p }) => p.imageId === imageId && p.classId === classId)
        .sort((a, b) => b.p.score - a.p.score || a.inputIndex - b.inputIndex)
        .slice(0, maxDets)
        .map(({ p }, rank) => ({ p, imageId, rank })),
    )
    .sort((a, b) => b.p.score - a.p.score || a.imageId - b.imageId || a.rank - b.rank);
  const taken = new Set<number>();
  const points: { recall: number; precision: number }[] = [];
  let tp = 0;
  ranked.forEach(({ p }, k) => {
    let bestIndex = -1;
    let bestIou = -1;
    objects.forEach(({ image, o }, index) => {
      if (image !== p.imageId || taken.has(index)) return;
      const value = overlap(p.box, o.box);
      if (value >= threshold && (value > bestIou || value === bestIou)) {
        bestIou = value;
        bestIndex = index;
      }
    });
    if (bestIndex >= 0) {
      taken.add(bestIndex);
      tp += 1;
    }
    points.push({ recall: tp / objects.length, precision: tp / (k + 1) });
  });
  let total = 0;
  for (let i = 0; i <= 100; i++) {
    const r = i === 100 ? 1 : i * 0.01;
    total += Math.max(0, ...points.filter((pt) => pt.recall >= r).map((pt) => pt.precision));
  }
  return total / 101;
}

describe('evaluateDetections against a brute-force reference', () => {
  it('agrees on 150 seeded random scenes with ties, duplicates and crowding', () => {
    for (let seed = 1; seed <= 150; seed++) {
      const rand = prng(seed);
      const pick = (n: number) => Math.floor(rand() * n);
      const classNames = ['a', 'b', 'c'].slice(0, 1 + pick(3));
      const unit = [1, 4, 0.5][pick(3)] ?? 1;
      const randomBox = (): Box => {
        const x = pick(10) * unit;
        const y = pick(10) * unit;
        return box(x, y, x + (1 + pick(12)) * unit, y + (1 + pick(12)) * unit);
      };
      const truth: GroundTruthImage[] = Array.from({ length: 1 + pick(5) }, (_, i) => ({
        imageId: 10 * (5 - i),
        objects: Array.from({ length: pick(6) }, () => ({
          classId: pick(classNames.length),
          box: randomBox(),
        })),
      }));
      const maxDets = [100, 3][pick(2)] ?? 100;
      const preds: PredictedObject[] = truth.flatMap((image) =>
        Array.from({ length: pick(9) }, () => {
          const near = image.objects[pick(image.objects.length + 1)];
          return pred(
            image.imageId,
            near && rand() < 0.8 ? near.classId : pick(classNames.length),
            [0.9, 0.7, 0.7, 0.4, 0.2][pick(5)] ?? 0.5,
            near && rand() < 0.7 ? near.box : randomBox(),
          );
        }),
      );
      const report = evaluateDetections(truth, preds, { classNames, maxDetections: maxDets });
      classNames.forEach((_, c) => {
        const aps = IOU_THRESHOLDS.map((t) => referenceAp(truth, preds, c, t, maxDets));
        const got = report.perClass[c];
        const context = `seed ${seed} class ${c}`;
        expect(got?.ap50, context).toBeCloseTo(aps[0] ?? Number.NaN, 12);
        expect(got?.ap75, context).toBeCloseTo(aps[5] ?? Number.NaN, 12);
        const mean = aps[0] === -1 ? -1 : aps.reduce((s, v) => s + v, 0) / aps.length;
        expect(got?.ap50_95, context).toBeCloseTo(mean, 12);
      });
    }
  });
});
