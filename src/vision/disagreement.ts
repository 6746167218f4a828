/**
 * How much a shadow model's boxes disagree with the serving model's on one frame
 * (docs/rollouts.md): 1 − F1 of the shadow's detections scored against the serving ones as if
 * they were the truth. A match is a pair of the same class with IoU ≥ 0.5, made greedily: the
 * shadow's boxes by confidence (highest first), each taking the unmatched serving box it
 * overlaps most. 0 when both found nothing; 1 when exactly one of them found something.
 *
 * Pure: no I/O, no Node-only imports.
 */
import type { Decision, Detection } from '../shared/domain.js';
import { iou } from './nms.js';

/** Boxes of the same class overlapping at least this much are the same finding. */
export const DISAGREEMENT_MATCH_IOU = 0.5;
/** A frame whose disagreement reaches this is worth a label even when the decisions agree. */
export const DISAGREES_AT = 0.5;

/** Greedy same-class matches (IoU ≥ 0.5) of `shadow` against `serving`. */
export function matchedPairs(shadow: readonly Detection[], serving: readonly Detection[]): number {
  const order = shadow
    .map((detection, index) => ({ detection, index }))
    .sort((a, b) => b.detection.confidence - a.detection.confidence || a.index - b.index);
  const taken = new Array<boolean>(serving.length).fill(false);
  let matches = 0;
  for (const { detection } of order) {
    let best = -1;
    let bestIou = DISAGREEMENT_MATCH_IOU;
    serving.forEach((other, j) => {
      if (taken[j] || other.className !== detection.className) return;
      const overlap = iou(detection.box, other.box);
      if (overlap >= bestIou && (best < 0 || overlap > bestIou)) {
        best = j;
        bestIou = overlap;
      }
    });
    if (best >= 0) {
      taken[best] = true;
      matches++;
    }
  }
  return matches;
}

/** 1 − F1 of the shadow's boxes against the serving model's, 0..1 (see the module comment). */
export function boxDisagreement(
  shadow: readonly Detection[],
  serving: readonly Detection[],
): number {
  const total = shadow.length + serving.length;
  if (total === 0) return 0;
  const f1 = (2 * matchedPairs(shadow, serving)) / total;
  return Math.round((1 - f1) * 10_000) / 10_000;
}

/** The decisions differ, or the boxes disagree by at least DISAGREES_AT. */
export function shadowDisagrees(
  shadowDecision: Decision,
  servingDecision: Decision,
  disagreement: number,
): boolean {
  return shadowDecision !== servingDecision || disagreement >= DISAGREES_AT;
}
