import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildColourClassifierModel,
  buildConstantOutputModel,
  buildDarkMaskModel,
  buildYoloSegConstantModel,
  encodeLayoutTensor,
  ultralyticsMetadata,
} from '../../test/helpers/onnx-fixtures.js';
import type { Box } from '../shared/domain.js';
import { isVisionLoopError, type ErrorCode } from '../shared/errors.js';
import { padBox } from '../vision/crops.js';
import { createRgbImage, type RgbImage } from '../vision/image.js';
import { polygonArea } from '../vision/mask-geometry.js';
import {
  loadStageModelInfo,
  OnnxCropClassifier,
  OnnxCropSegmenter,
  type OnnxStageModel,
} from './onnx-stage-model.js';

const dir = mkdtempSync(join(tmpdir(), 'vl-stage-'));
const models: OnnxStageModel[] = [];

afterAll(async () => {
  await Promise.all(models.map((m) => m.dispose()));
});

function modelFile(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function track<T extends OnnxStageModel>(model: T): T {
  models.push(model);
  return model;
}

function paint(image: RgbImage, box: Box, rgb: [number, number, number]): void {
  for (let y = box.y1; y < box.y2; y++) {
    for (let x = box.x1; x < box.x2; x++) {
      image.data.set(rgb, (y * image.width + x) * 3);
    }
  }
}

async function errorCode(promise: Promise<unknown>): Promise<ErrorCode> {
  try {
    await promise;
  } catch (error) {
    if (isVisionLoopError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a VisionLoopError');
}

// A 160×120 frame: grey, a red patch, a blue patch.
const RED: Box = { x1: 10, y1: 10, x2: 50, y2: 40 };
const BLUE: Box = { x1: 80, y1: 50, x2: 130, y2: 100 };
const colourFrame = createRgbImage(160, 120, 128);
paint(colourFrame, RED, [230, 20, 20]);
paint(colourFrame, BLUE, [20, 30, 220]);

// A 200×150 light frame with a dark 40×30 rectangle: 1,200 defect pixels.
const DARK: Box = { x1: 60, y1: 40, x2: 100, y2: 70 };
const defectFrame = createRgbImage(200, 150, 210);
paint(defectFrame, DARK, [25, 25, 25]);

describe('OnnxCropClassifier', () => {
  it('classifies a red crop and a blue crop of a real frame in one batched run', async () => {
    const classifier = track(new OnnxCropClassifier({ threads: 1 }));
    const info = await classifier.load(modelFile('colour.onnx', buildColourClassifierModel()));
    expect(info).toMatchObject({
      task: 'classify',
      layout: 'classify',
      inputWidth: 32,
      inputHeight: 32,
      classNames: ['red', 'green', 'blue'],
      batched: true,
    });
    const { results, timing } = await classifier.classify(colourFrame, [RED, BLUE, RED]);
    expect(results.map((r) => r.className)).toEqual(['red', 'blue', 'red']);
    // Mean colour of the red crop: (230, 20, 20)/255 → logits 9.02, 0.78, 0.78.
    expect(results[0]!.confidence).toBeCloseTo(1 / (1 + 2 * Math.exp(((20 - 230) / 255) * 10)), 4);
    expect(timing.runMs).toBeGreaterThan(0);
    expect(timing.prepareMs).toBeGreaterThanOrEqual(0);
    expect(await classifier.classify(colourFrame, [])).toMatchObject({ results: [] });
  });

  it('gives the same answers crop by crop when the batch is fixed to 1', async () => {
    const batched = track(new OnnxCropClassifier({ threads: 1 }));
    const fixed = track(new OnnxCropClassifier({ threads: 1 }));
    await batched.load(modelFile('logits-b.onnx', buildColourClassifierModel({ softmax: false })));
    const info = await fixed.load(
      modelFile(
        'logits-1.onnx',
        buildColourClassifierModel({ softmax: false, dynamicBatch: false }),
      ),
    );
    expect(info.batched).toBe(false);
    const boxes = [RED, BLUE, { x1: 0, y1: 0, x2: 160, y2: 120 }, padBox(RED, 0.5, 160, 120)];
    const a = await batched.classify(colourFrame, boxes);
    const b = await fixed.classify(colourFrame, boxes);
    expect(b.results).toEqual(a.results);
    // The whole frame is mostly grey; its larger blue patch outweighs the red one.
    expect(a.results.map((r) => r.className)).toEqual(['red', 'blue', 'blue', 'red']);
  });

  it('refuses a segmenter or a detector with MODEL_TASK_MISMATCH', async () => {
    const classifier = track(new OnnxCropClassifier({ threads: 1 }));
    expect(await errorCode(classifier.load(modelFile('mask-x.onnx', buildDarkMaskModel())))).toBe(
      'MODEL_TASK_MISMATCH',
    );
    const { dims, values } = encodeLayoutTensor('yolov8', [], 2, 21);
    const detector = buildConstantOutputModel({
      outputDims: dims,
      outputValues: values,
      metadata: ultralyticsMetadata(['a', 'b']),
    });
    expect(await errorCode(classifier.load(modelFile('det.onnx', detector)))).toBe(
      'MODEL_TASK_MISMATCH',
    );
    expect(await errorCode(classifier.classify(colourFrame, [RED]))).toBe('MODEL_NOT_FOUND');
  });

  it('keeps answering while a new model is loaded, then answers with the new one', async () => {
    const classifier = track(new OnnxCropClassifier({ threads: 1 }));
    await classifier.load(modelFile('swap-a.onnx', buildColourClassifierModel()));
    const next = modelFile(
      'swap-b.onnx',
      buildColourClassifierModel({ size: 24, names: ['R', 'G', 'B'], dynamicBatch: false }),
    );
    let swapped = false;
    const seen = new Set<string>();
    let calls = 0;
    const load = classifier.load(next).then((info) => {
      swapped = true;
      return info;
    });
    // Frames go on back to back, before, during and after the swap: none may fail.
    while (!swapped || calls < 20) {
      const { results } = await classifier.classify(colourFrame, [RED, BLUE]);
      expect(results).toHaveLength(2);
      seen.add(results.map((r) => r.className).join(','));
      calls++;
    }
    expect((await load).inputWidth).toBe(24);
    expect(seen.has('red,blue')).toBe(true);
    expect(seen.has('R,B')).toBe(true);
    expect(classifier.info.batched).toBe(false);
    const { results } = await classifier.classify(colourFrame, [BLUE]);
    expect(results[0]!.className).toBe('B');
  });
  it('keeps the old model serving when a load fails', async () => {
    const classifier = track(new OnnxCropClassifier({ threads: 1 }));
    const info = await classifier.load(modelFile('keep.onnx', buildColourClassifierModel()));
    expect(await errorCode(classifier.load(join(dir, 'missing.onnx')))).toBe('MODEL_NOT_FOUND');
    expect(await errorCode(classifier.load(modelFile('bad.onnx', buildDarkMaskModel())))).toBe(
      'MODEL_TASK_MISMATCH',
    );
    expect(classifier.info.sha256).toBe(info.sha256);
    const { results } = await classifier.classify(colourFrame, [BLUE]);
    expect(results[0]!.className).toBe('blue');
  });
});

describe('OnnxCropSegmenter', () => {
  const box = padBox({ x1: 62, y1: 42, x2: 98, y2: 68 }, 0.25, 200, 150);

  it('measures a known dark rectangle: area within a few % and a polygon around it', async () => {
    const segmenter = track(new OnnxCropSegmenter({ threads: 1 }));
    const info = await segmenter.load(modelFile('dark.onnx', buildDarkMaskModel()));
    expect(info).toMatchObject({ task: 'segment', layout: 'crop-mask', batched: true });
    const { results } = await segmenter.segment(defectFrame, [box], 0.5);
    const [result] = results;
    expect(Math.abs(result!.areaPx - 1200) / 1200).toBeLessThan(0.05);
    expect(result!.areaMm2).toBeCloseTo(result!.areaPx * 0.25, 6);
    const polygon = result!.polygon;
    expect(polygon.length / 2).toBeGreaterThanOrEqual(4);
    expect(polygon.length / 2).toBeLessThanOrEqual(64);
    const xs = polygon.filter((_, i) => i % 2 === 0);
    const ys = polygon.filter((_, i) => i % 2 === 1);
    expect(Math.min(...xs)).toBeCloseTo(DARK.x1, -0.5);
    expect(Math.max(...xs)).toBeCloseTo(DARK.x2, -0.5);
    expect(Math.min(...ys)).toBeCloseTo(DARK.y1, -0.5);
    expect(Math.max(...ys)).toBeCloseTo(DARK.y2, -0.5);
    expect(Math.abs(polygonArea(polygon) - 1200) / 1200).toBeLessThan(0.05);
  });

  it('gives no area on a clean crop, and the same answers for batched and fixed models', async () => {
    const batched = track(new OnnxCropSegmenter({ threads: 1 }));
    const fixed = track(new OnnxCropSegmenter({ threads: 1 }));
    await batched.load(modelFile('dark-b.onnx', buildDarkMaskModel({ sigmoid: false })));
    await fixed.load(modelFile('dark-1.onnx', buildDarkMaskModel({ dynamicBatch: false })));
    const clean: Box = { x1: 120, y1: 90, x2: 180, y2: 140 };
    const a = await batched.segment(defectFrame, [box, clean], null);
    const b = await fixed.segment(defectFrame, [box, clean], null);
    expect(b.results).toEqual(a.results);
    expect(a.results[1]).toEqual({ areaPx: 0, areaMm2: null, polygon: [] });
    expect(a.results[0]!.areaMm2).toBeNull();
  });

  it('reads a YOLO-seg export: the best box mask, cut to the box, in frame pixels', async () => {
    const segmenter = track(new OnnxCropSegmenter({ threads: 1 }));
    const info = await segmenter.load(
      modelFile(
        'seg.onnx',
        buildYoloSegConstantModel({
          box: { cx: 16, cy: 16, w: 32, h: 32, classId: 0, score: 0.9 },
          defect: { x1: 2, y1: 2, x2: 6, y2: 4 },
        }),
      ),
    );
    expect(info).toMatchObject({ layout: 'yolo-seg', classNames: ['defect'], batched: false });
    // A 64×64 crop: each of the 8×8 prototype pixels covers 8×8 frame pixels.
    const { results } = await segmenter.segment(
      defectFrame,
      [{ x1: 10, y1: 20, x2: 74, y2: 84 }],
      1,
    );
    expect(results[0]).toEqual({
      areaPx: 512,
      areaMm2: 512,
      polygon: [26, 36, 58, 36, 58, 52, 26, 52],
    });
  });

  it('rejects a bad calibration', async () => {
    const segmenter = track(new OnnxCropSegmenter({ threads: 1 }));
    await segmenter.load(modelFile('dark-c.onnx', buildDarkMaskModel()));
    expect(await errorCode(segmenter.segment(defectFrame, [box], -1))).toBe('INVALID_ARGUMENT');
  });
});

describe('loadStageModelInfo', () => {
  it('reports either task and releases the worker', async () => {
    expect(
      await loadStageModelInfo(modelFile('probe-c.onnx', buildColourClassifierModel()), {
        threads: 1,
      }),
    ).toMatchObject({ task: 'classify', layout: 'classify' });
    expect(
      await loadStageModelInfo(modelFile('probe-s.onnx', buildDarkMaskModel()), { threads: 1 }),
    ).toMatchObject({ task: 'segment', layout: 'crop-mask', classNames: ['defect'] });
  });
});
