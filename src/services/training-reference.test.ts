import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { YoloDatasetRepository } from '../repositories/yolo-dataset.repository.js';
import { isVisionLoopError } from '../shared/errors.js';
import { exportDataset } from '../synth/dataset-export.js';
import {
  datasetFeatures,
  evenlySpaced,
  readTrainingFeatures,
  writeTrainingFeatures,
} from './training-reference.js';

const dir = mkdtempSync(join(tmpdir(), 'visionloop-training-reference-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('evenlySpaced', () => {
  it('keeps everything up to the limit, else spaced picks from the first item on', () => {
    expect(evenlySpaced([1, 2, 3], 5)).toEqual([1, 2, 3]);
    expect(evenlySpaced([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4)).toEqual([0, 2, 5, 7]);
    expect(evenlySpaced([0, 1, 2, 3, 4, 5], 3)).toEqual([0, 2, 4]);
  });
});

describe('training features', () => {
  it('computes features of a data set split, deterministically, and round-trips the file', async () => {
    const data = join(dir, 'nominal');
    await exportDataset({
      outDir: data,
      presets: 'nominal',
      count: 12,
      seed: 3,
      valFraction: 0.25,
    });
    const repository = new YoloDatasetRepository();
    const first = await datasetFeatures(repository, data, { maxImages: 4 });
    const again = await datasetFeatures(repository, data, { maxImages: 4 });
    expect(first).toHaveLength(4);
    expect(again).toEqual(first);
    for (const row of first) {
      // A nominal synthetic frame: mid-grey part surface, sharp, little noise.
      expect(row.brightness).toBeGreaterThan(0.3);
      expect(row.brightness).toBeLessThan(0.7);
      expect(row.sharpness).toBeGreaterThan(50);
    }
    expect(await datasetFeatures(repository, data, { split: 'val' })).toHaveLength(3);

    const file = join(dir, 'training-features.json');
    await writeTrainingFeatures(file, 'v1', first);
    const read = await readTrainingFeatures(file);
    expect(read?.version).toBe('v1');
    expect(read?.features).toHaveLength(4);
    expect(read?.features[0]?.brightness).toBeCloseTo(first[0]?.brightness ?? -1, 5);
  });

  it('says null for a missing file and names a malformed one', async () => {
    expect(await readTrainingFeatures(join(dir, 'absent.json'))).toBeNull();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 'v1', images: 1, features: [{ brightness: 1 }] }));
    const failure = await readTrainingFeatures(bad).catch((error: unknown) => error);
    expect(isVisionLoopError(failure) && failure.code).toBe('CONFIG_INVALID');
    expect((failure as Error).message).toContain(bad);
  });
});
