/**
 * The stage recipes' training step with the real trainer process: a small crop export, one
 * epoch of `train-classify` / `train-segment`, the outputs and the held-out metrics; bad data.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from '../../../src/config/runtime.config.js';
import { trainStage } from '../../../src/main/train.main.js';
import { exportCrops } from '../../../src/synth/crop-export.js';
import { parseModelMetadata } from '../../../src/vision/metadata.js';
import { readOnnxModelHeader } from '../../../src/vision/onnx-model-file.js';

const work = mkdtempSync(join(tmpdir(), 'vl-stage-train-'));
const crops = join(work, 'crops');

beforeAll(async () => {
  await exportCrops({ outDir: crops, count: 48, seed: 4, size: 32, valFraction: 0.25 });
}, 120_000);

describe('trainStage', () => {
  it.each(['classify', 'segment'] as const)(
    '%s: runs the trainer and returns its done event with held-out metrics',
    async (task) => {
      const out = join(work, task);
      const events: string[] = [];
      const done = await trainStage(
        loadRuntimeConfig(),
        { task, data: crops, out, epochs: 1, batch: 16, seed: 0, version: `${task}-t1` },
        { onEvent: (event) => events.push(event.event) },
      );
      expect(events).toEqual(['start', 'epoch', 'done']);
      expect(done.model).toBe(join(out, 'model.onnx'));
      const metadata = parseModelMetadata(
        readOnnxModelHeader(readFileSync(done.model), done.model).metadata,
      );
      expect(metadata.task).toBe(task);
      expect(metadata.imgsz).toEqual([32, 32]);
      expect(metadata.version).toBe(`${task}-t1`);
      const key = task === 'classify' ? 'accuracy' : 'mean_iou';
      const value = done.metrics[key];
      expect(typeof value).toBe('number');
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(1);
      expect(existsSync(join(out, 'weights.pt'))).toBe(true);
    },
    240_000,
  );

  it('names a directory that is not a crop data set', async () => {
    await expect(
      trainStage(loadRuntimeConfig(), { task: 'classify', data: work, out: join(work, 'x') }),
    ).rejects.toThrow(/holds no crops.json/);
  });
});
