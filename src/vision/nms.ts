/**
 * Greedy non-maximum suppression, class-aware by default (as Ultralytics and torchvision's
 * `batched_nms`): a box is suppressed by a higher-scored kept box of the same class whose IoU
 * with it is strictly greater than the threshold. Runs on every frame, on the candidates of
 * `decodeOutput`; boxes are compared in whatever pixel space they come in.
 *
 * Pure: no I/O, no Node-only imports.
 */
import type { Box } from '../shared/domain.js';

/**
 * What NMS reads of a box: its class, score and corners. `decodeOutput`'s `Candidate`
 * (layouts.ts) is one; declared here so nms.ts needs nothing from layouts.ts (layouts →
 * calibration → nms would otherwise be an import cycle).
 */
export interface ScoredBox {
  classId: number;
  score: number;
  box: Box;
}

/** Intersection over union of two corner-form boxes; 0 when the union has no area. */
export function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (!(iw > 0) || !(ih > 0)) return 0;
  const inter = iw * ih;
  const union = boxArea(a) + boxArea(b) - inter;
  return union > 0 ? inter / union : 0;
}

/** Area of a corner-form box; 0 for an inverted or empty box. */
export function boxArea(box: Box): number {
  const w = box.x2 - box.x1;
  const h = box.y2 - box.y1;
  return w > 0 && h > 0 ? w * h : 0;
}

export interface NmsOptions {
  /** A box is suppressed when its IoU with a kept box is strictly greater than this. */
  iouThreshold: number;
  /** At most this many boxes are kept (the highest-scored). */
  maxDetections: number;
  /** Suppress across classes too (default false: only boxes of the same class compete). */
  classAgnostic?: boolean;
}

/**
 * The candidates that survive NMS, highest score first; among equal scores the one earlier in
 * `candidates` comes first and wins. The kept objects are the input objects (not copies).
 */
export function nonMaxSuppression<C extends ScoredBox>(
  candidates: readonly C[],
  options: NmsOptions,
): C[] {
  const n = candidates.length;
  const max = Math.max(0, Math.floor(options.maxDetections));
  if (n === 0 || max === 0) return [];
  const agnostic = options.classAgnostic === true;
  const threshold = options.iouThreshold;

  // NaN would make the comparator inconsistent; such a score ranks last.
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = candidates[i]!.score;
    scores[i] = Number.isNaN(s) ? -Infinity : s;
  }
  // Array.prototype.sort is stable, so equal scores keep their input order.
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((i, j) => {
    const a = scores[i]!;
    const b = scores[j]!;
    return a > b ? -1 : a < b ? 1 : 0;
  });

  const x1 = new Float64Array(n);
  const y1 = new Float64Array(n);
  const x2 = new Float64Array(n);
  const y2 = new Float64Array(n);
  const area = new Float64Array(n);
  const cls = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const c = candidates[order[r]!]!;
    x1[r] = c.box.x1;
    y1[r] = c.box.y1;
    x2[r] = c.box.x2;
    y2[r] = c.box.y2;
    area[r] = boxArea(c.box);
    cls[r] = c.classId;
  }

  const suppressed = new Uint8Array(n);
  const kept: C[] = [];
  for (let r = 0; r < n; r++) {
    if (suppressed[r] === 1) continue;
    kept.push(candidates[order[r]!]!);
    if (kept.length >= max) break;
    const ax1 = x1[r]!;
    const ay1 = y1[r]!;
    const ax2 = x2[r]!;
    const ay2 = y2[r]!;
    const aArea = area[r]!;
    const aCls = cls[r]!;
    for (let s = r + 1; s < n; s++) {
      if (suppressed[s] === 1 || (!agnostic && cls[s] !== aCls)) continue;
      const iw = Math.min(ax2, x2[s]!) - Math.max(ax1, x1[s]!);
      if (!(iw > 0)) continue;
      const ih = Math.min(ay2, y2[s]!) - Math.max(ay1, y1[s]!);
      if (!(ih > 0)) continue;
      const inter = iw * ih;
      const union = aArea + area[s]! - inter;
      if (union > 0 && inter / union > threshold) suppressed[s] = 1;
    }
  }
  return kept;
}
