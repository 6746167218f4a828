/**
 * Unit tests of the evaluation service with a stand-in for the model: a fake Detector that
 * recognises each test image by its fill colour and returns chosen boxes and scores. The real
 * ONNX detector is exercised end to end by an integration test (see docs/evaluation.md).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Detection } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import { YoloDatasetRepository } from '../repositories/yolo-dataset.repository.js';
import type { DetectOptions, Detector, DetectorOutput, ModelInfo } from '../vision/detector.js';
import type { RgbImage } from '../vision/image.js';
import {
  EVALUATION_DETECT_OPTIONS,
  EvaluationService,
  checkClassNames,
} from './evaluation.service.js';

const CLASSES = ['scratch', 'crack'];
const fixtures = fileURLToPath(new URL('../../test/fixtures/eval/', import.meta.url));
let root: string;

/** Images a (fill 10, 200×100) and b (fill 20, 100×100); their objects in pixels. */
async function writeDataset(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'images/val'), { recursive: true });
  await mkdir(path.join(dir, 'labels/val'), { recursive: true });
  await writeFile(path.join(dir, 'data.yaml'), 'val: images/val\nnames: [scratch, crack]\n');
  const image = (fill: number, width: number, height: number) =>
    sharp({ create: { width, height, channels: 3, background: { r: fill, g: fill, b: fill } } })
      .png()
      .toBuffer();
  await writeFile(path.join(dir, 'images/val/a.png'), await image(10, 200, 100));
  await writeFile(path.join(dir, 'images/val/0007.png'), await image(20, 100, 100));
  // a: scratch at x 50..150, y 25..75; 0007: crack at x 0..50, y 0..50.
  await writeFile(path.join(dir, 'labels/val/a.txt'), '0 0.5 0.5 0.5 0.5\n');
  await writeFile(path.join(dir, 'labels/val/0007.txt'), '1 0.25 0.25 0.5 0.5\n');
}

class FakeDetector implements Detector {
  readonly calls: DetectOptions[] = [];
  loaded: ModelInfo | null = null;

  constructor(
    private readonly classNames: string[],
    /** Detections by the image's fill value (its first byte). */
    private readonly answers: Record<number, Detection[]>,
  ) {}

  get model(): ModelInfo {
    if (!this.loaded) throw new VisionLoopError('MODEL_NOT_FOUND', 'no model is loaded yet');
    return this.loaded;
  }

  load(modelPath: string): Promise<ModelInfo> {
    this.loaded = {
      path: modelPath,
      sha256: '0'.repeat(64),
      version: 'fake-1',
      inputName: 'images',
      outputName: 'output0',
      inputWidth: 320,
      inputHeight: 320,
      stride: 32,
      classNames: this.classNames,
      layout: 'yolov8',
      metadata: {},
    };
    return Promise.resolve(this.loaded);
  }

  detect(image: RgbImage, options?: Partial<DetectOptions>): Promise<DetectorOutput> {
    this.calls.push({ ...EVALUATION_DETECT_OPTIONS, ...options });
    return Promise.resolve({
      detections: this.answers[image.data[0] ?? -1] ?? [],
      timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 },
    });
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}

