import { describe, expect, it } from 'vitest';
import {
  calibrateScore,
  calibrationMetadata,
  calibrationSamples,
  expectedCalibrationError,
  fitScoreCalibration,
  isIdentityCalibration,
  rawThreshold,
  type CalibrationSample,
} from './calibration.js';

const SEED = { temperature: 0.660372, bias: 0.900471 };

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

const logit = (p: number) => Math.log(p / (1 - p));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe('calibrateScore', () => {
  it('maps p to σ(logit(p)/T + b)', () => {
    expect(calibrateScore(0.5, SEED)).toBeCloseTo(sigmoid(0.900471), 12);
    expect(calibrateScore(0.45, SEED)).toBeCloseTo(sigmoid(logit(0.45) / 0.660372 + 0.900471), 12);
    // A raw 0.55 (the band centre; right ~90% of the time on nominal frames) leaves the band.
    expect(calibrateScore(0.55, SEED)).toBeCloseTo(0.7693, 3);
  });

  it('is the identity for T = 1, b = 0 and keeps 0, 1 and NaN finite or NaN', () => {
    const identity = { temperature: 1, bias: 0 };
    for (const p of [0.01, 0.25, 0.5, 0.7, 0.99])
      expect(calibrateScore(p, identity)).toBeCloseTo(p, 12);
    expect(isIdentityCalibration(identity)).toBe(true);
    expect(isIdentityCalibration(null)).toBe(true);
    expect(isIdentityCalibration(SEED)).toBe(false);
    expect(calibrateScore(0, SEED)).toBeGreaterThan(0);
    expect(calibrateScore(1, SEED)).toBeLessThanOrEqual(1);
    expect(calibrateScore(Number.NaN, SEED)).toBeNaN();
  });

  it('keeps the order of scores (NMS and mAP see the same ranking)', () => {
    const next = rng(3);
    const raw = Array.from({ length: 200 }, () => next()).sort((a, b) => a - b);
    const calibrated = raw.map((p) => calibrateScore(p, SEED));
    for (let i = 1; i < raw.length; i++) {
      expect(calibrated[i]!).toBeGreaterThanOrEqual(calibrated[i - 1]!);
    }
  });
});

describe('rawThreshold', () => {
  it('is the raw score that calibrates to the threshold', () => {
    for (const threshold of [0.001, 0.25, 0.4, 0.7]) {
      const raw = rawThreshold(threshold, SEED);
      expect(calibrateScore(raw, SEED)).toBeCloseTo(threshold, 9);
      expect(calibrateScore(raw, SEED)).toBeLessThanOrEqual(threshold);
    }
    // The serving threshold 0.25 is about 0.21 raw for the seed.
    expect(rawThreshold(0.25, SEED)).toBeCloseTo(0.2107, 3);
    expect(rawThreshold(0, SEED)).toBe(0);
    expect(rawThreshold(1, SEED)).toBe(1);
  });
});

describe('fitScoreCalibration', () => {
  it('recovers the temperature and bias that generated the labels', () => {
    const next = rng(11);
    const truth = { temperature: 0.6, bias: 0.9 };
    const samples: CalibrationSample[] = Array.from({ length: 20_000 }, () => {
      const score = 0.02 + 0.96 * next();
      return { score, correct: next() < calibrateScore(score, truth) };
    });
    const fit = fitScoreCalibration(samples);
    expect(fit.temperature).toBeCloseTo(0.6, 1);
    expect(fit.bias).toBeCloseTo(0.9, 1);
    expect(fit.nllAfter).toBeLessThan(fit.nllBefore);
    expect(fit.eceAfter).toBeLessThan(0.02);
    expect(fit.eceBefore).toBeGreaterThan(0.1);
    expect(fit.samples).toBe(20_000);
  });

  it('leaves a model alone when there is nothing to learn from', () => {
    const allRight = [0.3, 0.6, 0.9].map((score) => ({ score, correct: true }));
    expect(fitScoreCalibration(allRight)).toMatchObject({ temperature: 1, bias: 0 });
    expect(fitScoreCalibration([])).toMatchObject({ temperature: 1, bias: 0, samples: 0 });
  });

  it('never reverses the order of scores', () => {
    // Higher scores are wrong more often: the slope would be negative; no calibration then.
    const samples = [0.1, 0.2, 0.3].map((score) => ({ score, correct: true }));
    samples.push(...[0.8, 0.9, 0.95].map((score) => ({ score, correct: false })));
    expect(fitScoreCalibration(samples)).toMatchObject({ temperature: 1, bias: 0 });
  });
});

describe('expectedCalibrationError', () => {
  it('weights each bin’s |precision − confidence| by its share', () => {
    // Bin 0.5–0.6: 2 samples at 0.55, 1 right (0.05 off); bin 0.9–1: 2 at 0.95, both right (0.05 off).
    const samples = [
      { score: 0.55, correct: true },
      { score: 0.55, correct: false },
      { score: 0.95, correct: true },
      { score: 0.95, correct: true },
    ];
    expect(expectedCalibrationError(samples)).toBeCloseTo(0.05, 12);
  });
});

describe('calibrationSamples', () => {
  const box = (x: number) => ({ x1: x, y1: 0, x2: x + 10, y2: 10 });
  it('matches by score, class and IoU ≥ 0.5; a duplicate of a matched object is wrong', () => {
    const samples = calibrationSamples(
      [
        { classId: 0, confidence: 0.6, box: box(1) }, // IoU 9/11 with the object, second best
        { classId: 0, confidence: 0.9, box: box(0) }, // exact
        { classId: 1, confidence: 0.5, box: box(40) }, // class 1 object at 40
        { classId: 0, confidence: 0.4, box: box(80) }, // nothing there
        { classId: 2, confidence: 0.45, box: box(40) }, // wrong class on the class-1 object
      ],
      [
        { classId: 0, box: box(0) },
        { classId: 1, box: box(44) }, // IoU 6/14 < 0.5 with box(40)
      ],
    );
    expect(samples).toEqual([
      { score: 0.9, correct: true },
      { score: 0.6, correct: false },
      { score: 0.5, correct: false },
      { score: 0.45, correct: false },
      { score: 0.4, correct: false },
    ]);
  });
});

describe('calibrationMetadata', () => {
  it('writes six significant digits under the runtime keys', () => {
    expect(calibrationMetadata({ temperature: 0.66037212345, bias: 0.9004709 })).toEqual({
      visionloop_temperature: '0.660372',
      visionloop_logit_bias: '0.900471',
    });
  });
});
