/**
 * JPEG compression artefacts without an encoder: the lossy half of baseline JPEG (YCbCr, 4:2:0
 * chroma subsampling, 8×8 DCT, quantisation with the standard tables scaled by quality as
 * libjpeg does). Entropy coding is lossless, so this reproduces what a real round trip does to
 * the pixels, synchronously, which the camera's synchronous `frame()` needs.
 */

// ITU T.81 Annex K tables, row-major.
const LUMA_TABLE = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
  14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
  92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_TABLE = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
  47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

function scaledTable(base: number[], quality: number): Float32Array {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? 5000 / q : 200 - 2 * q;
  const table = new Float32Array(64);
  for (let i = 0; i < 64; i++) {
    table[i] = Math.min(255, Math.max(1, Math.floor(((base[i] ?? 1) * scale + 50) / 100)));
  }
  return table;
}

// AAN (Arai–Agui–Nakajima) scaled float DCT, as libjpeg's jfdctflt.c / jidctflt.c: 5
// multiplications per 8-point pass instead of 64. Its scale factors are folded into the tables.
const AAN_SCALE = [
  1, 1.387039845, 1.306562965, 1.175875602, 1, 0.785694958, 0.5411961, 0.275899379,
];

interface QuantTables {
  /** Multiplier from AAN forward output to the quantisation index. */
  forward: Float32Array;
  /** Multiplier from quantisation index to AAN inverse input. */
  inverse: Float32Array;
}

function aanTables(table: Float32Array): QuantTables {
  const forward = new Float32Array(64);
  const inverse = new Float32Array(64);
  for (let v = 0; v < 8; v++) {
    for (let u = 0; u < 8; u++) {
      const s = AAN_SCALE[v]! * AAN_SCALE[u]!;
      forward[v * 8 + u] = 1 / (table[v * 8 + u]! * s * 8);
      inverse[v * 8 + u] = (table[v * 8 + u]! * s) / 8;
    }
  }
  return { forward, inverse };
}

const block = new Float32Array(64);

function forwardPass(offset: number, step: number): void {
  const b = block;
  const i0 = offset;
  const i1 = offset + step;
  const i2 = offset + 2 * step;
  const i3 = offset + 3 * step;
  const i4 = offset + 4 * step;
  const i5 = offset + 5 * step;
  const i6 = offset + 6 * step;
  const i7 = offset + 7 * step;
  const tmp0 = b[i0]! + b[i7]!;
  const tmp7 = b[i0]! - b[i7]!;
  const tmp1 = b[i1]! + b[i6]!;
  const tmp6 = b[i1]! - b[i6]!;
  const tmp2 = b[i2]! + b[i5]!;
  const tmp5 = b[i2]! - b[i5]!;
  const tmp3 = b[i3]! + b[i4]!;
  const tmp4 = b[i3]! - b[i4]!;
  let tmp10 = tmp0 + tmp3;
  const tmp13 = tmp0 - tmp3;
  let tmp11 = tmp1 + tmp2;
  let tmp12 = tmp1 - tmp2;
  b[i0] = tmp10 + tmp11;
  b[i4] = tmp10 - tmp11;
  const z1 = (tmp12 + tmp13) * 0.707106781;
  b[i2] = tmp13 + z1;
  b[i6] = tmp13 - z1;
  tmp10 = tmp4 + tmp5;
  tmp11 = tmp5 + tmp6;
  tmp12 = tmp6 + tmp7;
  const z5 = (tmp10 - tmp12) * 0.382683433;
  const z2 = 0.5411961 * tmp10 + z5;
  const z4 = 1.306562965 * tmp12 + z5;
  const z3 = tmp11 * 0.707106781;
  const z11 = tmp7 + z3;
  const z13 = tmp7 - z3;
  b[i5] = z13 + z2;
  b[i3] = z13 - z2;
  b[i1] = z11 + z4;
  b[i7] = z11 - z4;
}

function inversePass(offset: number, step: number): void {
  const b = block;
  const i0 = offset;
  const i1 = offset + step;
  const i2 = offset + 2 * step;
  const i3 = offset + 3 * step;
  const i4 = offset + 4 * step;
  const i5 = offset + 5 * step;
  const i6 = offset + 6 * step;
  const i7 = offset + 7 * step;
  let tmp0 = b[i0]!;
  let tmp1 = b[i2]!;
  let tmp2 = b[i4]!;
  let tmp3 = b[i6]!;
  let tmp10 = tmp0 + tmp2;
  let tmp11 = tmp0 - tmp2;
  const tmp13 = tmp1 + tmp3;
  let tmp12 = (tmp1 - tmp3) * 1.414213562 - tmp13;
  tmp0 = tmp10 + tmp13;
  tmp3 = tmp10 - tmp13;
  tmp1 = tmp11 + tmp12;
  tmp2 = tmp11 - tmp12;
  const tmp4 = b[i1]!;
  const tmp5 = b[i3]!;
  const tmp6 = b[i5]!;
  const tmp7 = b[i7]!;
  const z13 = tmp6 + tmp5;
  const z10 = tmp6 - tmp5;
  const z11 = tmp4 + tmp7;
  const z12 = tmp4 - tmp7;
  const t7 = z11 + z13;
  tmp11 = (z11 - z13) * 1.414213562;
  const z5 = (z10 + z12) * 1.847759065;
  tmp10 = 1.0823922 * z12 - z5;
  tmp12 = -2.61312593 * z10 + z5;
  const t6 = tmp12 - t7;
  const t5 = tmp11 - t6;
  const t4 = tmp10 + t5;
  b[i0] = tmp0 + t7;
  b[i7] = tmp0 - t7;
  b[i1] = tmp1 + t6;
  b[i6] = tmp1 - t6;
  b[i2] = tmp2 + t5;
  b[i5] = tmp2 - t5;
  b[i4] = tmp3 + t4;
  b[i3] = tmp3 - t4;
}