const detection = (
  classId: number,
  confidence: number,
  x1: number,
  y1: number,
  x2: number,
  y2: number,
): Detection => ({
  classId,
  className: CLASSES[classId] ?? '?',
  confidence,
  box: { x1, y1, x2, y2 },
});

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'visionloop-eval-'));
  await writeDataset(root);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('EvaluationService.evaluateModel', () => {
  const service = new EvaluationService(new YoloDatasetRepository());

  it('runs the detector over the split with mAP settings and scores what it returns', async () => {
    // a: the scratch found exactly (0.9) plus a crack false alarm (0.6);
    // 0007: the crack found at IoU 0.64 (x 0..40 of 0..50, 0.8·0.8 = 0.64) with score 0.3.
    const detector = new FakeDetector(CLASSES, {
      10: [detection(0, 0.9, 50, 25, 150, 75), detection(1, 0.6, 160, 0, 190, 20)],
      20: [detection(1, 0.3, 0, 0, 40, 40)],
    });
    await detector.load('/models/m.onnx');
    const progress: string[] = [];
    const report = await service.evaluateModel(detector, root, {
      onProgress: (p) => progress.push(`${p.current}/${p.total}`),
    });
    expect(detector.calls).toEqual([EVALUATION_DETECT_OPTIONS, EVALUATION_DETECT_OPTIONS]);
    expect(EVALUATION_DETECT_OPTIONS).toEqual({
      confThreshold: 0.001,
      iouThreshold: 0.6,
      maxDetections: 100,
    });
    expect(progress).toEqual(['1/2', '2/2']);
    expect(report.model).toEqual({ version: 'fake-1', path: '/models/m.onnx' });
    expect(report.dataset).toEqual({ root, split: 'val' });
    expect([report.images, report.gtCount, report.predCount]).toEqual([2, 2, 3]);
    // scratch: AP 1 at every IoU. crack: FP (0.6) then TP (0.3, IoU 0.64): precision 0, 0.5 →
    // AP 0.5 at IoU 0.50..0.60 (3 thresholds), 0 above → AP@[.5:.95] = 0.15.
    const [scratch, crack] = report.perClass;
    expect(scratch?.ap50_95).toBeCloseTo(1, 12);
    expect(crack?.ap50).toBeCloseTo(0.5, 12);
    expect(crack?.ap50_95).toBeCloseTo(0.15, 12);
    expect(report.map50).toBeCloseTo(0.75, 12);
    expect(report.map50_95).toBeCloseTo(0.575, 12);
    // At the serving threshold 0.5 the crack hit (0.3) does not count: a miss and a false alarm.
    expect(report.confusion.matrix).toEqual([
      [1, 0, 0],
      [0, 0, 1],
      [0, 1, 0],
    ]);
    expect([report.precision, report.recall]).toEqual([0.5, 0.5]);
    const lenient = await service.evaluateModel(detector, root, { servingThreshold: 0.25 });
    expect([lenient.precision, lenient.recall]).toEqual([2 / 3, 1]);
  });

  it('refuses a model whose classes are not the dataset’s', async () => {
    const detector = new FakeDetector(['scratch', 'dent'], {});
    await detector.load('/models/m.onnx');
    await expect(service.evaluateModel(detector, root)).rejects.toThrow(
      "the model's classes (scratch, dent) differ from the dataset's (scratch, crack): class 1 is 'dent' in the model and 'crack' in the dataset",
    );
    expect(() => checkClassNames(['a'], ['a', 'b'])).toThrow(
      /the model has 1 classes and the dataset 2/,
    );
  });

  it('needs a loaded model', async () => {
    const detector = new FakeDetector(CLASSES, {});
    await expect(service.evaluateModel(detector, root)).rejects.toMatchObject({
      code: 'MODEL_NOT_FOUND',
    });
  });

  it('stops when aborted', async () => {
    const detector = new FakeDetector(CLASSES, {});
    await detector.load('/models/m.onnx');
    const controller = new AbortController();
    controller.abort(new Error('cancelled by the user'));
    await expect(
      service.evaluateModel(detector, root, { signal: controller.signal }),
    ).rejects.toThrow('cancelled by the user');
    expect(detector.calls).toHaveLength(0);
  });
});

describe('EvaluationService.evaluatePredictions', () => {
  const service = new EvaluationService(new YoloDatasetRepository());

  it('scores a COCO results file against COCO annotations', async () => {
    const report = await service.evaluatePredictions(
      path.join(fixtures, 'coco-results.json'),
      path.join(fixtures, 'coco-annotations.json'),
    );
    // Same numbers as COCOeval on these files (src/vision/coco.test.ts).
    expect(report.map50_95).toBe(0.27486248624862486);
    expect(report.map50).toBe(0.5544554455445545);
    expect(report.data.format).toBe('coco');
    expect(report.perClass.map((c) => c.className)).toEqual(['scratch', 'crack', 'dent', 'stain']);
  });

  it('scores a COCO results file against a YOLO dataset, by stem or by number', async () => {
    const file = path.join(root, 'results.json');
    await writeFile(
      file,
      JSON.stringify([
        { image_id: 'a', category_id: 0, bbox: [50, 25, 100, 50], score: 0.9 },
        { image_id: 7, category_id: 1, bbox: [0, 0, 50, 50], score: 0.8 },
      ]),
    );
    const report = await service.evaluatePredictions(file, root);
    expect(report.data).toEqual({ path: root, format: 'yolo', split: 'val' });
    expect(report.map50_95).toBeCloseTo(1, 12);
    expect([report.precision, report.recall]).toEqual([1, 1]);
  });

  it('names the file and entry of a bad results file', async () => {
    const file = path.join(root, 'bad.json');
    await writeFile(
      file,
      JSON.stringify([{ image_id: 'a', category_id: 0, bbox: [0, 0, 1], score: 1 }]),
    );
    await expect(service.evaluatePredictions(file, root)).rejects.toThrow(`${file}: [0].bbox`);
  });
});
