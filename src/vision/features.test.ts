import { describe, expect, it } from 'vitest';
import { FEATURE_NAMES, type FrameFeatures } from '../shared/domain.js';
import { isVisionLoopError } from '../shared/errors.js';
import { computeFeatures, EDGE_MAGNITUDE_THRESHOLD, workingSize } from './features.js';
import type { RgbImage } from './image.js';

/** An image from gray levels (R = G = B), row by row. */
function grayImage(rows: number[][]): RgbImage {
  const height = rows.length;
  const width = rows[0]!.length;
  const data = new Uint8Array(width * height * 3);
  rows.forEach((row, y) =>
    row.forEach((v, x) => data.fill(v, (y * width + x) * 3, (y * width + x) * 3 + 3)),
  );
  return { width, height, data };
}

function rgbImage(width: number, height: number, pixels: [number, number, number][]): RgbImage {
  return { width, height, data: Uint8Array.from(pixels.flat()) };
}

function expectFeatures(actual: FrameFeatures, expected: FrameFeatures): void {
  for (const name of FEATURE_NAMES) expect(actual[name], name).toBeCloseTo(expected[name], 9);
}

/** Seeded standard normal (Box–Muller over mulberry32). */
function normal(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

describe('computeFeatures on hand-worked tiny images', () => {
  it('a 4×4 gray frame with one bright pixel', () => {
    const image = grayImage([
      [0, 0, 0, 0],
      [0, 0, 0, 0],
      [0, 0, 100, 0],
      [0, 0, 0, 0],
    ]);
    // Mean 100/16 = 6.25; E[x²] = 625, variance 625 − 6.25² = 585.9375.
    // Laplacian at the 4 interior pixels (x, y): (1,1) 0, (2,1) 100, (1,2) 100, (2,2) −400;
    //   mean −50, variance (0 + 1e4 + 1e4 + 1.6e5)/4 − 2500 = 42 500.
    // Immerkær responses: (1,1) 100, (2,1) −200, (1,2) −200, (2,2) 400; Σ|·| = 900;
    //   σ = √(π/2) · 900 / (6 · 2 · 2).
    // Sobel: (1,1) gx = gy = 100 → 141 > 100; (2,1) gy = 200; (1,2) gx = 200; (2,2) 0 → 3 of 4.
    expectFeatures(computeFeatures(image), {
      brightness: 6.25 / 255,
      contrast: Math.sqrt(585.9375) / 255,
      sharpness: 42_500,
      saturation: 0,
      noise: (Math.sqrt(Math.PI / 2) * 900) / 24,
      colorCast: 0,
      edgeDensity: 0.75,
    });
  });

  it('a 2×1 colour frame: saturation, colour cast, BT.601 gray', () => {
    const image = rgbImage(2, 1, [
      [255, 0, 0],
      [100, 100, 50],
    ]);
    // Gray: 0.299·255 = 76.245 and 29.9 + 58.7 + 5.7 = 94.3; std = |76.245 − 94.3| / 2.
    // Saturation: (255 − 0)/255 = 1 and (100 − 50)/100 = 0.5.
    // Channel means 177.5, 50, 25: differences 127.5, 25, −152.5.
    expectFeatures(computeFeatures(image), {
      brightness: 85.2725 / 255,
      contrast: 9.0275 / 255,
      sharpness: 0,
      saturation: 0.75,
      noise: 0,
      colorCast: Math.sqrt((127.5 ** 2 + 25 ** 2 + 152.5 ** 2) / 3) / 255,
      edgeDensity: 0,
    });
  });

  it('a constant frame: no contrast, sharpness, noise or edges; never NaN', () => {
    const pixels = Array.from({ length: 50 * 40 }, (): [number, number, number] => [30, 60, 90]);
    const features = computeFeatures(rgbImage(50, 40, pixels));
    expectFeatures(features, {
      brightness: (0.299 * 30 + 0.587 * 60 + 0.114 * 90) / 255,
      contrast: 0,
      sharpness: 0,
      saturation: 60 / 90,
      noise: 0,
      colorCast: Math.sqrt((30 ** 2 + 30 ** 2 + 60 ** 2) / 3) / 255,
      edgeDensity: 0,
    });
    expect(features.contrast).toBe(0);
    expect(features.sharpness).toBe(0);
    expect(features.noise).toBe(0);
  });

  it('a 1×1 frame and a black frame have defined values', () => {
    expectFeatures(computeFeatures(rgbImage(1, 1, [[200, 100, 0]])), {
      brightness: (0.299 * 200 + 0.587 * 100) / 255,
      contrast: 0,
      sharpness: 0,
      saturation: 1,
      noise: 0,
      colorCast: Math.sqrt((100 ** 2 + 100 ** 2 + 200 ** 2) / 3) / 255,
      edgeDensity: 0,
    });
    const black = computeFeatures(grayImage([[0, 0, 0]]));
    for (const name of FEATURE_NAMES) expect(black[name], name).toBe(0);
  });
});

describe('the working frame', () => {
  it('is workWidth wide with the aspect ratio kept, and never upscaled', () => {
    expect(workingSize(640, 480)).toEqual({ width: 160, height: 120 });
    expect(workingSize(1920, 1080)).toEqual({ width: 160, height: 90 });
    expect(workingSize(100, 80)).toEqual({ width: 100, height: 80 });
    expect(workingSize(5, 1, 2)).toEqual({ width: 2, height: 1 });
  });

  it('averages 2×2 blocks when halving', () => {
    // Blocks (2×2) of the top half average 60, 0, 100, 20; the bottom half is black.
    const image = grayImage([
      [0, 40, 0, 0, 100, 100, 0, 40],
      [80, 120, 0, 0, 100, 100, 40, 0],
      [0, 0, 0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0],
    ]);
    const features = computeFeatures(image, { workWidth: 4 });
    // Working frame 4×2: 60, 0, 100, 20 / 0, 0, 0, 0 → mean 22.5, E[x²] 1750.
    expect(features.brightness).toBeCloseTo(22.5 / 255, 9);
    expect(features.contrast).toBeCloseTo(Math.sqrt(1750 - 22.5 ** 2) / 255, 9);
  });

  it('bins uneven ratios whole pixels per cell (5 columns → 3 + 2)', () => {
    const features = computeFeatures(grayImage([[10, 20, 30, 100, 200]]), { workWidth: 2 });
    // Cells average (10 + 20 + 30)/3 = 20 and (100 + 200)/2 = 150.
    expect(features.brightness).toBeCloseTo(85 / 255, 9);
    expect(features.contrast).toBeCloseTo(65 / 255, 9);
  });

  it('gives the same answer after other frame sizes (no stale working buffers)', () => {
    let seed = 99;
    const make = (w: number, h: number): RgbImage => {
      const data = new Uint8Array(w * h * 3);
      for (let i = 0; i < data.length; i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        data[i] = seed >>> 24;
      }
      return { width: w, height: h, data };
    };
    const a = make(320, 240);
    const first = computeFeatures(a);
    computeFeatures(make(640, 480));
    computeFeatures(make(7, 3));
    expect(computeFeatures(a)).toEqual(first);
  });
});

describe('what the features respond to', () => {
  it('noise is measured at full resolution: σ = 8 reads ≈ 8, not the ≈ 2 a 4× downscale leaves', () => {
    const random = normal(42);
    const width = 640;
    const height = 480;
    const data = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height; p++) {
      const v = Math.max(0, Math.min(255, Math.round(128 + 8 * random())));
      data.fill(v, p * 3, p * 3 + 3);
    }
    const features = computeFeatures({ width, height, data });
    expect(features.noise).toBeGreaterThan(7.5);
    expect(features.noise).toBeLessThan(8.5);

    // The same frame box-averaged 4×4 first: the noise estimate drops by about 4.
    const small = new Uint8Array(160 * 120 * 3);
    for (let y = 0; y < 120; y++) {
      for (let x = 0; x < 160; x++) {
        let sum = 0;
        for (let dy = 0; dy < 4; dy++) {
          for (let dx = 0; dx < 4; dx++) sum += data[((y * 4 + dy) * width + x * 4 + dx) * 3]!;
        }
        small.fill(Math.round(sum / 16), (y * 160 + x) * 3, (y * 160 + x) * 3 + 3);
      }
    }
    const downscaled = computeFeatures({ width: 160, height: 120, data: small }).noise;
    expect(downscaled).toBeGreaterThan(1.5);
    expect(downscaled).toBeLessThan(2.5);
  });

  it('blur lowers sharpness and removes weak edges', () => {
    const size = 64;
    const sharp: number[][] = [];
    for (let y = 0; y < size; y++) {
      sharp.push(
        Array.from({ length: size }, (_, x) => (((x >> 3) + (y >> 3)) % 2 === 0 ? 40 : 80)),
      );
    }
    // 5×5 box blur of the checkerboard (clamped at the borders).
    const blurred = sharp.map((row, y) =>
      row.map((_, x) => {
        let sum = 0;
        for (let dy = -2; dy <= 2; dy++) {
          for (let dx = -2; dx <= 2; dx++) {
            const yy = Math.min(size - 1, Math.max(0, y + dy));
            const xx = Math.min(size - 1, Math.max(0, x + dx));
            sum += sharp[yy]![xx]!;
          }
        }
        return Math.round(sum / 25);
      }),
    );
    const a = computeFeatures(grayImage(sharp));
    const b = computeFeatures(grayImage(blurred));
    // 40-level steps: Sobel 160 at the two columns beside each edge of the sharp board; the
    // blur spreads each step over 5 pixels, about 8 levels per pixel, Sobel ≈ 32.
    expect(a.edgeDensity).toBeGreaterThan(0.4);
    expect(b.edgeDensity).toBe(0);
    expect(b.sharpness).toBeLessThan(a.sharpness / 5);
    expect(b.brightness).toBeCloseTo(a.brightness, 2);
  });

  it('counts as edges only Sobel magnitudes above the threshold (a 25-level step is the limit)', () => {
    expect(EDGE_MAGNITUDE_THRESHOLD).toBe(100);
    const step = (h: number): RgbImage =>
      grayImage(Array.from({ length: 5 }, () => [50, 50, 50 + h, 50 + h, 50 + h]));
    // A step of h gives gx = 4h at the two columns beside it: 2 × 3 of 9 interior pixels.
    expect(computeFeatures(step(25)).edgeDensity).toBe(0);
    expect(computeFeatures(step(26)).edgeDensity).toBeCloseTo(6 / 9, 12);
  });
});

describe('computeFeatures input checks', () => {
  it('refuses images whose data does not match their size, and bad options', () => {
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (error) {
        return isVisionLoopError(error) ? error.code : 'other';
      }
      return undefined;
    };
    expect(code(() => computeFeatures({ width: 4, height: 4, data: new Uint8Array(47) }))).toBe(
      'IMAGE_INVALID',
    );
    expect(code(() => computeFeatures({ width: 0, height: 4, data: new Uint8Array(0) }))).toBe(
      'IMAGE_INVALID',
    );
    expect(code(() => computeFeatures(grayImage([[1]]), { workWidth: 0 }))).toBe(
      'INVALID_ARGUMENT',
    );
  });
});
