/**
 * Precomputed, tileable surface textures (brushed steel, green powder coat, belt rubber and a
 * mottle field for stains). Each tile stores the deviation from a flat surface (reflectance
 * factor − 1) and is generated once per process from a fixed seed; parts vary by sampling the
 * tile at their own offsets. Tiles are shared and must never be written after creation.
 */
import { Rng } from './rng.js';

export const TILE_WIDTH = 1024;
export const TILE_HEIGHT = 512;
export const TILE_X_MASK = TILE_WIDTH - 1;
export const TILE_Y_MASK = TILE_HEIGHT - 1;
export const TILE_SHIFT = 10; // log2(TILE_WIDTH)

export interface TextureTiles {
  /** Brushed steel: streaks along x, 1–2 px thick, with faint broad bands. */
  steel: Float32Array;
  /** Powder coat: isotropic grain, orange-peel waviness and sparse pits. */
  powder: Float32Array;
  /** Conveyor belt rubber: fine grain and transverse wear marks. */
  belt: Float32Array;
  /** Smooth isotropic noise with unit standard deviation, for mottling stains. */
  mottle: Float32Array;
}

/** Zero-mean, unit-variance noise; uniform rather than Gaussian (cheaper; blurring makes it Gaussian). */
function whiteNoise(rng: Rng): Float32Array {
  const tile = new Float32Array(TILE_WIDTH * TILE_HEIGHT);
  for (let i = 0; i < tile.length; i++) tile[i] = (rng.next() - 0.5) * 3.4641016;
  return tile;
}

/** In-place wrap-around box blur along x (radius r, window 2r+1). */
function blurX(tile: Float32Array, radius: number): void {
  if (radius <= 0) return;
  const row = new Float32Array(TILE_WIDTH);
  const norm = 1 / (2 * radius + 1);
  for (let y = 0; y < TILE_HEIGHT; y++) {
    const base = y * TILE_WIDTH;
    let sum = 0;
    for (let k = -radius; k <= radius; k++) sum += tile[base + (k & TILE_X_MASK)]!;
    for (let x = 0; x < TILE_WIDTH; x++) {
      row[x] = sum * norm;
      sum +=
        tile[base + ((x + radius + 1) & TILE_X_MASK)]! - tile[base + ((x - radius) & TILE_X_MASK)]!;
    }
    tile.set(row, base);
  }
}

/** In-place wrap-around box blur along y, row by row (cache-friendly running sums). */
function blurY(tile: Float32Array, radius: number): void {
  if (radius <= 0) return;
  const source = tile.slice();
  const sums = new Float32Array(TILE_WIDTH);
  const norm = 1 / (2 * radius + 1);
  for (let k = -radius; k <= radius; k++) {
    const row = (k & TILE_Y_MASK) << TILE_SHIFT;
    for (let x = 0; x < TILE_WIDTH; x++) sums[x] = sums[x]! + source[row + x]!;
  }
  for (let y = 0; y < TILE_HEIGHT; y++) {
    const out = y << TILE_SHIFT;
    const add = ((y + radius + 1) & TILE_Y_MASK) << TILE_SHIFT;
    const sub = ((y - radius) & TILE_Y_MASK) << TILE_SHIFT;
    for (let x = 0; x < TILE_WIDTH; x++) {
      const s = sums[x]!;
      tile[out + x] = s * norm;
      sums[x] = s + source[add + x]! - source[sub + x]!;
    }
  }
}

/** Scales the tile to zero mean and unit standard deviation. */
function normalise(tile: Float32Array): void {
  let sum = 0;
  for (const v of tile) sum += v;
  const mean = sum / tile.length;
  let sq = 0;
  for (const v of tile) sq += (v - mean) * (v - mean);
  const scale = 1 / Math.sqrt(sq / tile.length || 1);
  for (let i = 0; i < tile.length; i++) tile[i] = (tile[i]! - mean) * scale;
}

function smoothNoise(rng: Rng, radiusX: number, radiusY: number, passes = 2): Float32Array {
  const tile = whiteNoise(rng);
  for (let p = 0; p < passes; p++) {
    blurX(tile, radiusX);
    blurY(tile, radiusY);
  }
  normalise(tile);
  return tile;
}

function combine(parts: [Float32Array, number][]): Float32Array {
  const out = new Float32Array(TILE_WIDTH * TILE_HEIGHT);
  for (const [tile, weight] of parts) {
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + tile[i]! * weight;
  }
  return out;
}

function makeSteel(rng: Rng): Float32Array {
  const streaks = smoothNoise(rng, 40, 0);
  // Rows differ as a whole too (each pass of the brush), correlated over a couple of pixels.
  const rows = smoothNoise(rng, 400, 1, 1);
  const bands = smoothNoise(rng, 200, 24);
  const grain = whiteNoise(rng);
  return combine([
    [streaks, 0.07],
    [rows, 0.035],
    [bands, 0.03],
    [grain, 0.012],
  ]);
}

function makePowder(rng: Rng): Float32Array {
  const grain = smoothNoise(rng, 1, 1, 1);
  const peel = smoothNoise(rng, 5, 5);
  const mottle = smoothNoise(rng, 40, 40);
  const tile = combine([
    [grain, 0.045],
    [peel, 0.05],
    [mottle, 0.04],
  ]);
  // Sparse pale flecks in the coat (lighter, 1–2 px) – a feature steel never has.
  for (let i = 0; i < 2500; i++) {
    const x = rng.int(TILE_WIDTH);
    const y = rng.int(TILE_HEIGHT);
    const v = rng.uniform(0.06, 0.14);
    tile[(y << TILE_SHIFT) + x] = tile[(y << TILE_SHIFT) + x]! + v;
    if (rng.chance(0.5)) {
      const j = (y << TILE_SHIFT) + ((x + 1) & TILE_X_MASK);
      tile[j] = tile[j]! + v * 0.6;
    }
  }
  return tile;
}

function makeBelt(rng: Rng): Float32Array {
  const grain = smoothNoise(rng, 1, 1, 1);
  const wear = smoothNoise(rng, 1, 60);
  const blotches = smoothNoise(rng, 30, 30);
  return combine([
    [grain, 0.12],
    [wear, 0.1],
    [blotches, 0.08],
  ]);
}

let cached: TextureTiles | undefined;

/** The shared tiles, generated on first use (~0.1 s). */
export function textureTiles(): TextureTiles {
  if (!cached) {
    const rng = new Rng(0x5eed7e11);
    cached = {
      steel: makeSteel(rng),
      powder: makePowder(rng),
      belt: makeBelt(rng),
      mottle: smoothNoise(rng, 4, 4),
    };
  }
  return cached;
}
