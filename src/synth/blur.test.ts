import { describe, expect, it } from 'vitest';
import { boxesForGauss, gaussianBlurRgb } from './blur.js';

/** A single bright pixel in the middle of a black width×height RGB float image. */
function impulse(width: number, height: number): Float32Array {
  const pixels = new Float32Array(width * height * 3);
  const centre = (Math.floor(height / 2) * width + Math.floor(width / 2)) * 3;
  pixels[centre] = 1;
  pixels[centre + 1] = 1;
  pixels[centre + 2] = 1;
  return pixels;
}

/** Total mass and horizontal variance of the red channel. */
function moments(pixels: Float32Array, width: number, height: number) {
  let mass = 0;
  let mx = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = pixels[(y * width + x) * 3]!;
      mass += v;
      mx += v * x;
    }
  }
  const cx = mx / mass;
  let variance = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) variance += pixels[(y * width + x) * 3]! * (x - cx) ** 2;
  }
  return { mass, variance: variance / mass };
}

describe('gaussianBlurRgb', () => {
  it.each([0.8, 2, 3.2, 6])('spreads an impulse to a Gaussian of sigma %s', (sigma) => {
    const width = 81;
    const height = 61;
    const pixels = impulse(width, height);
    gaussianBlurRgb(pixels, new Float32Array(pixels.length), width, height, sigma);
    const { mass, variance } = moments(pixels, width, height);
    expect(mass).toBeCloseTo(1, 4);
    expect(Math.sqrt(variance)).toBeGreaterThan(sigma * 0.85);
    expect(Math.sqrt(variance)).toBeLessThan(sigma * 1.15);
  });

  it('leaves the image alone for sigma below 0.25 and keeps flat images flat', () => {
    const pixels = impulse(20, 20);
    gaussianBlurRgb(pixels, new Float32Array(pixels.length), 20, 20, 0.2);
    expect(pixels).toEqual(impulse(20, 20));
    const flat = new Float32Array(30 * 20 * 3).fill(0.4);
    gaussianBlurRgb(flat, new Float32Array(flat.length), 30, 20, 4);
    for (const v of flat) expect(v).toBeCloseTo(0.4, 5);
  });

  it('chooses three odd box widths', () => {
    const boxes = boxesForGauss(3.2);
    expect(boxes).toHaveLength(3);
    for (const w of boxes) expect(w % 2).toBe(1);
  });
});
