import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { VisionLoopError } from '../shared/errors.js';
import { exportDataset, validationIndices, type ExportSummary } from './dataset-export.js';
import { renderDatasetSample } from './samples.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'visionloop-synth-export-'));
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

describe('exportDataset', () => {
  let out: string;
  let summary: ExportSummary;
  const progress: number[] = [];

  beforeAll(async () => {
    out = join(root, 'mix');
    summary = await exportDataset(
      { outDir: out, presets: 'nominal,night', count: 6, seed: 3, valFraction: 0.34 },
      ({ done, total }) => {
        expect(total).toBe(6);
        progress.push(done);
      },
    );
  });

  it('writes data.yaml with the class names as an id mapping', async () => {
    const text = await readFile(join(out, 'data.yaml'), 'utf8');
    expect(text).toMatch(/^names:\n {2}0: scratch\n {2}1: crack\n {2}2: dent\n {2}3: stain$/m);
    const data = YAML.parse(text) as Record<string, unknown>;
    expect(data).toMatchObject({ path: out, train: 'images/train', val: 'images/val' });
    expect(summary).toMatchObject({ train: 4, val: 2, dataYaml: join(out, 'data.yaml') });
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('writes one decodable image and one label file per frame with the same stem', async () => {
    for (const split of ['train', 'val']) {
      const images = (await readdir(join(out, 'images', split))).sort();
      const labels = (await readdir(join(out, 'labels', split))).sort();
      expect(images).toHaveLength(split === 'train' ? 4 : 2);
      expect(labels).toEqual(images.map((name) => name.replace(/\.jpg$/, '.txt')));
      const meta = await sharp(join(out, 'images', split, images[0]!)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 640, 480]);
    }
  });

  it('writes label rows that parse and match the ground truth', async () => {
    let rows = 0;
    for (let index = 0; index < 6; index++) {
      const sample = renderDatasetSample(3, index, ['nominal', 'night']);
      const stem = `synth-s3-${String(index).padStart(6, '0')}-${sample.preset}`;
      const split = (await readdir(join(out, 'labels', 'val'))).includes(`${stem}.txt`)
        ? 'val'
        : 'train';
      const text = await readFile(join(out, 'labels', split, `${stem}.txt`), 'utf8');
      const lines = text.split('\n').filter((line) => line !== '');
      expect(lines).toHaveLength(sample.objects.length);
      if (sample.objects.length === 0) expect(text).toBe('');
      lines.forEach((line, i) => {
        expect(line).toMatch(/^[0-3]( \d\.\d{6}){4}$/);
        const [cls, cx, cy, w, h] = line.split(' ').map(Number) as [
          number,
          number,
          number,
          number,
          number,
        ];
        const { classId, box } = sample.objects[i]!;
        expect(cls).toBe(classId);
        expect(cx * 640 - w * 320).toBeCloseTo(box.x1, 2);
        expect(cx * 640 + w * 320).toBeCloseTo(box.x2, 2);
        expect(cy * 480 - h * 240).toBeCloseTo(box.y1, 2);
        expect(cy * 480 + h * 240).toBeCloseTo(box.y2, 2);
        for (const v of [cx, cy, w, h]) expect(v).toBeGreaterThanOrEqual(0);
        for (const v of [cx + w / 2, cy + h / 2]) expect(v).toBeLessThanOrEqual(1.000001);
        rows++;
      });
    }
    expect(rows).toBe(summary.objects);
    expect(rows).toBeGreaterThan(0);
  });

  it('is deterministic: the same options write the same bytes', async () => {
    const again = join(root, 'again');
    await exportDataset({
      outDir: again,
      presets: 'nominal,night',
      count: 6,
      seed: 3,
      valFraction: 0.34,
    });
    for (const dir of ['images/train', 'images/val', 'labels/train', 'labels/val']) {
      const names = (await readdir(join(out, dir))).sort();
      expect((await readdir(join(again, dir))).sort()).toEqual(names);
      for (const name of names) {
        const a = await readFile(join(out, dir, name));
        const b = await readFile(join(again, dir, name));
        expect(a.equals(b)).toBe(true);
      }
    }
  });

  it('refuses to mix into an existing data set unless asked to overwrite it', async () => {
    const error = await rejection(exportDataset({ outDir: out, presets: 'blur', count: 1 }));
    expect(error.code).toBe('CONFLICT');
    const replaced = await exportDataset({
      outDir: out,
      presets: 'blur',
      count: 2,
      format: 'png',
      overwrite: true,
    });
    expect(replaced.train + replaced.val).toBe(2);
    const all = [
      ...(await readdir(join(out, 'images', 'train'))),
      ...(await readdir(join(out, 'images', 'val'))),
    ];
    expect(all.sort()).toEqual(['synth-s0-000000-blur.png', 'synth-s0-000001-blur.png']);
  });

  it('rejects bad options with INVALID_ARGUMENT', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    const cases: [Parameters<typeof exportDataset>[0], string][] = [
      [{ outDir: join(root, 'x'), presets: 'fog', count: 1 }, "unknown preset 'fog'"],
      [{ outDir: join(root, 'x'), presets: 'nominal', count: 0 }, 'count must be'],
      [{ outDir: join(root, 'x'), presets: 'nominal', count: 1, valFraction: 1 }, 'val fraction'],
      [{ outDir: join(file, 'sub'), presets: 'nominal', count: 1 }, 'cannot write to'],
    ];
    for (const [options, message] of cases) {
      const error = await rejection(exportDataset(options));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(message);
    }
  });
});

describe('validationIndices', () => {
  it('picks an exact, seeded share of the frames', () => {
    const val = validationIndices(100, 0.2, 1);
    expect(val.size).toBe(20);
    expect(validationIndices(100, 0.2, 1)).toEqual(val);
    expect(validationIndices(100, 0.2, 2)).not.toEqual(val);
    expect(validationIndices(3, 0.1, 1).size).toBe(1);
    expect(validationIndices(1, 0.5, 1).size).toBe(0);
    expect(validationIndices(10, 0, 1).size).toBe(0);
  });
});
