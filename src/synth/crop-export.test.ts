import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import {
  CROP_CLASSES,
  SEVERITY_AREA_PX,
  cropMask,
  exportCrops,
  frameCrops,
  frameDefects,
  paddedCropBox,
  severityOf,
  type CropExportSummary,
} from './crop-export.js';
import { hashSeed } from './rng.js';
import { renderDatasetSample } from './samples.js';
import { sampleScene } from './scene.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'visionloop-crops-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<VisionLoopError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof VisionLoopError) return error;
    throw error;
  }
  throw new Error('expected a VisionLoopError');
}

describe('severity and geometry', () => {
  it('maps a defect area to minor / major / critical at the documented thresholds', () => {
    expect(SEVERITY_AREA_PX).toEqual({ major: 280, critical: 780 });
    expect(severityOf(32)).toBe('minor');
    expect(severityOf(279)).toBe('minor');
    expect(severityOf(280)).toBe('major');
    expect(severityOf(779)).toBe('major');
    expect(severityOf(780)).toBe('critical');
    expect(CROP_CLASSES.indexOf(severityOf(5000))).toBe(3);
  });

  it('pads a box by 15 % per side, rounds outwards and clips to the frame', () => {
    expect(paddedCropBox({ x1: 100, y1: 50, x2: 140, y2: 70 }, 0.15, 640, 480)).toEqual({
      x1: 94,
      y1: 47,
      x2: 146,
      y2: 73,
    });
    expect(paddedCropBox({ x1: 2, y1: 470, x2: 30, y2: 480 }, 0.15, 640, 480)).toEqual({
      x1: 0,
      y1: 468,
      x2: 35,
      y2: 480,
    });
  });

  it('resamples a frame mask into the crop grid exactly for a block-aligned square', () => {
    // A 10×10 frame, defect = the 4×4 block at (2..6, 2..6); crop (0,0)-(8,8) at 4×4: each
    // mask pixel covers 2×2 frame pixels, so defect pixels (1..3, 1..3) of the grid.
    const mask = new Uint8Array(100);
    for (let y = 2; y < 6; y++) for (let x = 2; x < 6; x++) mask[y * 10 + x] = 1;
    const out = cropMask(mask, 10, { x1: 0, y1: 0, x2: 8, y2: 8 }, 4);
    expect([...out]).toEqual([0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
  });
});

describe('frameDefects and frameCrops', () => {
  it('finds exactly the defects the renderer labels, with their boxes', () => {
    for (let index = 0; index < 6; index++) {
      const sample = renderDatasetSample(7, index, ['nominal']);
      const { labelled } = frameDefects(sampleScene(hashSeed(7, index, 0xda7a)));
      expect(labelled.map((d) => d.box)).toEqual(
        expect.arrayContaining(sample.objects.map((o) => o.box)),
      );
      expect(labelled).toHaveLength(sample.objects.length);
      for (const defect of labelled) {
        let count = 0;
        for (const v of defect.mask) count += v;
        expect(count).toBe(defect.areaPx);
      }
    }
  });

  it('cuts one crop per defect with its mask, then negatives clear of every defect', () => {
    const crops = frameCrops(7, 1, ['nominal'], 3, 32);
    const defects = crops.filter((c) => c.record.classId > 0);
    const negatives = crops.filter((c) => c.record.classId === 0);
    const sample = renderDatasetSample(7, 1, ['nominal']);
    expect(defects).toHaveLength(sample.objects.length);
    expect(negatives).toHaveLength(3);
    for (const crop of crops) {
      expect(crop.image.width).toBe(32);
      expect(crop.image.data).toHaveLength(32 * 32 * 3);
      expect(crop.mask).toHaveLength(32 * 32);
    }
    for (const crop of defects) {
      expect(crop.record.className).toBe(severityOf(crop.record.areaPx));
      expect(crop.record.maskPx).toBeGreaterThan(0);
      // A padded crop: the defect never fills the whole crop.
      expect(crop.record.maskPx).toBeLessThan(32 * 32);
    }
    const { all } = frameDefects(sampleScene(hashSeed(7, 1, 0xda7a)));
    for (const crop of negatives) {
      expect(crop.record.maskPx).toBe(0);
      expect(crop.mask.every((v) => v === 0)).toBe(true);
      const b = crop.record.box;
      const overlaps = all.some((d) => b.x1 < d.x2 && d.x1 < b.x2 && b.y1 < d.y2 && d.y1 < b.y2);
      expect(overlaps).toBe(false);
    }
    // Pure: the same arguments give the same pixels.
    expect(frameCrops(7, 1, ['nominal'], 3, 32)[0]!.image.data).toEqual(crops[0]!.image.data);
  });
});

describe('exportCrops', () => {
  let out: string;
  let summary: CropExportSummary;

  beforeAll(async () => {
    out = join(root, 'a');
    summary = await exportCrops({ outDir: out, count: 40, seed: 3, size: 32, valFraction: 0.3 });
  });

  it('writes the requested number of crops with raw arrays of matching sizes', async () => {
    expect(summary.train.count + summary.val.count).toBe(40);
    expect(summary.val.count).toBeGreaterThan(0);
    for (const split of ['train', 'val'] as const) {
      const n = summary[split].count;
      expect((await readFile(join(out, `${split}.images.u8`))).byteLength).toBe(n * 32 * 32 * 3);
      const masks = await readFile(join(out, `${split}.masks.u8`));
      expect(masks.byteLength).toBe(n * 32 * 32);
      expect(masks.every((v) => v === 0 || v === 1)).toBe(true);
      const lines = (await readFile(join(out, `${split}.jsonl`), 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(n);
      const perClass = Object.fromEntries(CROP_CLASSES.map((c) => [c, 0]));
      for (const line of lines) perClass[(JSON.parse(line) as { className: string }).className]!++;
      expect(perClass).toEqual(summary[split].perClass);
    }
    const meta = JSON.parse(await readFile(join(out, 'crops.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(meta.format).toBe('visionloop-crops-v1');
    expect(meta.size).toBe(32);
    expect(meta.names).toEqual([...CROP_CLASSES]);
  });

  it('keeps about one "not a defect" crop per three defects', () => {
    const negatives = summary.train.perClass.not_defect + summary.val.perClass.not_defect;
    expect(negatives).toBeGreaterThanOrEqual(8);
    expect(negatives).toBeLessThanOrEqual(14);
  });

  it('is deterministic and refuses to overwrite crops unless asked', async () => {
    const error = await rejection(exportCrops({ outDir: out, count: 40, seed: 3, size: 32 }));
    expect(error.code).toBe('CONFLICT');
    const again = join(root, 'b');
    await exportCrops({ outDir: again, count: 40, seed: 3, size: 32, valFraction: 0.3 });
    expect(await readFile(join(again, 'train.images.u8'))).toEqual(
      await readFile(join(out, 'train.images.u8')),
    );
    expect(await readFile(join(again, 'val.masks.u8'))).toEqual(
      await readFile(join(out, 'val.masks.u8')),
    );
  });

  it('names bad options', async () => {
    const dir = join(root, 'bad');
    expect((await rejection(exportCrops({ outDir: dir, count: 0 }))).message).toMatch(/count/);
    expect((await rejection(exportCrops({ outDir: dir, count: 5, size: 8 }))).message).toMatch(
      /crop size must be an integer in 16..256/,
    );
    expect(
      (await rejection(exportCrops({ outDir: dir, count: 5, presets: 'foggy' }))).message,
    ).toMatch(/unknown preset 'foggy'/);
  });
});
