import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../vision/image.js';
import { PRESETS, type Conditions, type PresetName } from './conditions.js';
import { rasterizeDefect } from './defect-raster.js';
import { sampleDefect } from './defects.js';
import { renderScene } from './render.js';
import { Rng, hashSeed } from './rng.js';
import { sampleScene, withoutDefects, type Scene } from './scene.js';

const quiet = (preset: PresetName): Conditions => ({ ...PRESETS[preset], noiseSigma: 0 });

function luminance(image: RgbImage): Float64Array {
  const out = new Float64Array(image.width * image.height);
  for (let i = 0; i < out.length; i++) {
    out[i] =
      0.299 * image.data[i * 3]! + 0.587 * image.data[i * 3 + 1]! + 0.114 * image.data[i * 3 + 2]!;
  }
  return out;
}

function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / values.length;
}

/** Mean absolute difference between horizontally and vertically adjacent pixels. */
function sharpness(image: RgbImage): number {
  const lum = luminance(image);
  let sum = 0;
  const { width, height } = image;
  for (let y = 0; y < height - 1; y++) {
    for (let x = 0; x < width - 1; x++) {
      const i = y * width + x;
      sum += Math.abs(lum[i + 1]! - lum[i]!) + Math.abs(lum[i + width]! - lum[i]!);
    }
  }
  return sum / ((width - 1) * (height - 1));
}

/** Sensor noise level: std of the difference of two renders that differ only in noise, /√2. */
function noiseLevel(scene: Scene, conditions: Conditions): number {
  const a = renderScene(scene, conditions, new Rng(1)).image.data;
  const b = renderScene(scene, conditions, new Rng(2)).image.data;
  let sq = 0;
  for (let i = 0; i < a.length; i++) sq += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sq / a.length / 2);
}

/** Largest channel difference per pixel between two images. */
function difference(a: RgbImage, b: RgbImage): Uint8Array {
  const out = new Uint8Array(a.width * a.height);
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.max(
      Math.abs(a.data[i * 3]! - b.data[i * 3]!),
      Math.abs(a.data[i * 3 + 1]! - b.data[i * 3 + 1]!),
      Math.abs(a.data[i * 3 + 2]! - b.data[i * 3 + 2]!),
    );
  }
  return out;
}

const scenes = [3, 8, 21, 34].map((seed) => sampleScene(hashSeed(seed, 99)));
const scene = scenes[0]!;

