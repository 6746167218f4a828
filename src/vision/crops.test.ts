import { describe, expect, it } from 'vitest';
import { isVisionLoopError } from '../shared/errors.js';
import { cropRectangle, packCrops, padBox } from './crops.js';
import { createRgbImage, type RgbImage } from './image.js';

function paint(image: RgbImage, x0: number, y0: number, x1: number, y1: number, rgb: number[]) {
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const p = (y * image.width + x) * 3;
      image.data[p] = rgb[0]!;
      image.data[p + 1] = rgb[1]!;
      image.data[p + 2] = rgb[2]!;
    }
  }
}

describe('padBox', () => {
  it('grows each side by padding × the side length and clips to the frame', () => {
    expect(padBox({ x1: 20, y1: 30, x2: 40, y2: 70 }, 0.1, 100, 100)).toEqual({
      x1: 18,
      y1: 26,
      x2: 42,
      y2: 74,
    });
    expect(padBox({ x1: 2, y1: 90, x2: 22, y2: 99 }, 0.5, 100, 100)).toEqual({
      x1: 0,
      y1: 85.5,
      x2: 32,
      y2: 100,
    });
  });

  it('rejects a negative padding', () => {
    try {
      padBox({ x1: 0, y1: 0, x2: 1, y2: 1 }, -0.1, 10, 10);
      expect.unreachable();
    } catch (error) {
      expect(isVisionLoopError(error) && error.code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('cropRectangle', () => {
  it('rounds outwards, clips, and keeps at least one pixel', () => {
    expect(cropRectangle({ x1: 10.4, y1: 5.6, x2: 20.2, y2: 9.1 }, 64, 48)).toEqual({
      x: 10,
      y: 5,
      width: 11,
      height: 5,
    });
    expect(cropRectangle({ x1: -5, y1: 40, x2: 70, y2: 60 }, 64, 48)).toEqual({
      x: 0,
      y: 40,
      width: 64,
      height: 8,
    });
    expect(cropRectangle({ x1: 64, y1: 48, x2: 64, y2: 48 }, 64, 48)).toEqual({
      x: 63,
      y: 47,
      width: 1,
      height: 1,
    });
  });
});

describe('packCrops', () => {
  it('packs each crop resized to S×S, CHW in 0..1, with its transform back to the frame', () => {
    const image = createRgbImage(64, 48, 0);
    paint(image, 0, 0, 32, 48, [255, 0, 0]);
    paint(image, 32, 0, 64, 48, [0, 0, 255]);
    const packed = packCrops(
      image,
      [
        { x1: 4, y1: 4, x2: 20, y2: 36 },
        { x1: 40, y1: 10, x2: 60, y2: 20 },
      ],
      8,
      8,
    );
    expect(packed.count).toBe(2);
    expect(packed.tensor.length).toBe(2 * 3 * 64);
    const plane = 64;
    // Crop 0 is all red, crop 1 all blue.
    expect(packed.tensor.subarray(0, plane).every((v) => v === 1)).toBe(true);
    expect(packed.tensor.subarray(plane, 3 * plane).every((v) => v === 0)).toBe(true);
    expect(packed.tensor.subarray(3 * plane, 5 * plane).every((v) => v === 0)).toBe(true);
    expect(packed.tensor.subarray(5 * plane, 6 * plane).every((v) => v === 1)).toBe(true);
    expect(packed.transforms).toEqual([
      { x: 4, y: 4, width: 16, height: 32, scaleX: 2, scaleY: 4 },
      { x: 40, y: 10, width: 20, height: 10, scaleX: 2.5, scaleY: 1.25 },
    ]);
  });

  it('resizes bilinearly: a half-dark crop halves into a half-dark tensor', () => {
    const image = createRgbImage(16, 16, 200);
    paint(image, 0, 0, 8, 16, [0, 0, 0]);
    const { tensor } = packCrops(image, [{ x1: 0, y1: 0, x2: 16, y2: 16 }], 8, 8);
    expect(tensor[0]).toBe(0);
    expect(tensor[3]).toBe(0);
    expect(tensor[4]).toBeCloseTo(200 / 255, 6);
  });

  it('reuses a buffer of the right length and rejects a malformed frame', () => {
    const image = createRgbImage(8, 8, 255);
    const reuse = new Float32Array(3 * 4 * 4);
    expect(packCrops(image, [{ x1: 0, y1: 0, x2: 8, y2: 8 }], 4, 4, reuse).tensor).toBe(reuse);
    try {
      packCrops({ width: 8, height: 8, data: new Uint8Array(10) }, [], 4, 4);
      expect.unreachable();
    } catch (error) {
      expect(isVisionLoopError(error) && error.code).toBe('IMAGE_INVALID');
    }
  });
});
