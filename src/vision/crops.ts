/**
 * Crops of one frame for the stages after `detect` (src/vision/stage-model.ts): a detection's
 * box padded by a share of its sides and clipped to the frame, then every crop resized
 * (bilinear, the trainer's INTER_LINEAR geometry from resize.ts) to the stage model's S×S input
 * and packed into one `[N, 3, S, S]` float tensor (RGB 0..1), so all crops of a frame go
 * through one session run. Each crop keeps the transform that maps model-input pixels back to
 * frame pixels. Pure: no I/O; never changes the frame.
 */
import type { Box } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import type { RgbImage } from './image.js';
import { resizeIntoTensor } from './resize.js';

/**
 * Where a crop came from: the integer pixel rectangle of the frame that was resized to the
 * model's input. A model-input pixel (u, v) of an `inputWidth`×`inputHeight` input covers the
 * frame area starting at (x + u × scaleX, y + v × scaleY).
 */
export interface CropTransform {
  /** Top-left frame pixel of the crop. */
  x: number;
  y: number;
  /** Size of the crop in frame pixels (at least 1). */
  width: number;
  height: number;
  /** Frame pixels per model-input pixel, horizontally and vertically. */
  scaleX: number;
  scaleY: number;
}

/**
 * `box` grown by `padding` × its width on the left and right and × its height on top and
 * bottom, then clipped to a `frameWidth`×`frameHeight` frame. `padding` 0.1 adds 10 % of the
 * side on each side.
 */
export function padBox(box: Box, padding: number, frameWidth: number, frameHeight: number): Box {
  if (!Number.isFinite(padding) || padding < 0) {
    throw new VisionLoopError('INVALID_ARGUMENT', `crop padding must be ≥ 0, got ${padding}`);
  }
  const padX = (box.x2 - box.x1) * padding;
  const padY = (box.y2 - box.y1) * padding;
  return {
    x1: Math.min(Math.max(box.x1 - padX, 0), frameWidth),
    y1: Math.min(Math.max(box.y1 - padY, 0), frameHeight),
    x2: Math.min(Math.max(box.x2 + padX, 0), frameWidth),
    y2: Math.min(Math.max(box.y2 + padY, 0), frameHeight),
  };
}

/**
 * The whole-pixel rectangle a box covers in the frame (outward rounding, clipped), at least
 * one pixel wide and high even for a degenerate box.
 */
export function cropRectangle(
  box: Box,
  frameWidth: number,
  frameHeight: number,
): { x: number; y: number; width: number; height: number } {
  for (const value of [box.x1, box.y1, box.x2, box.y2]) {
    if (!Number.isFinite(value)) {
      throw new VisionLoopError('INVALID_ARGUMENT', `crop box has a non-finite corner: ${value}`);
    }
  }
  const clampX = (v: number): number => Math.min(Math.max(v, 0), frameWidth);
  const clampY = (v: number): number => Math.min(Math.max(v, 0), frameHeight);
  let x = Math.floor(clampX(Math.min(box.x1, box.x2)));
  let y = Math.floor(clampY(Math.min(box.y1, box.y2)));
  const right = Math.ceil(clampX(Math.max(box.x1, box.x2)));
  const bottom = Math.ceil(clampY(Math.max(box.y1, box.y2)));
  if (x >= frameWidth) x = frameWidth - 1;
  if (y >= frameHeight) y = frameHeight - 1;
  return { x, y, width: Math.max(1, right - x), height: Math.max(1, bottom - y) };
}

/** The pixels of a rectangle of `image`, copied into a new image. */
export function cutImage(
  image: RgbImage,
  rect: { x: number; y: number; width: number; height: number },
): RgbImage {
  const data = new Uint8Array(rect.width * rect.height * 3);
  const rowBytes = rect.width * 3;
  for (let row = 0; row < rect.height; row++) {
    const from = ((rect.y + row) * image.width + rect.x) * 3;
    data.set(image.data.subarray(from, from + rowBytes), row * rowBytes);
  }
  return { width: rect.width, height: rect.height, data };
}

export interface PackedCrops {
  /** `count` × 3 × inputHeight × inputWidth floats, crop after crop (CHW, RGB 0..1). */
  tensor: Float32Array;
  count: number;
  transforms: CropTransform[];
}

/**
 * Crops `boxes` (frame pixels, already padded) out of `image`, resizes each to
 * `inputWidth`×`inputHeight` and packs them into one tensor. `reuse` is filled when it has
 * exactly the right length (a pooled buffer), else a new tensor is allocated.
 */
export function packCrops(
  image: RgbImage,
  boxes: readonly Box[],
  inputWidth: number,
  inputHeight: number,
  reuse?: Float32Array,
): PackedCrops {
  if (image.data.length !== image.width * image.height * 3 || image.width < 1 || image.height < 1) {
    throw new VisionLoopError(
      'IMAGE_INVALID',
      `frame of ${image.width}×${image.height} has ${image.data.length} bytes; expected ${image.width * image.height * 3} (RGB)`,
    );
  }
  const perCrop = 3 * inputWidth * inputHeight;
  const length = perCrop * boxes.length;
  const tensor = reuse && reuse.length === length ? reuse : new Float32Array(length);
  const transforms = boxes.map((box, index) => {
    const rect = cropRectangle(box, image.width, image.height);
    resizeIntoTensor(
      cutImage(image, rect),
      {
        resizedWidth: inputWidth,
        resizedHeight: inputHeight,
        padLeft: 0,
        padTop: 0,
        inputWidth,
        inputHeight,
      },
      tensor.subarray(index * perCrop, (index + 1) * perCrop),
    );
    return {
      ...rect,
      scaleX: rect.width / inputWidth,
      scaleY: rect.height / inputHeight,
    };
  });
  return { tensor, count: boxes.length, transforms };
}
