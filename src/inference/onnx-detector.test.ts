import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildConstantOutputModel,
  buildNonOnnxFile,
  buildTruncatedModel,
  buildUnsupportedLayoutModel,
  encodeLayoutTensor,
  ultralyticsMetadata,
} from '../../test/helpers/onnx-fixtures.js';
import { parseScenario, SynthCamera } from '../synth/index.js';
import { calibrateScore } from '../vision/calibration.js';
import type { OutputLayout } from '../vision/detector.js';
import { setOnnxMetadata } from '../vision/onnx-model-stamp.js';
import { defaultInferenceThreads, OnnxDetector } from './onnx-detector.js';

const dir = mkdtempSync(join(tmpdir(), 'vl-detector-'));
const names = ['scratch', 'crack', 'dent', 'stain'];
const detectors: OnnxDetector[] = [];

afterAll(async () => {
  await Promise.all(detectors.map((d) => d.dispose()));
});

function modelFile(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/**
 * Two objects in network-input pixels (64×64 input). The source frame is 128×96, so the
 * letterbox scale is 0.5 and the image sits 8 px below the top: source = (input - pad) / 0.5.
 */
function layoutModel(layout: OutputLayout, inputSize = 64): string {
  const objects = [
    { cx: 32, cy: 32, w: 16, h: 8, classScores: [0, 0.875, 0, 0] }, // crack
    { cx: 12, cy: 20, w: 8, h: 8, classScores: [0, 0, 0, 0.5] }, // stain
  ];
  const { dims, values } = encodeLayoutTensor(layout, objects, 4, 16);
  return modelFile(
    `${layout}-${inputSize}.onnx`,
    buildConstantOutputModel({
      inputShape: [1, 3, inputSize, inputSize],
      outputDims: dims,
      outputValues: values,
      metadata: ultralyticsMetadata(names, {
        imgsz: [inputSize, inputSize],
        end2end: layout === 'end2end',
      }),
    }),
  );
}

const frame = { width: 128, height: 96, data: new Uint8Array(128 * 96 * 3).fill(90) };

describe('OnnxDetector', () => {
  for (const layout of ['yolov8', 'yolov8-transposed', 'yolov5', 'end2end'] as const) {
    it(`loads a ${layout} model and returns boxes in frame pixels`, async () => {
      const detector = new OnnxDetector({ threads: 1 });
      detectors.push(detector);
      const model = await detector.load(layoutModel(layout));
      expect(model.layout).toBe(layout);
      expect(model.classNames).toEqual(names);
      expect([model.inputWidth, model.inputHeight]).toEqual([64, 64]);
      expect(model.sha256).toMatch(/^[0-9a-f]{64}$/);
      const { detections, timings } = await detector.detect(frame);
      expect(detections).toEqual([
        {
          classId: 1,
          className: 'crack',
          confidence: 0.875,
          box: { x1: 48, y1: 40, x2: 80, y2: 56 },
        },
        {
          classId: 3,
          className: 'stain',
          confidence: 0.5,
          box: { x1: 16, y1: 16, x2: 32, y2: 32 },
        },
      ]);
      expect(timings.inferenceMs).toBeGreaterThanOrEqual(0);
    });
  }

  it('keeps several frames in flight and answers each one', async () => {
    const detector = new OnnxDetector({ threads: 1 });
    detectors.push(detector);
    await detector.load(layoutModel('yolov8'));
    const results = await Promise.all(Array.from({ length: 6 }, () => detector.detect(frame)));
    expect(results.map((r) => r.detections.length)).toEqual([2, 2, 2, 2, 2, 2]);
  });

  it('maps boxes back per frame when frame sizes alternate through the reused input tensors', async () => {
    const detector = new OnnxDetector({ threads: 1 });
    detectors.push(detector);
    await detector.load(layoutModel('yolov8'));
    // 64×64 frame into a 64×64 input: scale 1, no padding, so boxes stay in input pixels.
    const square = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(90) };
    const crack = (r: { detections: { className: string; box: unknown }[] }) =>
      r.detections.find((d) => d.className === 'crack')?.box;
    const results = await Promise.all(
      [frame, square, frame, square, square, frame].map((image) => detector.detect(image)),
    );
    expect(results.map(crack)).toEqual([
      { x1: 48, y1: 40, x2: 80, y2: 56 },
      { x1: 24, y1: 28, x2: 40, y2: 36 },
      { x1: 48, y1: 40, x2: 80, y2: 56 },
      { x1: 24, y1: 28, x2: 40, y2: 36 },
      { x1: 24, y1: 28, x2: 40, y2: 36 },
      { x1: 48, y1: 40, x2: 80, y2: 56 },
    ]);
    expect(results.every((r) => r.timings.preprocessMs >= 0)).toBe(true);
  });

  it('serves a reloaded model with another input size', async () => {
    const detector = new OnnxDetector({ threads: 1 });
    detectors.push(detector);
    await detector.load(layoutModel('yolov8'));
    expect((await detector.detect(frame)).detections).toHaveLength(2);
    const model = await detector.load(layoutModel('yolov8', 128));
    expect([model.inputWidth, model.inputHeight]).toEqual([128, 128]);
    // 128×96 frame into a 128×128 input: scale 1, 16 rows of padding above.
    const { detections } = await detector.detect(frame);
    expect(detections.find((d) => d.className === 'stain')?.box).toEqual({
      x1: 8,
      y1: 0,
      x2: 16,
      y2: 8,
    });
  });

  it('defaults to one ONNX Runtime thread per core but one, at least one', () => {
    expect(defaultInferenceThreads(1)).toBe(1);
    expect(defaultInferenceThreads(2)).toBe(1);
    expect(defaultInferenceThreads(8)).toBe(7);
    expect(new OnnxDetector().threads).toBe(defaultInferenceThreads());
    expect(new OnnxDetector({ threads: 0 }).threads).toBe(defaultInferenceThreads());
    expect(new OnnxDetector({ threads: 3 }).threads).toBe(3);
  });

  it('drops detections below the confidence threshold', async () => {
    const detector = new OnnxDetector({ threads: 1 });
    detectors.push(detector);
    await detector.load(layoutModel('yolov8'));
    const { detections } = await detector.detect(frame, { confThreshold: 0.6 });
    expect(detections.map((d) => d.className)).toEqual(['crack']);
  });

  it('calibrates scores and class-score vectors when the metadata carries a calibration', async () => {
    const objects = [
      { cx: 32, cy: 32, w: 16, h: 8, classScores: [0, 0.875, 0, 0] },
      { cx: 12, cy: 20, w: 8, h: 8, classScores: [0, 0, 0, 0.5] },
    ];
    const { dims, values } = encodeLayoutTensor('yolov8', objects, 4, 16);
    const path = modelFile(
      'calibrated.onnx',
      buildConstantOutputModel({
        inputShape: [1, 3, 64, 64],
        outputDims: dims,
        outputValues: values,
        metadata: {
          ...ultralyticsMetadata(names, { imgsz: [64, 64] }),
          visionloop_temperature: '0.5',
          visionloop_logit_bias: '-0.5',
        },
      }),
    );
    const detector = new OnnxDetector({ threads: 1 });
    detectors.push(detector);
    const model = await detector.load(path);
    expect(model.calibration).toEqual({ temperature: 0.5, bias: -0.5 });
    const { detections } = await detector.detect(frame, { classScores: true });
    // σ(logit(0.875)/0.5 − 0.5) = 0.9674; σ(logit(0.5)/0.5 − 0.5) = σ(−0.5) = 0.3775.
    expect(detections.map((d) => [d.className, d.confidence])).toEqual([
      ['crack', expect.closeTo(0.96742, 4)],
      ['stain', expect.closeTo(0.37754, 4)],
    ]);
    expect(detections[0]!.classScores![1]).toBeCloseTo(0.96742, 4);
    expect(detections[0]!.classScores![0]).toBeLessThan(1e-9);
    // The threshold applies to calibrated scores: 0.4 drops the stain (raw 0.5 ≥ 0.4).
    const strict = await detector.detect(frame, { confThreshold: 0.4 });
    expect(strict.detections.map((d) => d.className)).toEqual(['crack']);
  });

  it('runs the shipped seed calibrated: the same boxes as its raw scores, scores mapped', async () => {
    const seedPath = fileURLToPath(new URL('../../models/seed/model.onnx', import.meta.url));
    const bytes = readFileSync(seedPath);
    const rawPath = modelFile(
      'seed-raw.onnx',
      setOnnxMetadata(bytes, { visionloop_temperature: '1', visionloop_logit_bias: '0' }),
    );
    const calibrated = new OnnxDetector({ threads: 1 });
    const raw = new OnnxDetector({ threads: 1 });
    detectors.push(calibrated, raw);
    const model = await calibrated.load(seedPath);
    expect(model.calibration).toEqual({ temperature: 0.660372, bias: 0.900471 });
    expect((await raw.load(rawPath)).calibration).toEqual({ temperature: 1, bias: 0 });
    const camera = new SynthCamera({ scenario: parseScenario('nominal'), seed: 1001, fps: 15 });
    const image = camera.frame(0).image;
    // A low threshold on both sides so the same candidates reach NMS.
    const low = { confThreshold: 0.05 };
    const [a, b] = await Promise.all([calibrated.detect(image, low), raw.detect(image, low)]);
    expect(a.detections.length).toBeGreaterThan(0);
    const expected = b.detections
      .map((d) => ({ ...d, confidence: calibrateScore(d.confidence, model.calibration!) }))
      .filter((d) => d.confidence >= 0.05);
    expect(a.detections.map((d) => [d.classId, d.box])).toEqual(
      expected.map((d) => [d.classId, d.box]),
    );
    a.detections.forEach((d, i) => expect(d.confidence).toBeCloseTo(expected[i]!.confidence, 5));
  });

  it('names the problem with each bad model', async () => {
    const detector = new OnnxDetector({ threads: 1 });
    detectors.push(detector);
    await expect(detector.load(join(dir, 'missing.onnx'))).rejects.toMatchObject({
      code: 'MODEL_NOT_FOUND',
      message: expect.stringContaining('missing.onnx') as unknown,
    });
    await expect(detector.load(modelFile('text.onnx', buildNonOnnxFile()))).rejects.toMatchObject({
      code: 'MODEL_NOT_ONNX',
    });
    await expect(detector.load(modelFile('cut.onnx', buildTruncatedModel()))).rejects.toMatchObject(
      {
        code: 'MODEL_NOT_ONNX',
      },
    );
    await expect(
      detector.load(modelFile('odd.onnx', buildUnsupportedLayoutModel(ultralyticsMetadata(names)))),
    ).rejects.toMatchObject({ code: 'MODEL_LAYOUT_UNSUPPORTED' });
    await expect(detector.detect(frame)).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });

  it('rejects a frame whose byte count does not match its size', async () => {
    const detector = new OnnxDetector({ threads: 1 });
    detectors.push(detector);
    await detector.load(layoutModel('yolov8'));
    await expect(
      detector.detect({ width: 10, height: 10, data: new Uint8Array(10) }),
    ).rejects.toMatchObject({
      code: 'IMAGE_INVALID',
    });
  });
});
