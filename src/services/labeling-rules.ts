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
 * clipping an overshoot of at most BOX_OVERSHOOT_PX; a box's optional mask `polygon` must lie
 * in its box (same slack) and enclose an area; its optional `cropClass` is kept as given. Throws INVALID_ARGUMENT naming the first
 * bad box. Returns the boxes as stored.
 */
export function validateLabelBoxes(
  boxes: readonly LabelBox[],
  width: number,
  height: number,
  classes: readonly string[],
): LabelBox[] {
  const known = new Set(classes);
  return boxes.map(({ className, box, polygon, cropClass }, index) => {
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
    const extras = {
      ...(polygon === undefined
        ? {}
        : { polygon: validatePolygon(polygon, clipped, width, height, `${at}.polygon`) }),
      ...(cropClass === undefined ? {} : { cropClass }),
    };
    return { className, box: clipped, ...extras };
  });
}

/** Twice the signed area of a flat polygon (shoelace). */
function doubledArea(points: readonly number[]): number {
  let sum = 0;
  const n = points.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    sum += (points[2 * i] ?? 0) * (points[2 * j + 1] ?? 0);
    sum -= (points[2 * j] ?? 0) * (points[2 * i + 1] ?? 0);
  }
  return sum;
}

/**
 * A mask outline as stored: every point inside the frame and inside its (clipped) box, each
 * with BOX_OVERSHOOT_PX of slack that is clipped away, and an outline that encloses some area.
 * Throws INVALID_ARGUMENT naming the first bad point.
 */
function validatePolygon(
  polygon: readonly number[],
  box: LabelBox['box'],
  width: number,
  height: number,
  at: string,
): number[] {
  const o = BOX_OVERSHOOT_PX;
  const left = Math.max(0, box.x1);
  const top = Math.max(0, box.y1);
  const right = Math.min(width, box.x2);
  const bottom = Math.min(height, box.y2);
  const points: number[] = [];
  for (let i = 0; i + 1 < polygon.length; i += 2) {
    const x = polygon[i] ?? 0;
    const y = polygon[i + 1] ?? 0;
    if (x < left - o || x > right + o || y < top - o || y > bottom + o) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `${at}: point ${i / 2} (${x},${y}) lies outside its box (${box.x1},${box.y1} – ${box.x2},${box.y2})`,
      );
    }
    points.push(tidy(Math.min(right, Math.max(left, x))), tidy(Math.min(bottom, Math.max(top, y))));
  }
  if (Math.abs(doubledArea(points)) < 1e-6) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `${at}: the outline encloses no area (its points are on one line)`,
    );
  }
  return points;
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
