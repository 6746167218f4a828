import { describe, expect, it } from 'vitest';
import { isVisionLoopError } from '../shared/errors.js';
import {
  anchorCount,
  decodeOutput,
  detectLayout,
  resolveLayout,
  type Candidate,
} from './layouts.js';

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (isVisionLoopError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a VisionLoopError');
}

/** Seeded uniform 0..1 (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('anchorCount', () => {
  it('counts the cells of strides 8, 16 and 32', () => {
    expect(anchorCount(640, 640)).toBe(8400);
    expect(anchorCount(320, 320)).toBe(2100);
    expect(anchorCount(640, 480)).toBe(80 * 60 + 40 * 30 + 20 * 15);
    expect(anchorCount(320, 320, [4, 8, 16, 32])).toBe(6400 + 2100);
    expect(anchorCount(100, 100)).toBe(13 * 13 + 7 * 7 + 4 * 4);
  });
});

describe('detectLayout', () => {
  it('recognizes each layout of DESIGN.md §4 for 4 classes', () => {
    expect(detectLayout([1, 8, 8400], 4)).toBe('yolov8');
    expect(detectLayout([1, 8400, 8], 4)).toBe('yolov8-transposed');
    expect(detectLayout([1, 8400, 9], 4)).toBe('yolov5');
    expect(detectLayout([1, 300, 6], 4)).toBe('end2end');
    expect(detectLayout([1, 300, 6], 4, { end2end: true })).toBe('end2end');
  });

  it('recognizes the 80-class COCO shapes', () => {
    expect(detectLayout([1, 84, 8400], 80)).toBe('yolov8');
    expect(detectLayout([1, 25200, 85], 80)).toBe('yolov5');
    expect(detectLayout([1, 8400, 84], 80)).toBe('yolov8-transposed');
  });

  it('lets the end2end metadata settle [1, R, 6] with 2 classes (transposed) or 1 (YOLOv5)', () => {
    expect(detectLayout([1, 2100, 6], 2)).toBe('yolov8-transposed');
    expect(detectLayout([1, 2100, 6], 2, { end2end: false })).toBe('yolov8-transposed');
    expect(detectLayout([1, 300, 6], 2, { end2end: true })).toBe('end2end');
    expect(detectLayout([1, 2100, 6], 1)).toBe('yolov5');
    expect(detectLayout([1, 300, 6], 1, { end2end: true })).toBe('end2end');
  });

  it('unless the metadata says end-to-end, uses the input size: R ≠ anchor count means end-to-end', () => {
    const input = { inputWidth: 320, inputHeight: 320 };
    expect(detectLayout([1, 300, 6], 2, input)).toBe('end2end');
    expect(detectLayout([1, 300, 6], 2, { ...input, end2end: false })).toBe('end2end');
    expect(detectLayout([1, 2100, 6], 2, { ...input, end2end: false })).toBe('yolov8-transposed');
    expect(detectLayout([1, 300, 6], 1, input)).toBe('end2end');
    expect(detectLayout([1, 2100, 6], 1, input)).toBe('yolov5');
    // P2 (strides 4–32) and P6 (8–64) heads have more or fewer anchors; still anchors.
    expect(detectLayout([1, 6400 + 2100, 6], 2, input)).toBe('yolov8-transposed');
    expect(detectLayout([1, 2100 + 25, 6], 2, input)).toBe('yolov8-transposed');
  });

  it('trusts the dims over an end2end hint that does not fit them', () => {
    expect(detectLayout([1, 8, 2100], 4, { end2end: true })).toBe('yolov8');
  });

  it('infers YOLOv8 and its class count when the metadata has no names', () => {
    expect(resolveLayout([1, 84, 8400], 0)).toEqual({
      layout: 'yolov8',
      numClasses: 80,
      rows: 8400,
    });
    expect(resolveLayout([1, 300, 6], 0, { end2end: true })).toEqual({
      layout: 'end2end',
      numClasses: 0,
      rows: 300,
    });
  });

  it('refuses [1, N, C] without names: YOLOv5 and transposed cannot be told apart', () => {
    const error = errorOf(() => detectLayout([1, 8400, 84], 0));
    expect(error.code).toBe('MODEL_LAYOUT_UNSUPPORTED');
    expect(error.message).toContain('[1, 8400, 84]');
    expect(error.message).toContain("'names'");
    expect(errorOf(() => detectLayout([1, 300, 6], 0)).code).toBe('MODEL_LAYOUT_UNSUPPORTED');
  });

  it('names the dims and the expected shapes when nothing matches', () => {
    const error = errorOf(() => detectLayout([1, 85, 8400], 4));
    expect(error.code).toBe('MODEL_LAYOUT_UNSUPPORTED');
    expect(error.message).toContain('[1, 85, 8400]');
    expect(error.message).toContain('[1, 8, N]');
    expect(error.message).toContain('[1, N, 9]');
    expect(error.message).toContain('[1, K, 6]');
  });

  it('refuses outputs that are not 3-D with batch 1', () => {
    for (const dims of [[1, 2, 3, 4], [8, 8400], [2, 8, 8400], [1, 0, 8400], []]) {
      expect(errorOf(() => detectLayout(dims, 4)).code).toBe('MODEL_LAYOUT_UNSUPPORTED');
    }
    expect(errorOf(() => detectLayout([1, 8, 10], -1)).code).toBe('INVALID_ARGUMENT');
  });
});

describe('decodeOutput', () => {
  it('decodes [1, 4+nc, N]: best class, centre → corners, threshold inclusive', () => {
    // 3 anchors, 2 classes; channel-major.
    // prettier-ignore
    const data = Float32Array.from([
      10, 50, 30,     // cx
      20, 60, 40,     // cy
      4, 8, 2,        // w
      6, 10, 2,       // h
      0.25, 0.2, 0.5, // class 0
      0.125, 0.1, 0.5, // class 1
    ]);
    const out = decodeOutput(data, [1, 6, 3], 'yolov8', 2, 0.25);
    expect(out).toEqual<Candidate[]>([
      {
        classId: 0,
        score: 0.25,
        box: { x1: 8, y1: 17, x2: 12, y2: 23 },
        classScores: Float32Array.from([0.25, 0.125]),
      },
      // A tie goes to the lower class id (as argmax).
      {
        classId: 0,
        score: 0.5,
        box: { x1: 29, y1: 39, x2: 31, y2: 41 },
        classScores: Float32Array.from([0.5, 0.5]),
      },
    ]);
  });

  it('decodes [1, N, 4+nc] the same as its transpose', () => {
    const random = rng(7);
    const nc = 5;
    const n = 600;
    const channels = 4 + nc;
    const first = new Float32Array(channels * n);
    const transposed = new Float32Array(channels * n);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < channels; c++) {
        const v = c < 4 ? random() * 320 : random() ** 4;
        first[c * n + i] = v;
        transposed[i * channels + c] = v;
      }
    }
    const a = decodeOutput(first, [1, channels, n], 'yolov8', nc, 0.3);
    const b = decodeOutput(transposed, [1, n, channels], 'yolov8-transposed', nc, 0.3);
    expect(a.length).toBeGreaterThan(100);
    expect(b).toEqual(a);

    // Against a plain reference: every anchor whose best score ≥ 0.3, in anchor order.
    const reference: { classId: number; score: number }[] = [];
    for (let i = 0; i < n; i++) {
      const scores = Array.from({ length: nc }, (_, k) => transposed[i * channels + 4 + k]!);
      const best = Math.max(...scores);
      if (best >= 0.3) reference.push({ classId: scores.indexOf(best), score: best });
    }
    expect(a.map((c) => ({ classId: c.classId, score: c.score }))).toEqual(reference);
  });

  it('decodes [1, N, 5+nc]: objectness × class score, objectness below threshold skipped', () => {
    // prettier-ignore
    const data = Float32Array.from([
      100, 100, 20, 10, 0.5, 0.25, 1,    // score 0.5 × 1 = 0.5, class 1
      50, 50, 10, 10, 0.125, 1, 1,       // objectness 0.125 < 0.25: skipped
      60, 40, 8, 8, 0.75, 0.25, 0.125,   // 0.75 × 0.25 = 0.1875 < 0.25: dropped
      60, 40, 8, 4, 1, 0.375, 0.25,      // 0.375, class 0
    ]);
    const out = decodeOutput(data, [1, 4, 7], 'yolov5', 2, 0.25);
    expect(out).toEqual<Candidate[]>([
      {
        classId: 1,
        score: 0.5,
        box: { x1: 90, y1: 95, x2: 110, y2: 105 },
        classScores: Float32Array.from([0.125, 0.5]),
      },
      {
        classId: 0,
        score: 0.375,
        box: { x1: 56, y1: 38, x2: 64, y2: 42 },
        classScores: Float32Array.from([0.375, 0.25]),
      },
    ]);
  });

  it('decodes [1, K, 6] rows as corners, score and class; drops classes it cannot name', () => {
    // prettier-ignore
    const data = Float32Array.from([
      1, 2, 11, 22, 0.875, 2,
      5, 5, 6, 6, 0.125, 0,      // below threshold
      0, 0, 10, 10, 0.5, 3,      // class 3 of 3 classes: dropped
      0, 0, 10, 10, 0.5, 1.5,    // not a class id: dropped
      0, 0, 10, 10, 0.5, -1,     // negative: dropped
      3, 4, 5, 6, 0.5, 0.9999999, // float noise: class 1
      0, 0, 0, 0, 0, 0,          // empty slot
    ]);
    const out = decodeOutput(data, [1, 7, 6], 'end2end', 3, 0.25);
    expect(out).toEqual<Candidate[]>([
      { classId: 2, score: 0.875, box: { x1: 1, y1: 2, x2: 11, y2: 22 } },
      { classId: 1, score: 0.5, box: { x1: 3, y1: 4, x2: 5, y2: 6 } },
    ]);
    // With no names, any non-negative integer class is kept.
    expect(decodeOutput(data, [1, 7, 6], 'end2end', 0, 0.25).map((c) => c.classId)).toEqual([
      2, 3, 1,
    ]);
  });

  it('drops NaN scores and keeps no vector when asked not to', () => {
    const data = Float32Array.from([10, 10, 2, 2, Number.NaN, 10, 10, 2, 2, 0.75]);
    const out = decodeOutput(data, [1, 2, 5], 'yolov8-transposed', 1, 0.25, { classScores: false });
    expect(out).toEqual([{ classId: 0, score: 0.75, box: { x1: 9, y1: 9, x2: 11, y2: 11 } }]);
  });

  it('calibrates after the raw threshold test, for every layout', () => {
    const calibration = { temperature: 0.5, bias: 0 };
    // One anchor, 2 classes: class scores 0.6 and 0.3 → σ(2·logit(p)) = 0.6923 and 0.1552.
    const v8 = decodeOutput(
      Float32Array.from([10, 10, 2, 2, 0.6, 0.3]),
      [1, 6, 1],
      'yolov8',
      2,
      0.25,
      { calibration },
    );
    expect(v8).toHaveLength(1);
    expect(v8[0]!.score).toBeCloseTo(0.692308, 5);
    expect(Array.from(v8[0]!.classScores!)).toEqual([
      expect.closeTo(0.692308, 5),
      expect.closeTo(0.155172, 5),
    ]);
    // YOLOv5: objectness × class (0.8 × 0.75 = 0.6) is what gets calibrated.
    const v5 = decodeOutput(
      Float32Array.from([10, 10, 2, 2, 0.8, 0.75, 0.25]),
      [1, 1, 7],
      'yolov5',
      2,
      0.25,
      { calibration },
    );
    expect(v5[0]!.score).toBeCloseTo(0.692308, 5);
    const e2e = decodeOutput(
      Float32Array.from([0, 0, 4, 4, 0.6, 1]),
      [1, 1, 6],
      'end2end',
      2,
      0.65,
      {
        calibration,
      },
    );
    expect(e2e.map((c) => c.classId)).toEqual([1]);
    expect(e2e[0]!.score).toBeCloseTo(0.692308, 5);
    // A calibrated 0.69 is below a threshold of 0.7.
    expect(
      decodeOutput(Float32Array.from([10, 10, 2, 2, 0.6, 0.3]), [1, 6, 1], 'yolov8', 2, 0.7, {
        calibration,
      }),
    ).toEqual([]);
    // Identity calibration decodes exactly as without one.
    const plain = decodeOutput(
      Float32Array.from([10, 10, 2, 2, 0.6, 0.3]),
      [1, 6, 1],
      'yolov8',
      2,
      0.25,
    );
    expect(
      decodeOutput(Float32Array.from([10, 10, 2, 2, 0.6, 0.3]), [1, 6, 1], 'yolov8', 2, 0.25, {
        calibration: { temperature: 1, bias: 0 },
      }),
    ).toEqual(plain);
  });

  it('with a calibration, a threshold below 0.5 admits raw scores below it when the bias raises them', () => {
    // bias +1: raw 0.2 → σ(logit(0.2) + 1) = 0.4046 ≥ 0.4.
    const out = decodeOutput(Float32Array.from([10, 10, 2, 2, 0.2]), [1, 5, 1], 'yolov8', 1, 0.4, {
      calibration: { temperature: 1, bias: 1 },
    });
    expect(out).toHaveLength(1);
    expect(out[0]!.score).toBeCloseTo(0.404609, 5);
  });

  it('takes the class count from the dims when the metadata has none', () => {
    const data = new Float32Array(7 * 2);
    data[6 * 2 + 1] = 0.5; // anchor 1, class 2
    expect(decodeOutput(data, [1, 7, 2], 'yolov8', 0, 0.25)).toMatchObject([
      { classId: 2, score: 0.5 },
    ]);
  });

  it('refuses data that does not fit the dims, the layout or the class count', () => {
    expect(
      errorOf(() => decodeOutput(new Float32Array(10), [1, 8, 2], 'yolov8', 4, 0.25)).code,
    ).toBe('MODEL_LAYOUT_UNSUPPORTED');
    const mismatch = errorOf(() =>
      decodeOutput(new Float32Array(16), [1, 8, 2], 'yolov8', 3, 0.25),
    );
    expect(mismatch.code).toBe('MODEL_LAYOUT_UNSUPPORTED');
    expect(mismatch.message).toContain('4 class scores');
    expect(
      errorOf(() => decodeOutput(new Float32Array(14), [1, 2, 7], 'end2end', 3, 0.25)).code,
    ).toBe('MODEL_LAYOUT_UNSUPPORTED');
    expect(
      errorOf(() => decodeOutput(new Float32Array(8), [1, 2, 4], 'yolov8-transposed', 0, 0.25))
        .code,
    ).toBe('MODEL_LAYOUT_UNSUPPORTED');
  });
});
