/**
 * Defocus blur of an interleaved float RGB buffer: a separable Gaussian, approximated by three
 * box passes (running sums, O(1) per pixel) for large sigmas and a 5-tap kernel for small ones.
 * Edges clamp. Works in place through one scratch buffer of the same size.
 */

/** Box widths (odd) whose three-pass convolution approximates a Gaussian of `sigma` (Kutskir). */
export function boxesForGauss(sigma: number, passes = 3): number[] {
  const ideal = Math.sqrt((12 * sigma * sigma) / passes + 1);
  let lower = Math.floor(ideal);
  if (lower % 2 === 0) lower--;
  const upper = lower + 2;
  const m = Math.round(
    (12 * sigma * sigma - passes * lower * lower - 4 * passes * lower - 3 * passes) /
      (-4 * lower - 4),
  );
  const sizes: number[] = [];
  for (let i = 0; i < passes; i++) sizes.push(i < m ? lower : upper);
  return sizes;
}

function boxHorizontal(
  src: Float32Array,
  dst: Float32Array,
  width: number,
  height: number,
  radius: number,
): void {
  const norm = 1 / (2 * radius + 1);
  const last = width - 1;
  // Window edges leave the row only near its ends; the middle runs without clamping.
  const safeFrom = radius;
  const safeTo = width - radius - 1;
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    let r = 0;
    let g = 0;
    let b = 0;
    for (let k = -radius; k <= radius; k++) {
      const i = row + (k < 0 ? 0 : k > last ? last : k) * 3;
      r += src[i]!;
      g += src[i + 1]!;
      b += src[i + 2]!;
    }
    for (let x = 0; x < width; x++) {
      const o = row + x * 3;
      dst[o] = r * norm;
      dst[o + 1] = g * norm;
      dst[o + 2] = b * norm;
      if (x >= safeFrom && x < safeTo) {
        const a = o + (radius + 1) * 3;
        const s = o - radius * 3;
        r += src[a]! - src[s]!;
        g += src[a + 1]! - src[s + 1]!;
        b += src[a + 2]! - src[s + 2]!;
      } else {
        const addX = x + radius + 1;
        const subX = x - radius;
        const a = row + (addX > last ? last : addX) * 3;
        const s = row + (subX < 0 ? 0 : subX) * 3;
        r += src[a]! - src[s]!;
        g += src[a + 1]! - src[s + 1]!;
        b += src[a + 2]! - src[s + 2]!;
      }
    }
  }
}

function boxVertical(
  src: Float32Array,
  dst: Float32Array,
  width: number,
  height: number,
  radius: number,
  sums: Float32Array,
): void {
  const stride = width * 3;
  const norm = 1 / (2 * radius + 1);
  const last = height - 1;
  sums.fill(0);
  for (let k = -radius; k <= radius; k++) {
    const row = (k < 0 ? 0 : k > last ? last : k) * stride;
    for (let i = 0; i < stride; i++) sums[i] = sums[i]! + src[row + i]!;
  }
  for (let y = 0; y < height; y++) {
    const out = y * stride;
    const addY = y + radius + 1;
    const subY = y - radius;
    const add = (addY > last ? last : addY) * stride;
    const sub = (subY < 0 ? 0 : subY) * stride;
    for (let i = 0; i < stride; i++) {
      const s = sums[i]!;
      dst[out + i] = s * norm;
      sums[i] = s + src[add + i]! - src[sub + i]!;
    }
  }
}

function kernelHorizontal(
  src: Float32Array,
  dst: Float32Array,
  width: number,
  height: number,
  w1: number,
  w2: number,
): void {
  const w0 = 1 - 2 * w1 - 2 * w2;
  const stride = width * 3;
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    // Interior without clamping; the two pixels at each end clamp below.
    if (w2 === 0) {
      for (let i = row + 6; i < row + stride - 6; i++) {
        dst[i] = w0 * src[i]! + w1 * (src[i - 3]! + src[i + 3]!);
      }
    } else {
      for (let i = row + 6; i < row + stride - 6; i++) {
        dst[i] = w0 * src[i]! + w1 * (src[i - 3]! + src[i + 3]!) + w2 * (src[i - 6]! + src[i + 6]!);
      }
    }
    for (const x of [0, 1, width - 2, width - 1]) {
      if (x < 0 || x >= width) continue;
      const xm1 = Math.max(0, x - 1);
      const xm2 = Math.max(0, x - 2);
      const xp1 = Math.min(width - 1, x + 1);
      const xp2 = Math.min(width - 1, x + 2);
      for (let c = 0; c < 3; c++) {
        dst[row + x * 3 + c] =
          w0 * src[row + x * 3 + c]! +
          w1 * (src[row + xm1 * 3 + c]! + src[row + xp1 * 3 + c]!) +
          w2 * (src[row + xm2 * 3 + c]! + src[row + xp2 * 3 + c]!);
      }
    }
  }
}

function kernelVertical(
  src: Float32Array,
  dst: Float32Array,
  width: number,
  height: number,
  w1: number,
  w2: number,
): void {
  const w0 = 1 - 2 * w1 - 2 * w2;
  const stride = width * 3;
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    const m1 = Math.max(0, y - 1) * stride;
    const m2 = Math.max(0, y - 2) * stride;
    const p1 = Math.min(height - 1, y + 1) * stride;
    const p2 = Math.min(height - 1, y + 2) * stride;
    if (w2 === 0) {
      for (let i = 0; i < stride; i++) {
        dst[row + i] = w0 * src[row + i]! + w1 * (src[m1 + i]! + src[p1 + i]!);
      }
    } else {
      for (let i = 0; i < stride; i++) {
        dst[row + i] =
          w0 * src[row + i]! +
          w1 * (src[m1 + i]! + src[p1 + i]!) +
          w2 * (src[m2 + i]! + src[p2 + i]!);
      }
    }
  }
}

let sumsBuffer = new Float32Array(0);

/**
 * Blurs `pixels` (interleaved RGB floats, width×height) in place with a Gaussian of `sigma`
 * pixels, using `scratch` (same length) as working memory. Sigma < 0.25 is a no-op.
 */
export function gaussianBlurRgb(
  pixels: Float32Array,
  scratch: Float32Array,
  width: number,
  height: number,
  sigma: number,
): void {
  if (sigma < 0.25) return;
  if (sigma < 1.2) {
    const g1 = Math.exp(-1 / (2 * sigma * sigma));
    // Taps two pixels out matter only from sigma ≈ 0.7 on; below that 3 taps are exact enough.
    const g2 = sigma < 0.7 ? 0 : Math.exp(-4 / (2 * sigma * sigma));
    const total = 1 + 2 * g1 + 2 * g2;
    kernelHorizontal(pixels, scratch, width, height, g1 / total, g2 / total);
    kernelVertical(scratch, pixels, width, height, g1 / total, g2 / total);
    return;
  }
  if (sumsBuffer.length < width * 3) sumsBuffer = new Float32Array(width * 3);
  for (const size of boxesForGauss(sigma)) {
    const radius = (size - 1) / 2;
    if (radius < 1) continue;
    boxHorizontal(pixels, scratch, width, height, radius);
    boxVertical(scratch, pixels, width, height, radius, sumsBuffer);
  }
}
