/**
 * A cheap embedding of a frame for diversity (novelty) sampling, and the distance between two:
 * - the frame's layout: a 16×12 area-averaged gray thumbnail, normalized to zero mean and unit
 *   variance, so two frames of the same scene under dim and bright light look alike and two
 *   frames showing different parts (or the same parts moved) do not;
 * - its light: mean brightness and contrast of the thumbnail (before normalization), so a frame
 *   under new conditions is far from every frame sampled under the old ones.
 *
 * novelty(a, b) is in 0..1: the larger of the layout distance √((1 − r)/2) (r: correlation of
 * the thumbnails; 0 for identical, ≈0.7 for unrelated, 1 for inverted) and the light distance
 * (|ln| of the brightness or contrast ratio, per ln 2: a doubling or halving of either counts
 * fully). Pure and allocation-light: ~0.3 ms for a 640×480 frame.
 */
import type { RgbImage } from '../../vision/image.js';
import { grayGrid } from '../../vision/phash.js';

export const EMBEDDING_GRID_WIDTH = 16;
export const EMBEDDING_GRID_HEIGHT = 12;

export interface FrameEmbedding {
  /** The normalized thumbnail (zero mean, unit variance; all zeros for a flat frame). */
  layout: Float32Array;
  /** Mean gray level of the thumbnail, 0..255. */
  brightness: number;
  /** Standard deviation of the thumbnail's gray levels. */
  contrast: number;
}

/** The frame's embedding (see the module comment). */
export function embedFrame(image: RgbImage): FrameEmbedding {
  const grid = grayGrid(image, EMBEDDING_GRID_WIDTH, EMBEDDING_GRID_HEIGHT);
  return embeddingOfGrid(grid);
}

/** The embedding of an already computed gray grid (exported for tests). */
export function embeddingOfGrid(grid: ArrayLike<number>): FrameEmbedding {
  const n = grid.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += grid[i]!;
  const mean = n > 0 ? sum / n : 0;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (grid[i]! - mean) ** 2;
  const std = n > 0 ? Math.sqrt(squares / n) : 0;
  const layout = new Float32Array(n);
  // A flat frame has no layout to compare; its light still counts.
  if (std > 1e-6) for (let i = 0; i < n; i++) layout[i] = (grid[i]! - mean) / std;
  return { layout, brightness: mean, contrast: std };
}

/** Gray levels below this are treated as this, so a ratio of two near-black frames stays finite. */
const LIGHT_FLOOR = 2;

function lightDistance(a: number, b: number): number {
  return Math.abs(Math.log(Math.max(a, LIGHT_FLOOR) / Math.max(b, LIGHT_FLOOR))) / Math.LN2;
}

/** How new `a` is against `b`, 0..1 (see the module comment). */
export function novelty(a: FrameEmbedding, b: FrameEmbedding): number {
  const n = Math.min(a.layout.length, b.layout.length);
  let layout = 0;
  if (n > 0) {
    let dot = 0;
    for (let i = 0; i < n; i++) dot += a.layout[i]! * b.layout[i]!;
    // Normalized thumbnails: dot / n is their correlation (0 when either is flat).
    const r = Math.max(-1, Math.min(1, dot / n));
    layout = Math.sqrt((1 - r) / 2);
  }
  const light = Math.max(
    lightDistance(a.brightness, b.brightness),
    lightDistance(a.contrast, b.contrast),
  );
  return Math.min(1, Math.max(layout, light));
}

/** Novelty against the nearest of `others` (1 when there are none): the k-center distance. */
export function noveltyAgainst(
  embedding: FrameEmbedding,
  others: Iterable<FrameEmbedding>,
): number {
  let nearest = 1;
  for (const other of others) {
    const d = novelty(embedding, other);
    if (d < nearest) nearest = d;
    if (nearest === 0) break;
  }
  return nearest;
}
