/**
 * The per-frame verdict of an inspection (PASS/FAIL), the uncertainty flag that routes a frame
 * to human review, and the informativeness of one box's class scores for active learning.
 *
 * Pure: no I/O, no Node-only imports.
 */
import type { Decision, Detection } from '../shared/domain.js';
import { boxArea } from './nms.js';

export interface DecisionPolicy {
  /** Classes that fail a part; 'all' makes every detected class a defect. */
  failClasses: string[] | 'all';
  /** A detection fails the frame when its confidence is ≥ this. */
  failThreshold: number;
  /** …and its box area in frame pixels is ≥ this (ignores specks). */
  minAreaPx: number;
}

export const DEFAULT_DECISION_POLICY: Readonly<DecisionPolicy> = Object.freeze({
  failClasses: 'all',
  failThreshold: 0.5,
  minAreaPx: 0,
});

/** The detections that make a frame fail under `policy`, in input order. */
export function failingDetections(
  detections: readonly Detection[],
  policy: DecisionPolicy,
): Detection[] {
  const classes = policy.failClasses === 'all' ? null : new Set(policy.failClasses);
  return detections.filter(
    (d) =>
      (classes === null || classes.has(d.className)) &&
      d.confidence >= policy.failThreshold &&
      boxArea(d.box) >= policy.minAreaPx,
  );
}

/**
 * FAIL when any detection is of a failing class with confidence ≥ `failThreshold` and box area
 * ≥ `minAreaPx`; otherwise PASS (a frame without detections passes).
 */
export function decideFrame(detections: readonly Detection[], policy: DecisionPolicy): Decision {
  return failingDetections(detections, policy).length > 0 ? 'FAIL' : 'PASS';
}

/** Confidences strictly between `low` and `high` are uncertain (the original design's 0.4 < c < 0.7). */
export interface UncertainBand {
  low: number;
  high: number;
}

export const DEFAULT_UNCERTAIN_BAND: Readonly<UncertainBand> = Object.freeze({
  low: 0.4,
  high: 0.7,
});

/** True when any detection's confidence lies strictly inside the band. */
export function isUncertain(detections: readonly Detection[], band: UncertainBand): boolean {
  return detections.some((d) => d.confidence > band.low && d.confidence < band.high);
}

export interface Informativeness {
  /** Best minus second-best class score (small = the model hesitates between two classes). */
  margin: number;
  /** Shannon entropy of the scores normalized to sum 1, divided by ln(classes): 0..1. */
  entropy: number;
}

/**
 * How informative one box would be to label, from its class scores (independent sigmoids in
 * YOLOv8, so they are normalized before the entropy). Negative and NaN scores count as 0.
 * One class: margin = its score, entropy 0. No scores: margin 0, entropy 0. All-zero scores are
 * the uniform distribution: entropy 1.
 */
export function informativeness(classScores: ArrayLike<number>): Informativeness {
  const n = classScores.length;
  if (n === 0) return { margin: 0, entropy: 0 };
  let top1 = 0;
  let top2 = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const raw = classScores[i]!;
    const s = raw > 0 ? raw : 0;
    sum += s;
    if (s > top1) {
      top2 = top1;
      top1 = s;
    } else if (s > top2) {
      top2 = s;
    }
  }
  const margin = top1 - top2;
  if (n === 1) return { margin, entropy: 0 };
  if (sum === 0) return { margin, entropy: 1 };
  let h = 0;
  for (let i = 0; i < n; i++) {
    const raw = classScores[i]!;
    if (!(raw > 0)) continue;
    const p = raw / sum;
    h -= p * Math.log(p);
  }
  // Rounding can push a uniform distribution a hair past 1.
  return { margin, entropy: Math.min(1, Math.max(0, h / Math.log(n))) };
}
