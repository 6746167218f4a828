/**
 * Letterbox geometry (Ultralytics' `LetterBox` and `scale_boxes`) and its inverse. The pixel
 * work (resize, pad, CHW tensor) lives with the runtime in src/inference/preprocess.ts.
 *
 * The model sees the frame resized with its aspect ratio kept and padded with gray 114 to the
 * input size. Every number here follows Ultralytics so that a model trained there sees the
 * same tensor here: the scale, the rounding of the resized size (Python's `round`, half to
 * even) and of the padding (`round(d/2 - 0.1)` before, the rest after).
 *
 * Pure: no I/O, no Node-only imports; used by the agent, the evaluator and the browser.
 */
import type { Box } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';

/** The gray level of the letterbox padding (Ultralytics' `LetterBox` fill). */
export const LETTERBOX_FILL = 114;

export interface LetterboxTransform {
  /** Input pixels per source pixel: min(inputWidth / sourceWidth, inputHeight / sourceHeight). */
  scale: number;
  /** Padding columns left of the resized image. */
  padLeft: number;
  /** Padding rows above the resized image. */
  padTop: number;
  /** The resized image inside the input, before padding. */
  resizedWidth: number;
  resizedHeight: number;
  /** The network input size. */
  inputWidth: number;
  inputHeight: number;
  /** The frame size. */
  sourceWidth: number;
  sourceHeight: number;
}

/** Python 3's `round(x)`: to the nearest integer, halves to even. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `${name} must be a positive integer, got ${String(value)}`,
    );
  }
}

/**
 * The letterbox that fits a `sourceWidth`×`sourceHeight` frame into a `inputWidth`×`inputHeight`
 * network input (Ultralytics `LetterBox(auto=False, scaleup=True, center=True)`).
 */
export function computeLetterbox(
  sourceWidth: number,
  sourceHeight: number,
  inputWidth: number,
  inputHeight: number,
): LetterboxTransform {
  assertPositiveInteger('sourceWidth', sourceWidth);
  assertPositiveInteger('sourceHeight', sourceHeight);
  assertPositiveInteger('inputWidth', inputWidth);
  assertPositiveInteger('inputHeight', inputHeight);
  const scale = Math.min(inputWidth / sourceWidth, inputHeight / sourceHeight);
  // A frame far thinner than the input could round to 0 pixels; keep at least one.
  const resizedWidth = Math.min(inputWidth, Math.max(1, roundHalfEven(sourceWidth * scale)));
  const resizedHeight = Math.min(inputHeight, Math.max(1, roundHalfEven(sourceHeight * scale)));
  const dw = (inputWidth - resizedWidth) / 2;
  const dh = (inputHeight - resizedHeight) / 2;
  return {
    scale,
    padLeft: roundHalfEven(dw - 0.1),
    padTop: roundHalfEven(dh - 0.1),
    resizedWidth,
    resizedHeight,
    inputWidth,
    inputHeight,
    sourceWidth,
    sourceHeight,
  };
}

function clamp(value: number, low: number, high: number): number {
  return value < low ? low : value > high ? high : value;
}

/**
 * A box in network-input pixels → the same box in source-frame pixels, clipped to the frame:
 * subtract the padding, undo the resize, clip (Ultralytics `scale_boxes` + `clip_boxes`).
 *
 * Two deliberate differences from `scale_boxes`, both sub-pixel and both towards the geometry
 * actually applied: it uses the padding the letterbox applied (`scale_boxes` recomputes it from
 * the unrounded size and can be 1 px off), and the per-axis scale of the rounded resize
 * (resizedWidth / sourceWidth, resizedHeight / sourceHeight) rather than the common `scale`.
 */
export function boxToSource(box: Box, t: LetterboxTransform): Box {
  const sx = t.resizedWidth / t.sourceWidth;
  const sy = t.resizedHeight / t.sourceHeight;
  const w = t.sourceWidth;
  const h = t.sourceHeight;
  return {
    x1: clamp((box.x1 - t.padLeft) / sx, 0, w),
    y1: clamp((box.y1 - t.padTop) / sy, 0, h),
    x2: clamp((box.x2 - t.padLeft) / sx, 0, w),
    y2: clamp((box.y2 - t.padTop) / sy, 0, h),
  };
}

/** A box in source-frame pixels → network-input pixels (not clipped); inverse of `boxToSource`. */
export function boxToInput(box: Box, t: LetterboxTransform): Box {
  const sx = t.resizedWidth / t.sourceWidth;
  const sy = t.resizedHeight / t.sourceHeight;
  return {
    x1: box.x1 * sx + t.padLeft,
    y1: box.y1 * sy + t.padTop,
    x2: box.x2 * sx + t.padLeft,
    y2: box.y2 * sy + t.padTop,
  };
}
