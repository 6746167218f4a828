import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../vision/image.js';
import { computeLetterbox } from '../vision/letterbox.js';
import { resizeBilinear } from '../vision/resize.js';
import { letterboxToTensor } from './preprocess.js';

interface GoldenCase {
  sourceWidth: number;
  sourceHeight: number;
  inputSize: number;
  letterbox: { resizedWidth: number; resizedHeight: number; padLeft: number; padTop: number };
  contentSha256: string;
  contentHead: number[];
}

// Written by the trainer's own preprocessing: test/fixtures/preprocess/make-golden.py.
const golden = JSON.parse(
  readFileSync(new URL('../../test/fixtures/preprocess/golden.json', import.meta.url), 'utf8'),
) as { cases: GoldenCase[] };

/** The same formula as make-golden.py's `source`. */
function source(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        data[(y * width + x) * 3 + c] =
          (x * 7 + y * 13 + c * 29 + ((x * y) % 17) + ((x ^ y) & 31) * c) % 256;
      }
    }
  }
  return { width, height, data };
}

describe('preprocessing matches the trainer byte for byte', () => {
  for (const c of golden.cases) {
    it(`${c.sourceWidth}×${c.sourceHeight} → ${c.inputSize}×${c.inputSize}`, () => {
      const transform = computeLetterbox(c.sourceWidth, c.sourceHeight, c.inputSize, c.inputSize);
      expect({
        resizedWidth: transform.resizedWidth,
        resizedHeight: transform.resizedHeight,
        padLeft: transform.padLeft,
        padTop: transform.padTop,
      }).toEqual(c.letterbox);
      const content = resizeBilinear(
        source(c.sourceWidth, c.sourceHeight),
        transform.resizedWidth,
        transform.resizedHeight,
      );
      expect(Array.from(content.data.subarray(0, c.contentHead.length))).toEqual(c.contentHead);
      expect(createHash('sha256').update(content.data).digest('hex')).toBe(c.contentSha256);
    });
  }
});

describe('letterboxToTensor', () => {
  it('writes CHW floats with gray 114 padding around the resized frame', () => {
    const image: RgbImage = { width: 4, height: 2, data: new Uint8Array(4 * 2 * 3).fill(255) };
    image.data[0] = 0; // top-left pixel red channel
    const tensor = new Float32Array(3 * 4 * 4);
    const transform = letterboxToTensor(image, 4, 4, tensor);
    expect(transform).toMatchObject({ resizedWidth: 4, resizedHeight: 2, padLeft: 0, padTop: 1 });
    const pad = 114 / 255;
    // Row 0 and row 3 are padding in every channel; rows 1–2 hold the image.
    for (let c = 0; c < 3; c++) {
      for (let x = 0; x < 4; x++) {
        expect(tensor[c * 16 + x]).toBeCloseTo(pad, 6);
        expect(tensor[c * 16 + 12 + x]).toBeCloseTo(pad, 6);
      }
    }
    expect(tensor[4]).toBe(0); // red plane, row 1, x 0
    expect(tensor[5]).toBeCloseTo(1, 6);
    expect(tensor[16 + 4]).toBeCloseTo(1, 6); // green plane
  });

  it('repaints the padding only when the geometry changes', () => {
    const tensor = new Float32Array(3 * 4 * 4);
    const wide: RgbImage = { width: 4, height: 2, data: new Uint8Array(24).fill(10) };
    const first = letterboxToTensor(wide, 4, 4, tensor);
    tensor[0] = 42; // a padding cell
    letterboxToTensor(wide, 4, 4, tensor, first);
    expect(tensor[0]).toBe(42);
    const tall: RgbImage = { width: 2, height: 4, data: new Uint8Array(24).fill(10) };
    letterboxToTensor(tall, 4, 4, tensor, first);
    expect(tensor[0]).toBeCloseTo(114 / 255, 6);
  });

  it('rejects a tensor of the wrong size', () => {
    const image: RgbImage = { width: 2, height: 2, data: new Uint8Array(12) };
    expect(() => letterboxToTensor(image, 4, 4, new Float32Array(10))).toThrow(/expected 48/);
  });
});
