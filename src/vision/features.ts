/**
 * Per-frame image-quality features — the inputs of the drift monitor (DESIGN.md §1). They run
 * on every frame, so they are computed on a small copy: the frame is box-averaged down to
 * `workWidth` columns (160 by default) in one pass, and every feature but noise is measured
 * there. Noise is measured at full resolution on a centre crop of the same pixel count, because
 * averaging k×k pixels divides the noise sigma by k (4× at 640→160) and would hide the very
 * change (a dim, noisy night shift) the monitor must see.
 *
 * Definitions (gray = 0.299 R + 0.587 G + 0.114 B, BT.601 as OpenCV, not rounded):
 * - brightness: mean gray of the working frame / 255, 0..1.
 * - contrast: population standard deviation of gray / 255 (RMS contrast), 0..0.5.
 * - sharpness: population variance of the 4-neighbour Laplacian [0 1 0; 1 −4 1; 0 1 0] over
 *   the interior pixels (no border padding), in gray levels². Blur lowers it.
 * - saturation: mean HSV saturation (max − min) / max of the averaged colours, 0..1.
 * - noise: Immerkær's estimator σ = √(π/2) · Σ|I ∗ M| / (6 (w−2)(h−2)),
 *   M = [1 −2 1; −2 4 −2; 1 −2 1], on the full-resolution centre crop (as large as the working
 *   frame: 160×120 of a 640×480 frame), in gray levels. Noise independent per channel with σ
 *   reads ≈ 0.67 σ in gray (√(0.299² + 0.587² + 0.114²)); texture and edges in the crop add to
 *   it, as with any single-frame estimator.
 * - colorCast: √(((R̄−Ḡ)² + (Ḡ−B̄)² + (B̄−R̄)²) / 3) / 255 on the channel means, 0 for neutral.
 * - edgeDensity: fraction of interior pixels whose Sobel gradient magnitude exceeds
 *   EDGE_MAGNITUDE_THRESHOLD, 0..1.
 * Images too small for a 3×3 window (1×1, 2×N) give 0 for sharpness, noise and edgeDensity; a
 * constant image gives 0 contrast, sharpness, noise and edgeDensity. Never NaN.
 *
 * Pure: no I/O, no Node-only imports; typed arrays only, nothing allocated per pixel. Working
 * buffers are module-private and reused from call to call: a fresh 400 KB Float64Array per
 * frame costs more than all the arithmetic (allocations past ~128 KB are mapped pages), and the
 * computation is synchronous, so no two calls ever share them.
 */
import type { FrameFeatures } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import type { RgbImage } from './image.js';

/** Columns of the downscaled working frame. */
export const DEFAULT_FEATURE_WORK_WIDTH = 160;

/**
 * Sobel magnitude (gray levels) above which a pixel is an edge: a clean step of 25 gray levels
 * gives 4 × 25 = 100. Pure sensor noise of σ = 10 at full resolution stays far below it after
 * the 4× downscale (Sobel of noise σ' ≈ 4.3 σ' on average).
 */
export const EDGE_MAGNITUDE_THRESHOLD = 100;

const R_WEIGHT = 0.299;
const G_WEIGHT = 0.587;
const B_WEIGHT = 0.114;
const IMMERKAER_FACTOR = Math.sqrt(Math.PI / 2) / 6;

/** Reusable working buffers, grown on demand, never shrunk. */
const scratch = {
  sums: new Float64Array(0),
  gray: new Float64Array(0),
  crop: new Float64Array(0),
};

function scratchBuffer(name: keyof typeof scratch, length: number): Float64Array {
  if (scratch[name].length < length) scratch[name] = new Float64Array(length);
  return scratch[name].subarray(0, length);
}

export interface FeatureOptions {
  /** Columns of the working frame (default 160); frames narrower than this are not resized. */
  workWidth?: number;
}

/** The size of the working frame for a source of `width`×`height`. */
export function workingSize(
  width: number,
  height: number,
  workWidth = DEFAULT_FEATURE_WORK_WIDTH,
): { width: number; height: number } {
  if (width <= workWidth) return { width, height };
  return {
    width: workWidth,
    height: Math.max(1, Math.min(height, Math.round((height * workWidth) / width))),
  };
}