/** Forward DCT, quantise, inverse DCT of `block` in place. */
function quantiseBlock(tables: QuantTables): void {
  for (let row = 0; row < 64; row += 8) forwardPass(row, 1);
  for (let column = 0; column < 8; column++) forwardPass(column, 8);
  const { forward, inverse } = tables;
  for (let i = 0; i < 64; i++) block[i] = Math.round(block[i]! * forward[i]!) * inverse[i]!;
  for (let column = 0; column < 8; column++) inversePass(column, 8);
  for (let row = 0; row < 64; row += 8) inversePass(row, 1);
}

function quantisePlane(
  plane: Float32Array,
  width: number,
  height: number,
  tables: QuantTables,
): void {
  for (let by = 0; by < height; by += 8) {
    for (let bx = 0; bx < width; bx += 8) {
      const inside = bx + 8 <= width && by + 8 <= height;
      if (inside) {
        for (let y = 0; y < 8; y++) {
          const row = (by + y) * width + bx;
          for (let x = 0; x < 8; x++) block[y * 8 + x] = plane[row + x]!;
        }
      } else {
        // Edge blocks repeat the last row/column, as encoders pad partial blocks.
        for (let y = 0; y < 8; y++) {
          const row = Math.min(height - 1, by + y) * width;
          for (let x = 0; x < 8; x++) block[y * 8 + x] = plane[row + Math.min(width - 1, bx + x)]!;
        }
      }
      quantiseBlock(tables);
      for (let y = 0; y < 8 && by + y < height; y++) {
        const row = (by + y) * width + bx;
        for (let x = 0; x < 8 && bx + x < width; x++) plane[row + x] = block[y * 8 + x]!;
      }
    }
  }
}

let luma = new Float32Array(0);
let cb = new Float32Array(0);
let cr = new Float32Array(0);

/** Applies JPEG artefacts of `quality` (1..100) to interleaved 8-bit RGB in place. */
export function applyJpegArtifacts(
  rgb: Uint8Array,
  width: number,
  height: number,
  quality: number,
): void {
  const cw = (width + 1) >> 1;
  const ch = (height + 1) >> 1;
  if (luma.length !== width * height) luma = new Float32Array(width * height);
  if (cb.length !== cw * ch) {
    cb = new Float32Array(cw * ch);
    cr = new Float32Array(cw * ch);
  }
  cb.fill(0);
  cr.fill(0);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const r = rgb[i]!;
      const g = rgb[i + 1]!;
      const b = rgb[i + 2]!;
      luma[y * width + x] = 0.299 * r + 0.587 * g + 0.114 * b - 128;
      const c = (y >> 1) * cw + (x >> 1);
      cb[c] = cb[c]! + (-0.168736 * r - 0.331264 * g + 0.5 * b) * 0.25;
      cr[c] = cr[c]! + (0.5 * r - 0.418688 * g - 0.081312 * b) * 0.25;
    }
  }
  // Odd sizes: edge chroma cells received fewer than four samples.
  if (width % 2 === 1 || height % 2 === 1) {
    for (let y = 0; y < ch; y++) {
      for (let x = 0; x < cw; x++) {
        const n = (2 * x + 1 < width ? 2 : 1) * (2 * y + 1 < height ? 2 : 1);
        if (n < 4) {
          cb[y * cw + x] = (cb[y * cw + x]! * 4) / n;
          cr[y * cw + x] = (cr[y * cw + x]! * 4) / n;
        }
      }
    }
  }
  quantisePlane(luma, width, height, aanTables(scaledTable(LUMA_TABLE, quality)));
  const chromaTable = aanTables(scaledTable(CHROMA_TABLE, quality));
  quantisePlane(cb, cw, ch, chromaTable);
  quantisePlane(cr, cw, ch, chromaTable);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const Y = luma[y * width + x]! + 128;
      const c = (y >> 1) * cw + (x >> 1);
      const u = cb[c]!;
      const v = cr[c]!;
      const i = (y * width + x) * 3;
      const r = Y + 1.402 * v;
      const g = Y - 0.344136 * u - 0.714136 * v;
      const b = Y + 1.772 * u;
      rgb[i] = r < 0 ? 0 : r > 255 ? 255 : r + 0.5;
      rgb[i + 1] = g < 0 ? 0 : g > 255 ? 255 : g + 0.5;
      rgb[i + 2] = b < 0 ? 0 : b > 255 ? 255 : b + 0.5;
    }
  }
}
