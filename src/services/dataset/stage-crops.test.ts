import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNTH_CLASSES } from '../../shared/domain.js';
import { frameDefects } from '../../synth/crop-export.js';
import { renderDatasetSample } from '../../synth/samples.js';
import { sampleScene } from '../../synth/scene.js';
import { hashSeed } from '../../synth/rng.js';
import { packCrops, padBox } from '../../vision/crops.js';
import type { RgbImage } from '../../vision/image.js';
import type { DatasetManifest, ManifestImage } from '../dataset-manifest.js';
import { MANIFEST_FORMAT, imagePath, manifestImage } from '../dataset-manifest.js';
import {
  STAGE_CROP_PADDING,
  cropClassNames,
  cutStageCrop,
  rasterisePolygon,
  selectStageCrops,
  writeStageCrops,
} from './stage-crops.js';

const work = mkdtempSync(path.join(tmpdir(), 'visionloop-stage-crops-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A real synthetic frame with its labelled defects (seed 0), as the renderer drew them. */
function syntheticFrame(index: number) {
  const sample = renderDatasetSample(0, index, ['nominal']);
  const scene = sampleScene(hashSeed(0, index, 0xda7a), sample.image.width, sample.image.height);
  return { image: sample.image, defects: frameDefects(scene).labelled };
}

function rectangle(x1: number, y1: number, x2: number, y2: number): number[] {
  return [x1, y1, x2, y1, x2, y2, x1, y2];
}

describe('cutStageCrop', () => {
  it('cuts the same pixels the runtime feeds the stage model (padBox + packCrops)', () => {
    const { image, defects } = syntheticFrame(3);
    expect(defects.length).toBeGreaterThan(0);
    for (const defect of defects) {
      const { image: crop, rect } = cutStageCrop(image, defect.box);
      expect(crop.width).toBe(64);
      const padded = padBox(defect.box, STAGE_CROP_PADDING, image.width, image.height);
      const packed = packCrops(image, [padded], 64, 64);
      expect(packed.transforms[0]).toMatchObject(rect);
      // The runtime's tensor is RGB / 255 in CHW; the crop file is rounded uint8 HWC.
      let worst = 0;
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < 64 * 64; p++) {
          const runtime = packed.tensor[c * 64 * 64 + p]! * 255;
          worst = Math.max(worst, Math.abs(runtime - crop.data[p * 3 + c]!));
        }
      }
      expect(worst).toBeLessThanOrEqual(0.5 + 1e-3);
    }
  });
});

describe('rasterisePolygon', () => {
  it('fills exactly the crop pixels a polygon covers', () => {
    const rect = { x: 100, y: 40, width: 80, height: 48 };
    // The left half of the crop: 32 of 64 columns.
    const half = rasterisePolygon(rectangle(100, 40, 140, 88), rect, 64);
    expect(half.reduce((a, b) => a + b, 0)).toBe(32 * 64);
    expect(half[0]).toBe(1);
    expect(half[31]).toBe(1);
    expect(half[32]).toBe(0);
    // A triangle over the whole crop: half of its pixels, within the diagonal's rounding.
    const triangle = rasterisePolygon([100, 40, 180, 40, 100, 88], rect, 64);
    const count = triangle.reduce((a, b) => a + b, 0);
    expect(Math.abs(count - 2048)).toBeLessThanOrEqual(64);
    expect(triangle[0]).toBe(1);
    expect(triangle[64 * 64 - 1]).toBe(0);
    // Outside the crop: nothing.
    expect(rasterisePolygon(rectangle(300, 300, 320, 320), rect, 64).every((v) => v === 0)).toBe(
      true,
    );
  });

  it('fills an axis-aligned rectangle pixel-exactly on a 1:1 crop', () => {
    const rect = { x: 0, y: 0, width: 64, height: 64 };
    const mask = rasterisePolygon(rectangle(8, 16, 24, 40), rect, 64);
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        expect(mask[y * 64 + x], `${x},${y}`).toBe(x >= 8 && x < 24 && y >= 16 && y < 40 ? 1 : 0);
      }
    }
  });
});

