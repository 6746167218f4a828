/**
 * Confidence calibration of a detector's scores (docs/calibration.md): a score p becomes
 * σ(logit(p) / temperature + bias), Platt scaling in logit space — temperature scaling with a
 * shift. It is fitted on a model's validation split (how often a detection of each score was
 * right, at IoU 0.5 with the right class) and travels in the model's ONNX `metadata_props`
 * (`visionloop_temperature`, `visionloop_logit_bias`), so a confidence of 0.55 means "right about
 * 55% of the time" and the uncertain band (0.4–0.7) holds the detections the model is really
 * unsure of. A model without those keys (any Ultralytics export) keeps its raw scores.
 *
 * The map is strictly increasing, so it never changes which box NMS keeps nor any ranking
 * (mAP is unchanged); only the values, and so which scores fall in the band and pass a
 * threshold, move.
 *
 * Pure: no I/O, no Node-only imports.
 */
import type { Box } from '../shared/domain.js';
import { iou } from './nms.js';

/** σ(logit(p) / temperature + bias). */
export interface ScoreCalibration {
  /** > 0; below 1 spreads scores away from 0.5 (a model that is right more often than it says). */
  temperature: number;
  /** Added to the scaled logit; > 0 raises every score. */
  bias: number;
}

/** The metadata keys a calibrated model carries (decimal numbers as text). */
export const TEMPERATURE_METADATA_KEY = 'visionloop_temperature';
export const LOGIT_BIAS_METADATA_KEY = 'visionloop_logit_bias';

/** Logits are clamped to ±LOGIT_LIMIT so 0 and 1 map to finite values. */
const LOGIT_LIMIT = 30;