function checkImage(image: RgbImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new VisionLoopError(
      'IMAGE_INVALID',
      `image size ${width}×${height} is not a positive size`,
    );
  }
  if (data.length < width * height * 3) {
    throw new VisionLoopError(
      'IMAGE_INVALID',
      `image data holds ${data.length} bytes, ${width * height * 3} needed for ${width}×${height} RGB`,
    );
  }
}

/** The image-quality features of one frame (see the module comment for the definitions). */
export function computeFeatures(image: RgbImage, options: FeatureOptions = {}): FrameFeatures {
  checkImage(image);
  const workWidth = options.workWidth ?? DEFAULT_FEATURE_WORK_WIDTH;
  if (!Number.isInteger(workWidth) || workWidth < 1) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `workWidth must be a positive integer, got ${workWidth}`,
    );
  }
  const { width: w, height: h } = workingSize(image.width, image.height, workWidth);
  const work = downscale(image, w, h);
  const gray = work.gray;

  const r = work.meanR;
  const g = work.meanG;
  const b = work.meanB;
  const { sharpness, edgeDensity } = structure(gray, w, h);
  return {
    brightness: work.meanGray / 255,
    contrast: Math.sqrt(work.varianceGray) / 255,
    sharpness,
    saturation: work.saturation,
    noise: immerkaerNoise(image, w, h),
    colorCast: Math.sqrt(((r - g) ** 2 + (g - b) ** 2 + (b - r) ** 2) / 3) / 255,
    edgeDensity,
  };
}

interface WorkingFrame {
  gray: Float64Array;
  /** Mean and population variance of `gray`. */
  meanGray: number;
  varianceGray: number;
  /** Channel means over the whole frame, 0..255. */
  meanR: number;
  meanG: number;
  meanB: number;
  /** Mean HSV saturation of the working frame's pixels. */
  saturation: number;
}

/**
 * Box-average downscale: every source pixel adds fully to the one cell its column and row
 * fall in (x · w / W rounded down), so cells are ⌊W/w⌋ or ⌈W/w⌉ pixels wide (likewise tall)
 * and hold the mean of their pixels.
 */
function downscale(image: RgbImage, w: number, h: number): WorkingFrame {
  const W = image.width;
  const H = image.height;
  const src = image.data;
  // Cells are contiguous runs of columns, so each row is summed run by run, with no lookup
  // per pixel.
  const cellWidth = new Uint32Array(w);
  for (let x = 0; x < W; x++) cellWidth[Math.floor((x * w) / W)]!++;
  const sums = scratchBuffer('sums', w * h * 3).fill(0);
  const cellHeight = new Uint32Array(h);
  let totalR = 0;
  let totalG = 0;
  let totalB = 0;
  for (let y = 0; y < H; y++) {
    const cy = Math.floor((y * h) / H);
    cellHeight[cy]!++;
    let o = cy * w * 3;
    let s = y * W * 3;
    for (let cx = 0; cx < w; cx++, o += 3) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const end = s + cellWidth[cx]! * 3; s < end; s += 3) {
        r += src[s]!;
        g += src[s + 1]!;
        b += src[s + 2]!;
      }
      sums[o] = sums[o]! + r;
      sums[o + 1] = sums[o + 1]! + g;
      sums[o + 2] = sums[o + 2]! + b;
    }
  }
  const gray = scratchBuffer('gray', w * h);
  let saturation = 0;
  // Gray sums are taken relative to the first cell so a flat frame has exactly zero variance.
  const origin =
    (R_WEIGHT * sums[0]! + G_WEIGHT * sums[1]! + B_WEIGHT * sums[2]!) /
    (cellWidth[0]! * cellHeight[0]!);
  let sumShift = 0;
  let sumShiftSq = 0;
  for (let cy = 0, o = 0; cy < h; cy++) {
    for (let cx = 0; cx < w; cx++, o++) {
      const sr = sums[o * 3]!;
      const sg = sums[o * 3 + 1]!;
      const sb = sums[o * 3 + 2]!;
      totalR += sr;
      totalG += sg;
      totalB += sb;
      const v =
        (R_WEIGHT * sr + G_WEIGHT * sg + B_WEIGHT * sb) / (cellWidth[cx]! * cellHeight[cy]!);
      gray[o] = v;
      const d = v - origin;
      sumShift += d;
      sumShiftSq += d * d;
      // Saturation is a ratio, so the cell's sums stand in for its means.
      const max = sr > sg ? (sr > sb ? sr : sb) : sg > sb ? sg : sb;
      const min = sr < sg ? (sr < sb ? sr : sb) : sg < sb ? sg : sb;
      if (max > 0) saturation += (max - min) / max;
    }
  }
  const cells = w * h;
  const pixels = W * H;
  return {
    gray,
    meanGray: origin + sumShift / cells,
    varianceGray: Math.max(0, (sumShiftSq - (sumShift * sumShift) / cells) / cells),
    meanR: totalR / pixels,
    meanG: totalG / pixels,
    meanB: totalB / pixels,
    saturation: saturation / cells,
  };
}