describe('selectStageCrops and writeStageCrops', () => {
  const dataDir = path.join(work, 'data');
  let manifest: DatasetManifest;
  let frames: { image: RgbImage; defects: ReturnType<typeof syntheticFrame>['defects'] }[];

  beforeAll(async () => {
    frames = [syntheticFrame(3), syntheticFrame(5)];
    const images: ManifestImage[] = [];
    for (const [n, frame] of frames.entries()) {
      const { image, defects } = frame;
      const png = await sharp(Buffer.from(image.data), {
        raw: { width: image.width, height: image.height, channels: 3 },
      })
        .png()
        .toBuffer();
      const entry = manifestImage(
        {
          id: String(n + 1).repeat(64),
          ext: 'png',
          width: image.width,
          height: image.height,
          boxes: defects.map((defect, i) => ({
            className: defect.kind,
            box: defect.box,
            // The first defect of each frame has a polygon; every defect but the last a class.
            ...(i === 0
              ? {
                  polygon: rectangle(
                    defect.box.x1 + 1,
                    defect.box.y1 + 1,
                    defect.box.x2 - 1,
                    defect.box.y2 - 1,
                  ),
                }
              : {}),
            ...(i < defects.length - 1 || defects.length === 1
              ? { cropClass: defect.areaPx >= 280 ? 'major' : 'minor' }
              : {}),
          })),
        },
        SYNTH_CLASSES,
      );
      const placed = { ...entry, split: n === 0 ? ('train' as const) : ('val' as const) };
      await mkdir(path.dirname(path.join(dataDir, imagePath(placed))), { recursive: true });
      await writeFile(path.join(dataDir, imagePath(placed)), png);
      images.push(placed);
    }
    manifest = { format: MANIFEST_FORMAT, classNames: [...SYNTH_CLASSES], images };
  });

  it('selects the boxes with a crop class or a polygon and counts the rest as skipped', () => {
    const boxes = frames.reduce((n, f) => n + f.defects.length, 0);
    const classify = selectStageCrops(manifest, 'classify');
    const classified = frames.reduce(
      (n, f) => n + (f.defects.length === 1 ? 1 : f.defects.length - 1),
      0,
    );
    expect(classify.sources).toHaveLength(classified);
    expect(classify.skipped).toBe(boxes - classified);
    const segment = selectStageCrops(manifest, 'segment');
    expect(segment.sources).toHaveLength(2);
    expect(segment.unmatched).toBe(0);
    expect(segment.skipped).toBe(boxes - 2);
    // Each polygon is matched to its own box (the first defect of its frame).
    for (const [n, source] of segment.sources.entries()) {
      const box = frames[n]!.defects[0]!.box;
      expect(source.box.x1).toBeCloseTo(box.x1, 2);
      expect(source.box.y2).toBeCloseTo(box.y2, 2);
    }
  });

  it('names classes in severity order when they are severities, else sorted', () => {
    expect(cropClassNames([{ cropClass: 'major' }, { cropClass: 'minor' }] as never)).toEqual([
      'not_defect',
      'minor',
      'major',
      'critical',
    ]);
    expect(cropClassNames([{ cropClass: 'weld' }, { cropClass: 'burr' }] as never)).toEqual([
      'burr',
      'weld',
    ]);
  });

  it('writes the crop-export layout the trainer reads, split by image', async () => {
    const outDir = path.join(work, 'segment');
    const summary = await writeStageCrops(selectStageCrops(manifest, 'segment'), dataDir, outDir, {
      datasetId: 'd'.repeat(64),
    });
    expect(summary.names).toEqual(['not_defect', 'defect']);
    expect(summary.train).toEqual({ count: 1, perClass: { defect: 1 } });
    expect(summary.val).toEqual({ count: 1, perClass: { defect: 1 } });
    const meta = JSON.parse(readFileSync(path.join(outDir, 'crops.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(meta).toMatchObject({ format: 'visionloop-crops-v1', size: 64, padding: 0.15 });
    expect(readFileSync(path.join(outDir, 'train.images.u8')).length).toBe(64 * 64 * 3);
    const mask = readFileSync(path.join(outDir, 'train.masks.u8'));
    expect(mask.length).toBe(64 * 64);
    const record = JSON.parse(readFileSync(path.join(outDir, 'train.jsonl'), 'utf8')) as {
      classId: number;
      kind: string;
      maskPx: number;
    };
    expect(record.classId).toBe(1);
    expect(record.kind).toBe(frames[0]!.defects[0]!.kind);
    // The polygon is the box less 1 px each side; the box is 1/1.3 of the padded crop per side.
    const ones = mask.reduce((a, b) => a + b, 0);
    expect(record.maskPx).toBe(ones);
    const box = frames[0]!.defects[0]!.box;
    const share =
      ((box.x2 - box.x1 - 2) * (box.y2 - box.y1 - 2)) / ((box.x2 - box.x1) * (box.y2 - box.y1));
    expect(ones / (64 * 64)).toBeGreaterThan((share / 1.3 / 1.3) * 0.8);
    expect(ones / (64 * 64)).toBeLessThan(share / 1.3 / 1.3 / 0.8);
    // The crop pixels are the frame's, cut like the runtime cuts them.
    const crop = cutStageCrop(
      frames[0]!.image,
      selectStageCrops(manifest, 'segment').sources[0]!.box,
    );
    expect(
      Buffer.compare(
        readFileSync(path.join(outDir, 'train.images.u8')),
        Buffer.from(crop.image.data),
      ),
    ).toBe(0);
  });

  it('names an unreadable frame', async () => {
    const broken = { ...manifest, images: [{ ...manifest.images[0]!, ext: 'jpg' as const }] };
    await expect(
      writeStageCrops(selectStageCrops(broken, 'segment'), dataDir, path.join(work, 'broken')),
    ).rejects.toMatchObject({ code: 'DATASET_INVALID' });
  });
});
