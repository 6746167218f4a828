import { describe, expect, it } from 'vitest';
import type { Box } from '../shared/domain.js';
import { isVisionLoopError } from '../shared/errors.js';
import {
  boxToInput,
  boxToSource,
  computeLetterbox,
  LETTERBOX_FILL,
  roundHalfEven,
} from './letterbox.js';

describe('roundHalfEven (Python round)', () => {
  it('rounds halves to the even neighbour and everything else to the nearest', () => {
    expect([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5].map(roundHalfEven)).toEqual([
      0, 2, 2, 4, 0, -2, -2,
    ]);
    expect([0.4, 0.6, 15.4, 15.9, -0.1, -0.6].map(roundHalfEven)).toEqual([0, 1, 15, 16, 0, -1]);
  });
});

describe('computeLetterbox', () => {
  it('fills 114 gray (Ultralytics)', () => {
    expect(LETTERBOX_FILL).toBe(114);
  });

  it('fits a 640×480 frame into 640×640 with 80 rows of padding above and below', () => {
    expect(computeLetterbox(640, 480, 640, 640)).toEqual({
      scale: 1,
      padLeft: 0,
      padTop: 80,
      resizedWidth: 640,
      resizedHeight: 480,
      inputWidth: 640,
      inputHeight: 640,
      sourceWidth: 640,
      sourceHeight: 480,
    });
  });

  it('downscales 1280×720 into 320×320: 320×180 with 70 rows of padding above', () => {
    expect(computeLetterbox(1280, 720, 320, 320)).toMatchObject({
      scale: 0.25,
      padLeft: 0,
      padTop: 70,
      resizedWidth: 320,
      resizedHeight: 180,
    });
  });

  it('pads a portrait frame left and right', () => {
    // 480×640 into 320×320: scale 0.5, 240×320, dw = 40 each side.
    expect(computeLetterbox(480, 640, 320, 320)).toMatchObject({
      padLeft: 40,
      padTop: 0,
      resizedWidth: 240,
      resizedHeight: 320,
    });
  });

  it('puts the odd padding pixel after the image, as round(d/2 − 0.1) does', () => {
    // 100×51 into 64×64: scale 0.64, height round(32.64) = 33, dh = 15.5 → top 15, bottom 16.
    const t = computeLetterbox(100, 51, 64, 64);
    expect(t).toMatchObject({ scale: 0.64, resizedWidth: 64, resizedHeight: 33, padTop: 15 });
    expect(t.inputHeight - t.resizedHeight - t.padTop).toBe(16);
  });

  it('rounds the resized size half to even, like Python', () => {
    // 5×8 into 4×4: scale 0.5, width round(2.5) = 2 (JavaScript's Math.round would give 3).
    expect(computeLetterbox(5, 8, 4, 4)).toMatchObject({ resizedWidth: 2, padLeft: 1 });
  });

  it('upscales a small frame', () => {
    expect(computeLetterbox(16, 8, 64, 64)).toMatchObject({
      scale: 4,
      resizedWidth: 64,
      resizedHeight: 32,
      padTop: 16,
    });
  });

  it('refuses sizes that are not positive integers', () => {
    const cases: [number, number, number, number][] = [
      [0, 10, 32, 32],
      [10, 10, -32, 32],
      [10.5, 10, 32, 32],
      [10, Number.NaN, 32, 32],
    ];
    for (const [sw, sh, iw, ih] of cases) {
      let error: unknown;
      try {
        computeLetterbox(sw, sh, iw, ih);
      } catch (e) {
        error = e;
      }
      expect(isVisionLoopError(error) && error.code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('boxToSource / boxToInput', () => {
  it('maps a box back through the padding and scale', () => {
    const t = computeLetterbox(640, 480, 320, 320); // scale 0.5, padTop 40
    expect(boxToSource({ x1: 10, y1: 50, x2: 110, y2: 90 }, t)).toEqual({
      x1: 20,
      y1: 20,
      x2: 220,
      y2: 100,
    });
    expect(boxToInput({ x1: 20, y1: 20, x2: 220, y2: 100 }, t)).toEqual({
      x1: 10,
      y1: 50,
      x2: 110,
      y2: 90,
    });
  });

  it('clips to the frame: padding and beyond map to the frame edge', () => {
    const t = computeLetterbox(640, 480, 320, 320);
    expect(boxToSource({ x1: -5, y1: 0, x2: 330, y2: 320 }, t)).toEqual({
      x1: 0,
      y1: 0,
      x2: 640,
      y2: 480,
    });
  });

  it('round-trips boxes inside the frame for many geometries', () => {
    const geometries: [number, number, number, number][] = [
      [640, 480, 640, 640],
      [640, 480, 320, 320],
      [1920, 1080, 640, 384],
      [100, 51, 64, 64],
      [37, 91, 32, 32],
      [5, 8, 4, 4],
    ];
    for (const [sw, sh, iw, ih] of geometries) {
      const t = computeLetterbox(sw, sh, iw, ih);
      const box: Box = { x1: sw * 0.1, y1: sh * 0.2, x2: sw * 0.7, y2: sh * 0.95 };
      const back = boxToSource(boxToInput(box, t), t);
      expect(back.x1).toBeCloseTo(box.x1, 9);
      expect(back.y1).toBeCloseTo(box.y1, 9);
      expect(back.x2).toBeCloseTo(box.x2, 9);
      expect(back.y2).toBeCloseTo(box.y2, 9);
      // The whole image area maps onto the whole frame.
      const image: Box = {
        x1: t.padLeft,
        y1: t.padTop,
        x2: t.padLeft + t.resizedWidth,
        y2: t.padTop + t.resizedHeight,
      };
      expect(boxToSource(image, t)).toEqual({ x1: 0, y1: 0, x2: sw, y2: sh });
    }
  });

  it('uses the rounded resize per axis, so the image edge maps to the frame edge exactly', () => {
    // 100×51 → 64×33: the y scale is 33/51, not 0.64.
    const t = computeLetterbox(100, 51, 64, 64);
    expect(boxToSource({ x1: 0, y1: 15, x2: 64, y2: 48 }, t)).toEqual({
      x1: 0,
      y1: 0,
      x2: 100,
      y2: 51,
    });
  });
});
