/**
 * A 64-bit perceptual hash of a frame (dHash, "difference hash"), for near-duplicate
 * suppression in active-learning sampling: a static scene must not fill the labeling queue with
 * the same frame over and over.
 *
 * The frame is reduced to a 9×8 gray grid by exact area averaging (every pixel counts once,
 * with fractional weights at cell borders), then each of the 64 bits says whether a cell is
 * darker than its right-hand neighbour. Averaging ~4,000 pixels per cell (640×480) makes sensor
 * noise vanish, so the same scene gives the same bits; a part that moved by a tenth of the
 * frame, or another part, flips many. Two frames are near-duplicates when their hashes differ
 * in at most a few bits (Hamming distance).
 *
 * Pure: no I/O, no Node-only imports.
 */
import { VisionLoopError } from '../shared/errors.js';
import type { RgbImage } from './image.js';

/** A 64-bit hash as two unsigned 32-bit halves (numbers, so comparisons stay cheap). */
export interface PerceptualHash {
  hi: number;
  lo: number;
}

const GRID_WIDTH = 9;
const GRID_HEIGHT = 8;

/**
 * The mean gray level (Rec. 601 luma, 0..255) of each cell of a `gridWidth`×`gridHeight` grid
 * laid over the image, row-major. Exact area averaging: a source pixel straddling a cell
 * border contributes to both cells in proportion to its overlap.
 */
export function grayGrid(image: RgbImage, gridWidth: number, gridHeight: number): Float64Array {
  const { width, height, data } = image;
  if (data.length !== width * height * 3) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `an RGB image of ${width}×${height} needs ${width * height * 3} bytes, got ${data.length}`,
    );
  }
  // A source pixel may then straddle at most one cell border per axis.
  if (!(width >= gridWidth && height >= gridHeight)) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `the image (${width}×${height}) is smaller than the ${gridWidth}×${gridHeight} grid`,
    );
  }
  // Per source column: the cell it starts in and the share of it that belongs to that cell.
  const xCell = new Int32Array(width);
  const xShare = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    const start = (x * gridWidth) / width;
    const end = ((x + 1) * gridWidth) / width;
    const cell = Math.floor(start);
    xCell[x] = cell;
    xShare[x] = end <= cell + 1 ? 1 : (cell + 1 - start) / (end - start);
  }
  const rowSums = new Float64Array(gridWidth);
  const sums = new Float64Array(gridWidth * gridHeight);
  for (let y = 0; y < height; y++) {
    rowSums.fill(0);
    let p = y * width * 3;
    for (let x = 0; x < width; x++, p += 3) {
      const gray = 0.299 * data[p]! + 0.587 * data[p + 1]! + 0.114 * data[p + 2]!;
      const cell = xCell[x]!;
      const share = xShare[x]!;
      rowSums[cell] = rowSums[cell]! + gray * share;
      if (share < 1) rowSums[cell + 1] = rowSums[cell + 1]! + gray * (1 - share);
    }
    const start = (y * gridHeight) / height;
    const end = ((y + 1) * gridHeight) / height;
    const cell = Math.floor(start);
    const share = end <= cell + 1 ? 1 : (cell + 1 - start) / (end - start);
    for (let c = 0; c < gridWidth; c++) {
      sums[cell * gridWidth + c] = sums[cell * gridWidth + c]! + rowSums[c]! * share;
      if (share < 1) {
        sums[(cell + 1) * gridWidth + c] =
          sums[(cell + 1) * gridWidth + c]! + rowSums[c]! * (1 - share);
      }
    }
  }
  const cellArea = (width / gridWidth) * (height / gridHeight);
  for (let i = 0; i < sums.length; i++) sums[i] = sums[i]! / cellArea;
  return sums;
}

/** The 64-bit dHash of an image (see the module comment). Bit 63 is the top-left comparison. */
export function dHash(image: RgbImage): PerceptualHash {
  const grid = grayGrid(image, GRID_WIDTH, GRID_HEIGHT);
  let hi = 0;
  let lo = 0;
  let bit = 0;
  for (let y = 0; y < GRID_HEIGHT; y++) {
    for (let x = 0; x < GRID_WIDTH - 1; x++, bit++) {
      const darker = grid[y * GRID_WIDTH + x]! < grid[y * GRID_WIDTH + x + 1]! ? 1 : 0;
      if (bit < 32) hi = (hi << 1) | darker;
      else lo = (lo << 1) | darker;
    }
  }
  return { hi: hi >>> 0, lo: lo >>> 0 };
}

function popcount32(value: number): number {
  let v = value - ((value >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Bits in which two hashes differ: 0 (same) … 64. */
export function hammingDistance(a: PerceptualHash, b: PerceptualHash): number {
  return popcount32((a.hi ^ b.hi) >>> 0) + popcount32((a.lo ^ b.lo) >>> 0);
}

/** 16 lowercase hex digits. */
export function hashToHex(hash: PerceptualHash): string {
  return hash.hi.toString(16).padStart(8, '0') + hash.lo.toString(16).padStart(8, '0');
}

/** Parses 16 hex digits; throws INVALID_ARGUMENT otherwise. */
export function hashFromHex(text: string): PerceptualHash {
  if (!/^[0-9a-fA-F]{16}$/.test(text)) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `a perceptual hash is 16 hex digits, got '${text}'`,
    );
  }
  return { hi: Number.parseInt(text.slice(0, 8), 16), lo: Number.parseInt(text.slice(8), 16) };
}
