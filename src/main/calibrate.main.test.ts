import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDataset } from '../synth/dataset-export.js';
import { readOnnxModelHeader } from '../vision/onnx-model-file.js';
import { calibrateModelFile, MIN_CALIBRATION_SAMPLES } from './calibrate.main.js';
import { SEED_MODEL_DIR } from './train.main.js';

describe('calibrateModelFile (what training does after export)', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'vl-calibrate-'));
    // 40 frames, 20 in val: a small YOLO data set like a materialized snapshot.
    await exportDataset({
      outDir: join(work, 'data'),
      presets: 'nominal',
      count: 40,
      seed: 9,
      valFraction: 0.5,
    });
  }, 120_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('fits on the val split and stamps the keys into the model file, weights untouched', async () => {
    const model = join(work, 'model.onnx');
    await copyFile(join(SEED_MODEL_DIR, 'model.onnx'), model);
    const before = new Uint8Array(await readFile(model));
    const result = await calibrateModelFile(model, join(work, 'data'), { threads: 1 });
    expect(result.frames).toBe(20);
    expect(result.samples).toBeGreaterThanOrEqual(MIN_CALIBRATION_SAMPLES);
    expect(result.fitted).toBe(true);
    expect(result.temperature).toBeGreaterThan(0);
    expect(result.nllAfter).toBeLessThanOrEqual(result.nllBefore);
    const header = readOnnxModelHeader(new Uint8Array(await readFile(model)));
    expect(Number(header.metadata.visionloop_temperature)).toBe(result.temperature);
    expect(Number(header.metadata.visionloop_logit_bias)).toBe(result.bias);
    // A refit starts again from the raw scores: the same numbers.
    const again = await calibrateModelFile(model, join(work, 'data'), { threads: 1 });
    expect(again).toEqual(result);
    expect(before.length).toBeGreaterThan(0);
  }, 120_000);
});
