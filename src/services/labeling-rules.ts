/**
 * The labeling queue's pure rules: a reviewer's boxes against the frame and the deployment's
 * classes, and an item's effective status (a claim whose lease ran out is pending again).
 * No I/O.
 */
import type { LabelingQueueRow } from '../db/schema.js';
import type { EffectiveStatus, LabelingItemRow } from '../repositories/labeling.repository.js';
import type { LabelBox } from '../shared/api/labeling.js';
import { BOX_OVERSHOOT_PX, MIN_BOX_SIDE_PX } from '../shared/api/labeling.js';
import { VisionLoopError } from '../shared/errors.js';

/** Three decimals: sub-pixel precision without float noise in the stored JSON. */
function tidy(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * Checks a reviewer's boxes against a `width`×`height` frame and the deployment's `classes`,
 * clipping an overshoot of at most BOX_OVERSHOOT_PX. Throws INVALID_ARGUMENT naming the first
 * bad box. Returns the boxes as stored.
 */
export function validateLabelBoxes(
  boxes: readonly LabelBox[],
  width: number,
  height: number,
  classes: readonly string[],
): LabelBox[] {
  const known = new Set(classes);
  return boxes.map(({ className, box }, index) => {
    const at = `boxes[${index}]`;
    if (!known.has(className)) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `${at}: '${className}' is not a class of this deployment (${classes.join(', ')})`,
      );
    }
    if (!(box.x2 > box.x1 && box.y2 > box.y1)) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `${at}: a box needs x2 > x1 and y2 > y1 (got ${box.x1},${box.y1} – ${box.x2},${box.y2}; zero-size boxes are refused)`,
      );
    }
    const o = BOX_OVERSHOOT_PX;
    if (box.x1 < -o || box.y1 < -o || box.x2 > width + o || box.y2 > height + o) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `${at}: (${box.x1},${box.y1} – ${box.x2},${box.y2}) lies outside the ${width}×${height} frame`,
      );
    }
    const clipped = {
      x1: tidy(Math.max(0, box.x1)),
      y1: tidy(Math.max(0, box.y1)),
      x2: tidy(Math.min(width, box.x2)),
      y2: tidy(Math.min(height, box.y2)),
    };
    if (clipped.x2 - clipped.x1 < MIN_BOX_SIDE_PX || clipped.y2 - clipped.y1 < MIN_BOX_SIDE_PX) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `${at}: boxes must be at least ${MIN_BOX_SIDE_PX} px wide and high inside the frame`,
      );
    }
    return { className, box: clipped };
  });
}

export function isLive(row: LabelingQueueRow, now: number): boolean {
  return row.status === 'claimed' && row.lease_expires_at !== null && row.lease_expires_at >= now;
}

export function effectiveStatus(row: LabelingQueueRow, now: number): EffectiveStatus {
  return row.status === 'claimed' && !isLive(row, now) ? 'pending' : row.status;
}

export function frameOf(
  item: LabelingItemRow,
): { blob: string; width: number; height: number } | null {
  const blob = item.frame_blob ?? item.prediction_frame_blob;
  const width = item.width ?? item.prediction_width;
  const height = item.height ?? item.prediction_height;
  return blob === null || width === null || height === null ? null : { blob, width, height };
}