describe('renderScene', () => {
  it('is deterministic: same scene, conditions and rng → identical bytes', () => {
    const a = renderScene(scene, PRESETS.night, new Rng(5));
    const b = renderScene(scene, PRESETS.night, new Rng(5));
    expect(Buffer.from(a.image.data).equals(Buffer.from(b.image.data))).toBe(true);
    expect(a.objects).toEqual(b.objects);
    const c = renderScene(scene, PRESETS.night, new Rng(6));
    expect(Buffer.from(a.image.data).equals(Buffer.from(c.image.data))).toBe(false);
  });

  it('labels tight boxes inside the frame around what was drawn', () => {
    let checked = 0;
    for (const s of scenes) {
      const drawn = renderScene(s, quiet('nominal'), new Rng(1));
      const clean = renderScene(withoutDefects(s), quiet('nominal'), new Rng(1));
      const diff = difference(drawn.image, clean.image);
      const { width, height } = drawn.image;
      for (const { box } of drawn.objects) {
        expect(box.x1).toBeGreaterThanOrEqual(0);
        expect(box.y1).toBeGreaterThanOrEqual(0);
        expect(box.x2).toBeLessThanOrEqual(width);
        expect(box.y2).toBeLessThanOrEqual(height);
        expect(box.x2 - box.x1).toBeGreaterThan(0);
        expect(box.y2 - box.y1).toBeGreaterThan(0);
        const changed = (x: number, y: number) => diff[y * width + x]! >= 3;
        const rowTouches = (y: number) =>
          Array.from({ length: box.x2 - box.x1 }, (_, i) => changed(box.x1 + i, y)).some(Boolean);
        const colTouches = (x: number) =>
          Array.from({ length: box.y2 - box.y1 }, (_, i) => changed(x, box.y1 + i)).some(Boolean);
        expect(rowTouches(box.y1)).toBe(true);
        expect(rowTouches(box.y2 - 1)).toBe(true);
        expect(colTouches(box.x1)).toBe(true);
        expect(colTouches(box.x2 - 1)).toBe(true);
        // Just outside the box the surface is (almost) untouched by the defect.
        for (let x = box.x1; x < box.x2; x++) {
          if (box.y1 > 0) expect(diff[(box.y1 - 1) * width + x]).toBeLessThan(14);
          if (box.y2 < height) expect(diff[box.y2 * width + x]).toBeLessThan(14);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  });

  it('clips boxes at the frame edge and drops defects that are mostly outside', () => {
    const spec = sampleDefect('stain', new Rng(8));
    const patch = rasterizeDefect(spec);
    const boxWidth = patch.box.x2 - patch.box.x1;
    const place = (left: number): Scene => ({
      width: 640,
      height: 480,
      beltShift: 0,
      parts: [
        {
          index: 0,
          left,
          top: 20,
          length: 400,
          height: 440,
          textureU: 0,
          textureV: 0,
          brightness: 1,
          defects: [{ classId: 3, className: 'stain', spec, patch, x: 200, y: 200 }],
        },
      ],
    });
    // Where the defect's box starts in the frame for a given part position.
    const boxLeft = (left: number) => left + 200 + patch.left + patch.box.x1;
    const mostlyIn = -(boxLeft(0) + Math.round(boxWidth * 0.25));
    const mostlyOut = -(boxLeft(0) + Math.round(boxWidth * 0.8));
    const kept = renderScene(place(mostlyIn), quiet('nominal'), new Rng(1)).objects;
    expect(kept).toHaveLength(1);
    expect(kept[0]!.box.x1).toBe(0);
    expect(kept[0]!.box.x2).toBe(boxLeft(mostlyIn) + boxWidth);
    expect(renderScene(place(mostlyOut), quiet('nominal'), new Rng(1)).objects).toHaveLength(0);
  });

  it('night is darker, noisier and flatter than nominal, with defects still there', () => {
    const nominal = renderScene(scene, PRESETS.nominal, new Rng(1));
    const night = renderScene(scene, PRESETS.night, new Rng(1));
    const nominalMean = mean(luminance(nominal.image));
    const nightMean = mean(luminance(night.image));
    expect(nightMean).toBeLessThan(0.5 * nominalMean);
    expect(nightMean).toBeGreaterThan(20);
    expect(noiseLevel(scene, PRESETS.night)).toBeGreaterThan(
      2 * noiseLevel(scene, PRESETS.nominal),
    );
    // The same defects are labelled, and each still changes its pixels visibly.
    expect(night.objects).toEqual(nominal.objects);
    const clean = renderScene(withoutDefects(scene), quiet('night'), new Rng(1));
    const drawn = renderScene(scene, quiet('night'), new Rng(1));
    const diff = difference(drawn.image, clean.image);
    for (const { box } of night.objects) {
      let strongest = 0;
      for (let y = box.y1; y < box.y2; y++) {
        for (let x = box.x1; x < box.x2; x++) strongest = Math.max(strongest, diff[y * 640 + x]!);
      }
      expect(strongest).toBeGreaterThanOrEqual(4);
    }
  });

  it('blur lowers sharpness, glare saturates hot spots, new-material changes the colour', () => {
    const nominal = renderScene(scene, PRESETS.nominal, new Rng(1)).image;
    const blurred = renderScene(scene, PRESETS.blur, new Rng(1)).image;
    expect(sharpness(blurred)).toBeLessThan(0.6 * sharpness(nominal));

    const saturated = (image: RgbImage) =>
      luminance(image).filter((v) => v >= 250).length / (image.width * image.height);
    expect(saturated(nominal)).toBeLessThan(0.005);
    expect(saturated(renderScene(scene, PRESETS.glare, new Rng(1)).image)).toBeGreaterThan(0.05);

    const greenMinusRed = (image: RgbImage) => {
      let sum = 0;
      for (let i = 0; i < image.data.length; i += 3) sum += image.data[i + 1]! - image.data[i]!;
      return sum / (image.width * image.height);
    };
    expect(Math.abs(greenMinusRed(nominal))).toBeLessThan(4);
    expect(
      greenMinusRed(renderScene(scene, PRESETS['new-material'], new Rng(1)).image),
    ).toBeGreaterThan(20);
  });

  it('applies JPEG artefacts only below quality 98', () => {
    const lossless = renderScene(scene, quiet('nominal'), new Rng(1)).image;
    const same = renderScene(scene, { ...quiet('nominal'), jpegQuality: 99 }, new Rng(1)).image;
    const lossy = renderScene(scene, { ...quiet('nominal'), jpegQuality: 30 }, new Rng(1)).image;
    expect(Buffer.from(same.data).equals(Buffer.from(lossless.data))).toBe(true);
    expect(mean(difference(lossy, lossless))).toBeGreaterThan(1);
  });

  it('renders other frame sizes with defects scaled to the frame', () => {
    const small = sampleScene(hashSeed(3, 99), 320, 240);
    const result = renderScene(small, PRESETS.nominal, new Rng(1));
    expect(result.image.data).toHaveLength(320 * 240 * 3);
    for (const { box } of result.objects) {
      expect(box.x2).toBeLessThanOrEqual(320);
      expect(box.y2).toBeLessThanOrEqual(240);
    }
  });
});