function clampedLogit(p: number): number {
  if (!(p > 0)) return -LOGIT_LIMIT;
  if (!(p < 1)) return LOGIT_LIMIT;
  return Math.max(-LOGIT_LIMIT, Math.min(LOGIT_LIMIT, Math.log(p / (1 - p))));
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** True when `calibration` is absent or changes nothing. */
export function isIdentityCalibration(calibration: ScoreCalibration | null | undefined): boolean {
  return !calibration || (calibration.temperature === 1 && calibration.bias === 0);
}

/** The calibrated score of a raw score in [0, 1]. NaN stays NaN. */
export function calibrateScore(score: number, calibration: ScoreCalibration): number {
  if (Number.isNaN(score)) return score;
  return sigmoid(clampedLogit(score) / calibration.temperature + calibration.bias);
}

/**
 * The raw score whose calibrated value is `threshold`, so a decoder can compare raw scores
 * (no transform per anchor) and calibrate only the candidates that pass. Thresholds ≤ 0 stay
 * (everything passes), ≥ 1 stay (nothing but 1 passes).
 */
export function rawThreshold(threshold: number, calibration: ScoreCalibration): number {
  if (!(threshold > 0) || !(threshold < 1)) return threshold;
  const z = (clampedLogit(threshold) - calibration.bias) * calibration.temperature;
  // One ulp below, so a raw score that calibrates to exactly `threshold` is not lost to rounding.
  return Math.max(0, sigmoid(z) * (1 - 1e-12));
}

/** One detection of a validation set: its raw score and whether it matched ground truth. */
export interface CalibrationSample {
  score: number;
  correct: boolean;
}

export interface CalibrationFit extends ScoreCalibration {
  /** Mean negative log-likelihood of the samples before and after. */
  nllBefore: number;
  nllAfter: number;
  /** Expected calibration error (10 equal-width bins) before and after. */
  eceBefore: number;
  eceAfter: number;
  samples: number;
}

function meanNll(samples: readonly CalibrationSample[], calibration: ScoreCalibration): number {
  let sum = 0;
  for (const { score, correct } of samples) {
    const p = Math.min(1 - 1e-12, Math.max(1e-12, calibrateScore(score, calibration)));
    sum -= Math.log(correct ? p : 1 - p);
  }
  return samples.length === 0 ? 0 : sum / samples.length;
}

/**
 * Expected calibration error: Σ over 10 confidence bins of |precision − mean confidence|,
 * weighted by the bin's share of the samples.
 */
export function expectedCalibrationError(
  samples: readonly CalibrationSample[],
  calibration: ScoreCalibration = { temperature: 1, bias: 0 },
): number {
  const count = new Array<number>(10).fill(0);
  const hits = new Array<number>(10).fill(0);
  const confidence = new Array<number>(10).fill(0);
  for (const { score, correct } of samples) {
    const p = calibrateScore(score, calibration);
    const bin = Math.min(9, Math.max(0, Math.floor(p * 10)));
    count[bin]!++;
    confidence[bin]! += p;
    if (correct) hits[bin]!++;
  }
  let ece = 0;
  for (let b = 0; b < 10; b++) {
    const n = count[b]!;
    if (n > 0) ece += (n / samples.length) * Math.abs(hits[b]! / n - confidence[b]! / n);
  }
  return ece;
}

/**
 * Fits temperature and bias by maximum likelihood (Newton's method on the logistic regression
 * of `correct` on logit(score), which is convex). Deterministic. Needs at least one right and
 * one wrong sample; otherwise returns the identity (nothing to learn from).
 */
export function fitScoreCalibration(samples: readonly CalibrationSample[]): CalibrationFit {
  const identity = { temperature: 1, bias: 0 };
  const correct = samples.filter((s) => s.correct).length;
  const before = {
    nllBefore: meanNll(samples, identity),
    eceBefore: expectedCalibrationError(samples, identity),
    samples: samples.length,
  };
  if (correct === 0 || correct === samples.length) {
    return { ...identity, ...before, nllAfter: before.nllBefore, eceAfter: before.eceBefore };
  }
  const z = samples.map((s) => clampedLogit(s.score));
  const y = samples.map((s) => (s.correct ? 1 : 0));
  // Model: P(correct) = σ(a·z + b); temperature = 1/a.
  let a = 1;
  let b = 0;
  for (let iteration = 0; iteration < 100; iteration++) {
    let ga = 0;
    let gb = 0;
    let haa = 1e-9;
    let hab = 0;
    let hbb = 1e-9;
    for (let i = 0; i < z.length; i++) {
      const zi = z[i]!;
      const p = sigmoid(a * zi + b);
      const r = p - y[i]!;
      const w = p * (1 - p);
      ga += r * zi;
      gb += r;
      haa += w * zi * zi;
      hab += w * zi;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    a -= da;
    b -= db;
    if (Math.abs(da) < 1e-10 && Math.abs(db) < 1e-10) break;
  }
  // A non-positive slope would reverse the order of scores: no calibration then.
  if (!(a > 1e-3) || !Number.isFinite(b)) {
    return { ...identity, ...before, nllAfter: before.nllBefore, eceAfter: before.eceBefore };
  }
  const fitted = { temperature: 1 / a, bias: b };
  return {
    ...fitted,
    ...before,
    nllAfter: meanNll(samples, fitted),
    eceAfter: expectedCalibrationError(samples, fitted),
  };
}

/**
 * The metadata entries that store `calibration` (6 significant digits: the map is smooth, and
 * the same text gives the same file bytes).
 */
export function calibrationMetadata(calibration: ScoreCalibration): Record<string, string> {
  return {
    [TEMPERATURE_METADATA_KEY]: String(Number(calibration.temperature.toPrecision(6))),
    [LOGIT_BIAS_METADATA_KEY]: String(Number(calibration.bias.toPrecision(6))),
  };
}

/** A detection or ground-truth object for `calibrationSamples` (class id and corner box). */
export interface LabelledBox {
  classId: number;
  box: Box;
}

/**
 * Marks each detection right or wrong as COCO's matching does at one IoU: in descending score,
 * a detection is right when an unmatched ground-truth object of its class overlaps it with IoU
 * ≥ `iouThreshold` (the best such object is taken). Duplicates of a matched object are wrong.
 */
export function calibrationSamples(
  detections: readonly (LabelledBox & { confidence: number })[],
  groundTruth: readonly LabelledBox[],
  iouThreshold = 0.5,
): CalibrationSample[] {
  const order = detections
    .map((detection, index) => ({ detection, index }))
    .sort((a, b) => b.detection.confidence - a.detection.confidence || a.index - b.index);
  const used = new Set<number>();
  return order.map(({ detection }) => {
    let best = -1;
    let bestIou = iouThreshold;
    groundTruth.forEach((object, j) => {
      if (object.classId !== detection.classId || used.has(j)) return;
      const overlap = iou(object.box, detection.box);
      if (overlap >= bestIou) {
        bestIou = overlap;
        best = j;
      }
    });
    if (best >= 0) used.add(best);
    return { score: detection.confidence, correct: best >= 0 };
  });
}