/**
 * Laplacian variance and Sobel edge density in one pass over the interior pixels (they read
 * the same 3×3 neighbourhood); both 0 below 3×3.
 */
function structure(
  gray: Float64Array,
  w: number,
  h: number,
): { sharpness: number; edgeDensity: number } {
  if (w < 3 || h < 3) return { sharpness: 0, edgeDensity: 0 };
  const t2 = EDGE_MAGNITUDE_THRESHOLD * EDGE_MAGNITUDE_THRESHOLD;
  let sum = 0;
  let sumSq = 0;
  let edges = 0;
  for (let y = 1; y < h - 1; y++) {
    let i = y * w + 1;
    for (let x = 1; x < w - 1; x++, i++) {
      const tl = gray[i - w - 1]!;
      const t = gray[i - w]!;
      const tr = gray[i - w + 1]!;
      const l = gray[i - 1]!;
      const c = gray[i]!;
      const r = gray[i + 1]!;
      const bl = gray[i + w - 1]!;
      const b = gray[i + w]!;
      const br = gray[i + w + 1]!;
      const lap = t + b + l + r - 4 * c;
      sum += lap;
      sumSq += lap * lap;
      const gx = tr + 2 * r + br - (tl + 2 * l + bl);
      const gy = bl + 2 * b + br - (tl + 2 * t + tr);
      if (gx * gx + gy * gy > t2) edges++;
    }
  }
  const n = (w - 2) * (h - 2);
  const mean = sum / n;
  // Float rounding can leave a hair below zero for a flat frame.
  return { sharpness: Math.max(0, sumSq / n - mean * mean), edgeDensity: edges / n };
}

/**
 * Immerkær's fast noise-sigma estimate on the full-resolution centre crop of `cropW`×`cropH`
 * pixels (clamped to the image); 0 below 3×3.
 */
function immerkaerNoise(image: RgbImage, cropW: number, cropH: number): number {
  const W = image.width;
  const H = image.height;
  const cw = Math.min(W, cropW);
  const ch = Math.min(H, cropH);
  if (cw < 3 || ch < 3) return 0;
  const x0 = (W - cw) >> 1;
  const y0 = (H - ch) >> 1;
  const src = image.data;
  const gray = scratchBuffer('crop', cw * ch);
  for (let y = 0, o = 0; y < ch; y++) {
    let s = ((y0 + y) * W + x0) * 3;
    for (let x = 0; x < cw; x++, o++, s += 3) {
      gray[o] = R_WEIGHT * src[s]! + G_WEIGHT * src[s + 1]! + B_WEIGHT * src[s + 2]!;
    }
  }
  let total = 0;
  for (let y = 1; y < ch - 1; y++) {
    let i = y * cw + 1;
    for (let x = 1; x < cw - 1; x++, i++) {
      const v =
        gray[i - cw - 1]! -
        2 * gray[i - cw]! +
        gray[i - cw + 1]! -
        2 * gray[i - 1]! +
        4 * gray[i]! -
        2 * gray[i + 1]! +
        gray[i + cw - 1]! -
        2 * gray[i + cw]! +
        gray[i + cw + 1]!;
      total += v < 0 ? -v : v;
    }
  }
  return (IMMERKAER_FACTOR * total) / ((cw - 2) * (ch - 2));
}
