import { describe, expect, it } from 'vitest';
import {
  largestComponent,
  maskAreaInFrame,
  maskOutlineInFrame,
  polygonArea,
  simplifyClosedPolygon,
  traceOuterBoundary,
} from './mask-geometry.js';
import type { BinaryMask } from './stage-outputs.js';

function maskFrom(rows: string[]): BinaryMask {
  const height = rows.length;
  const width = rows[0]!.length;
  const data = new Uint8Array(width * height);
  rows.forEach((row, y) => [...row].forEach((c, x) => (data[y * width + x] = c === '#' ? 1 : 0)));
  return { width, height, data };
}

const crop = { x: 100, y: 50, width: 20, height: 10, scaleX: 2, scaleY: 1 };

describe('maskAreaInFrame', () => {
  it('scales the pixel count by the crop resize factors', () => {
    const mask = maskFrom(['#...', '##..', '....', '...#', '....']);
    // 4 of 4×5 mask pixels; the crop is 20×10 frame pixels: each mask pixel is 5 × 2.
    expect(maskAreaInFrame(mask, crop)).toBe(40);
  });
});

describe('traceOuterBoundary', () => {
  it('gives the 4 corners of a rectangle, clockwise', () => {
    const mask = maskFrom(['.....', '.###.', '.###.', '.....']);
    expect(traceOuterBoundary(mask.data, mask.width, mask.height)).toEqual([
      [1, 1],
      [4, 1],
      [4, 3],
      [1, 3],
    ]);
  });

  it('follows an L shape and ignores a hole', () => {
    const mask = maskFrom(['###.', '#.#.', '###.', '##..', '##..']);
    const corners = traceOuterBoundary(mask.data, mask.width, mask.height);
    expect(corners).toEqual([
      [0, 0],
      [3, 0],
      [3, 3],
      [2, 3],
      [2, 5],
      [0, 5],
    ]);
  });

  it('treats diagonal neighbours as separate (4-connectivity)', () => {
    const mask = maskFrom(['#.', '.#']);
    expect(traceOuterBoundary(mask.data, 2, 2)).toEqual([
      [0, 0],
      [1, 0],
      [1, 1],
      [0, 1],
    ]);
  });
});

describe('largestComponent', () => {
  it('keeps the biggest 4-connected component', () => {
    const mask = maskFrom(['##...', '##..#', '...##', '.....']);
    const largest = largestComponent(mask);
    expect(largest?.size).toBe(4);
    expect(Array.from(largest!.data.subarray(0, 5))).toEqual([1, 1, 0, 0, 0]);
    expect(largestComponent(maskFrom(['...']))).toBeNull();
  });
});

describe('simplifyClosedPolygon', () => {
  it('drops collinear points and caps the count', () => {
    const square = [
      [0, 0],
      [1, 0],
      [2, 0],
      [2, 2],
      [0, 2],
      [0, 1],
    ] as const;
    expect(simplifyClosedPolygon(square, 64)).toEqual([
      [0, 0],
      [2, 0],
      [2, 2],
      [0, 2],
    ]);
    const circle = Array.from({ length: 200 }, (_, i) => {
      const a = (i / 200) * 2 * Math.PI;
      return [50 + 40 * Math.cos(a), 50 + 40 * Math.sin(a)] as [number, number];
    });
    const simplified = simplifyClosedPolygon(circle, 64);
    expect(simplified).toHaveLength(64);
    const area = polygonArea(simplified.flat());
    expect(area / (Math.PI * 1600)).toBeGreaterThan(0.98);
  });
});

describe('maskOutlineInFrame', () => {
  it('maps the outline of the largest component to frame pixels', () => {
    const mask = maskFrom(['....', '.##.', '.##.', '....', '#...']);
    expect(maskOutlineInFrame(mask, crop)).toEqual([105, 52, 115, 52, 115, 56, 105, 56]);
    expect(maskOutlineInFrame(maskFrom(['..', '..']), crop)).toEqual([]);
  });

  it('keeps a disc outline within 64 points and close to its area', () => {
    const size = 120;
    const data = new Uint8Array(size * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if ((x + 0.5 - 60) ** 2 + (y + 0.5 - 60) ** 2 <= 50 ** 2) data[y * size + x] = 1;
      }
    }
    const mask = { width: size, height: size, data };
    const frameCrop = { x: 0, y: 0, width: 240, height: 240, scaleX: 2, scaleY: 2 };
    const outline = maskOutlineInFrame(mask, frameCrop);
    expect(outline.length / 2).toBeLessThanOrEqual(64);
    const area = maskAreaInFrame(mask, frameCrop);
    expect(Math.abs(polygonArea(outline) - area) / area).toBeLessThan(0.02);
  });
});
