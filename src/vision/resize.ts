/**
 * Bilinear resize with OpenCV's INTER_LINEAR geometry (half-pixel centres, no antialiasing) —
 * what Ultralytics' LetterBox uses and what the VisionLoop trainer trains on
 * (trainer/visionloop_trainer/dataset.py `resize_bilinear`). The arithmetic follows the
 * trainer's numpy code step by step in float32 (Math.fround), so serving sees the same bytes
 * training saw; test/fixtures/preprocess holds golden outputs the trainer's code produced.
 *
 * sharp is not used for this resize: its kernels antialias, and on a 640×480 frame halved to
 * 320×240 it differed from the trainer by 2.3 gray levels on average (29 at worst).
 * Pure: no I/O.
 */
import type { RgbImage } from './image.js';

const f32 = Math.fround;

interface Taps {
  lo: Int32Array;
  hi: Int32Array;
  /** Weight of `hi` (float32 values); weight of `lo` is fround(1 - w). */
  w: Float32Array;
}

/** Source taps for each destination index, as the trainer's `_linear_taps`. */
export function linearTaps(src: number, dst: number): Taps {
  const lo = new Int32Array(dst);
  const hi = new Int32Array(dst);
  const w = new Float32Array(dst);
  const ratio = src / dst;
  for (let d = 0; d < dst; d++) {
    let s = Math.max((d + 0.5) * ratio - 0.5, 0);
    let l = Math.floor(s);
    if (l >= src - 1) {
      l = src - 1;
      s = l;
    }
    lo[d] = l;
    hi[d] = Math.min(l + 1, src - 1);
    w[d] = s - l;
  }
  return { lo, hi, w };
}

const tapCache = new Map<string, Taps>();

function cachedTaps(src: number, dst: number): Taps {
  const key = `${src}>${dst}`;
  let taps = tapCache.get(key);
  if (!taps) {
    if (tapCache.size > 64) tapCache.clear();
    taps = linearTaps(src, dst);
    tapCache.set(key, taps);
  }
  return taps;
}

/**
 * Calls `write(x, y, r, g, b)` for every destination pixel of `image` resized to
 * `width`×`height`. Exact halving takes the trainer's integer fast path (mean of each 2×2
 * block, rounded half up); everything else the float32 bilinear path.
 */
function resizeEach(
  image: RgbImage,
  width: number,
  height: number,
  write: (index: number, r: number, g: number, b: number) => void,
): void {
  const { width: sw, height: sh, data } = image;
  if (sw === width && sh === height) {
    for (let i = 0, p = 0; i < width * height; i++, p += 3) {
      write(i, data[p] ?? 0, data[p + 1] ?? 0, data[p + 2] ?? 0);
    }
    return;
  }
  if (sw === 2 * width && sh === 2 * height) {
    const stride = sw * 3;
    for (let y = 0; y < height; y++) {
      let top = 2 * y * stride;
      let i = y * width;
      for (let x = 0; x < width; x++, top += 6, i++) {
        const bottom = top + stride;
        write(
          i,
          ((data[top] ?? 0) +
            (data[top + 3] ?? 0) +
            (data[bottom] ?? 0) +
            (data[bottom + 3] ?? 0) +
            2) >>
            2,
          ((data[top + 1] ?? 0) +
            (data[top + 4] ?? 0) +
            (data[bottom + 1] ?? 0) +
            (data[bottom + 4] ?? 0) +
            2) >>
            2,
          ((data[top + 2] ?? 0) +
            (data[top + 5] ?? 0) +
            (data[bottom + 2] ?? 0) +
            (data[bottom + 5] ?? 0) +
            2) >>
            2,
        );
      }
    }
    return;
  }
  const ty = cachedTaps(sh, height);
  const tx = cachedTaps(sw, width);
  const stride = sw * 3;
  // One interpolated source row per destination row: rows[x * 3 + c] in float32.
  const row = new Float32Array(sw * 3);
  for (let y = 0; y < height; y++) {
    const fy = ty.w[y] ?? 0;
    const wy0 = f32(1 - fy);
    const r0 = (ty.lo[y] ?? 0) * stride;
    const r1 = (ty.hi[y] ?? 0) * stride;
    for (let k = 0; k < stride; k++) {
      row[k] = f32(f32((data[r0 + k] ?? 0) * wy0) + f32((data[r1 + k] ?? 0) * fy));
    }
    let i = y * width;
    for (let x = 0; x < width; x++, i++) {
      const fx = tx.w[x] ?? 0;
      const wx0 = f32(1 - fx);
      const c0 = (tx.lo[x] ?? 0) * 3;
      const c1 = (tx.hi[x] ?? 0) * 3;
      write(
        i,
        round255(f32(f32((row[c0] ?? 0) * wx0) + f32((row[c1] ?? 0) * fx))),
        round255(f32(f32((row[c0 + 1] ?? 0) * wx0) + f32((row[c1 + 1] ?? 0) * fx))),
        round255(f32(f32((row[c0 + 2] ?? 0) * wx0) + f32((row[c1 + 2] ?? 0) * fx))),
      );
    }
  }
}

/** numpy: floor(out + 0.5) in float32, clipped to 0..255. */
function round255(value: number): number {
  const rounded = Math.floor(f32(value + 0.5));
  return rounded < 0 ? 0 : rounded > 255 ? 255 : rounded;
}

/** Resizes an RGB image (INTER_LINEAR, see the module header) into a new image. */
export function resizeBilinear(image: RgbImage, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  resizeEach(image, width, height, (i, r, g, b) => {
    const p = i * 3;
    out[p] = r;
    out[p + 1] = g;
    out[p + 2] = b;
  });
  return { width, height, data: out };
}

export interface TensorPlacement {
  /** Size of the resized content. */
  resizedWidth: number;
  resizedHeight: number;
  /** Offset of the content in the network input. */
  padLeft: number;
  padTop: number;
  inputWidth: number;
  inputHeight: number;
}

/**
 * Resizes `image` straight into a CHW float32 tensor in 0..1 at the placement's offset (no
 * intermediate image). The padding around it is not touched.
 */
export function resizeIntoTensor(
  image: RgbImage,
  placement: TensorPlacement,
  tensor: Float32Array,
): void {
  const { resizedWidth, resizedHeight, padLeft, padTop, inputWidth, inputHeight } = placement;
  const plane = inputWidth * inputHeight;
  const inv = 1 / 255;
  resizeEach(image, resizedWidth, resizedHeight, (i, r, g, b) => {
    const y = Math.floor(i / resizedWidth);
    const x = i - y * resizedWidth;
    const d = (y + padTop) * inputWidth + x + padLeft;
    tensor[d] = r * inv;
    tensor[d + plane] = g * inv;
    tensor[d + 2 * plane] = b * inv;
  });
}
