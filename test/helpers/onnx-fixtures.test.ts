import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it } from 'vitest';
import type { Box } from '../../src/shared/domain.js';
import { isVisionLoopError } from '../../src/shared/errors.js';
import type { OutputLayout } from '../../src/vision/detector.js';
import { decodeOutput, detectLayout, type Candidate } from '../../src/vision/layouts.js';
import { boxToSource, computeLetterbox } from '../../src/vision/letterbox.js';
import { parseModelMetadata } from '../../src/vision/metadata.js';
import { nonMaxSuppression } from '../../src/vision/nms.js';
import {
  buildColourClassifierModel,
  buildConstantOutputModel,
  buildDarkMaskModel,
  buildYoloSegConstantModel,
  buildNonOnnxFile,
  buildTruncatedModel,
  buildUnsupportedLayoutModel,
  encodeLayoutTensor,
  readModelMetadata,
  ultralyticsMetadata,
  type FixtureObject,
} from './onnx-fixtures.js';

const sessions: ort.InferenceSession[] = [];

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.release()));
});

async function run(bytes: Uint8Array, fill = 0.5): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes);
  sessions.push(session);
  const input = new ort.Tensor('float32', new Float32Array(3 * 32 * 32).fill(fill), [1, 3, 32, 32]);
  const outputs = await session.run({ images: input });
  const output = outputs.output0;
  if (!output) throw new Error('no output0');
  return output;
}

const NAMES = ['scratch', 'crack', "it's"];
// 32×32 input with strides 8, 16, 32: 16 + 4 + 1 anchors.
const ANCHORS = 21;

// Objects in input pixels. The frame is 64×48, letterboxed into 32×32: scale 0.5, resized
// 32×24, padTop round(4 − 0.1) = 4, padLeft 0; so source = ((x − 0) / 0.5, (y − 4) / 0.5).
const A: FixtureObject = {
  cx: 8,
  cy: 12,
  w: 8,
  h: 8,
  classScores: [0.875, 0.125, 0.0625],
  anchor: 3,
};
const B: FixtureObject = {
  cx: 20,
  cy: 16,
  w: 6,
  h: 4,
  classScores: [0.25, 1, 0],
  objectness: 0.75,
  anchor: 10,
};
// Same class as A, IoU 60/68 with it, lower score, earlier anchor: suppressed by NMS.
const C: FixtureObject = { cx: 8.5, cy: 12, w: 8, h: 8, classScores: [0.625, 0, 0], anchor: 0 };
// IoU 0.75 with A but another class: kept by class-aware NMS.
const D: FixtureObject = { cx: 8, cy: 12, w: 8, h: 6, classScores: [0, 0.25, 0.5], anchor: 20 };
// Below the 0.25 threshold.
const E: FixtureObject = { cx: 16, cy: 16, w: 4, h: 4, classScores: [0.125, 0, 0], anchor: 7 };
// Runs past the frame's bottom-right corner: clipped.
const F: FixtureObject = { cx: 30, cy: 26, w: 8, h: 8, classScores: [0, 0.375, 0.25], anchor: 15 };

interface Expected {
  classId: number;
  score: number;
  box: Box;
}

const EXPECTED: Expected[] = [
  { classId: 0, score: 0.875, box: { x1: 8, y1: 8, x2: 24, y2: 24 } },
  { classId: 1, score: 0.75, box: { x1: 34, y1: 20, x2: 46, y2: 28 } },
  { classId: 2, score: 0.5, box: { x1: 8, y1: 10, x2: 24, y2: 22 } },
  { classId: 1, score: 0.375, box: { x1: 52, y1: 36, x2: 64, y2: 48 } },
];

const LAYOUTS: OutputLayout[] = ['yolov8', 'yolov8-transposed', 'yolov5', 'end2end'];

describe('buildConstantOutputModel', () => {
  it('runs in ONNX Runtime and outputs exactly the given tensor, whatever the input', async () => {
    const values = Float32Array.from([0.1, -2.5, 3e-8, 1e30, 0, 7]);
    const bytes = buildConstantOutputModel({ outputDims: [1, 2, 3], outputValues: values });
    for (const fill of [0, 0.5, 1]) {
      const output = await run(bytes, fill);
      expect(output.type).toBe('float32');
      expect(output.dims).toEqual([1, 2, 3]);
      expect(Array.from(output.data as Float32Array)).toEqual(Array.from(values));
    }
  });

  it('writes metadata_props as given', () => {
    const metadata = ultralyticsMetadata(NAMES);
    const bytes = buildConstantOutputModel({
      outputDims: [1, 7, 21],
      outputValues: new Float32Array(147),
      metadata,
    });
    expect(readModelMetadata(bytes)).toEqual(metadata);
    expect(readModelMetadata(bytes).names).toBe(`{0: 'scratch', 1: 'crack', 2: "it's"}`);
  });

  it('refuses a value count that does not fit the dims', () => {
    expect(() => buildConstantOutputModel({ outputDims: [1, 2, 3], outputValues: [1, 2] })).toThrow(
      RangeError,
    );
  });
});

describe.each(LAYOUTS)('a %s model, end to end through ONNX Runtime', (layout) => {
  const objects = layout === 'end2end' ? [A, B, D, E, F] : [A, B, C, D, E, F];
  const { dims, values } = encodeLayoutTensor(layout, objects, NAMES.length, ANCHORS);
  const metadata = ultralyticsMetadata(NAMES, { imgsz: [32, 32], end2end: layout === 'end2end' });
  const bytes = buildConstantOutputModel({ outputDims: dims, outputValues: values, metadata });

  it('outputs the layout tensor exactly', async () => {
    const output = await run(bytes);
    expect(output.dims).toEqual(dims);
    expect(Array.from(output.data as Float32Array)).toEqual(Array.from(values));
  });

  it('is recognized from its dims and metadata and decodes to the pixel', async () => {
    const output = await run(bytes);
    const meta = parseModelMetadata(readModelMetadata(bytes));
    expect(meta.names).toEqual(NAMES);
    expect(meta.imgsz).toEqual([32, 32]);
    expect(detectLayout(output.dims, meta.names.length, { end2end: meta.end2end })).toBe(layout);

    const candidates = decodeOutput(
      output.data as Float32Array,
      output.dims,
      layout,
      NAMES.length,
      0.25,
    );
    const kept: Candidate[] =
      layout === 'end2end'
        ? [...candidates].sort((a, b) => b.score - a.score)
        : nonMaxSuppression(candidates, { iouThreshold: 0.45, maxDetections: 100 });
    const transform = computeLetterbox(64, 48, 32, 32);
    expect(transform).toMatchObject({ scale: 0.5, padLeft: 0, padTop: 4 });
    const detections = kept.map((c) => ({
      classId: c.classId,
      score: c.score,
      box: boxToSource(c.box, transform),
    }));
    expect(detections).toEqual(EXPECTED);
  });

  if (layout !== 'end2end') {
    it('keeps the class-score vector of each candidate (YOLOv5: objectness × class)', async () => {
      const output = await run(bytes);
      const candidates = decodeOutput(output.data as Float32Array, output.dims, layout, 3, 0.25);
      const b = candidates.find((c) => c.classId === 1 && c.score === 0.75);
      expect(Array.from(b?.classScores ?? [])).toEqual([0.1875, 0.75, 0]);
    });
  }
});

describe('models the runtime must refuse', () => {
  it('a 4-D output runs but matches no layout', async () => {
    const output = await run(buildUnsupportedLayoutModel());
    expect(output.dims).toEqual([1, 2, 3, 4]);
    let error: unknown;
    try {
      detectLayout(output.dims, 4);
    } catch (e) {
      error = e;
    }
    expect(isVisionLoopError(error) && error.code).toBe('MODEL_LAYOUT_UNSUPPORTED');
    expect((error as Error).message).toContain('[1, 2, 3, 4]');
  });

  it('a file that is not ONNX, or is cut short, does not load', async () => {
    await expect(ort.InferenceSession.create(buildNonOnnxFile())).rejects.toThrow();
    await expect(ort.InferenceSession.create(buildTruncatedModel())).rejects.toThrow();
  });
});

describe('stage model fixtures', () => {
  async function runBatch(bytes: Uint8Array, pixels: number[][], size = 32) {
    const session = await ort.InferenceSession.create(bytes);
    sessions.push(session);
    const plane = size * size;
    const data = new Float32Array(pixels.length * 3 * plane);
    pixels.forEach((rgb, n) =>
      rgb.forEach((v, c) => data.fill(v, (n * 3 + c) * plane, (n * 3 + c + 1) * plane)),
    );
    const feeds = { images: new ort.Tensor('float32', data, [pixels.length, 3, size, size]) };
    return session.run(feeds);
  }

  it('the colour classifier computes softmax(10 × mean RGB) over a dynamic batch', async () => {
    const outputs = await runBatch(buildColourClassifierModel(), [
      [1, 0, 0],
      [0, 0, 1],
    ]);
    const output = outputs.output0!;
    expect(output.dims).toEqual([2, 3]);
    const p = 1 / (1 + 2 * Math.exp(-10));
    const values = Array.from(output.data as Float32Array);
    expect(values[0]).toBeCloseTo(p, 5);
    expect(values[5]).toBeCloseTo(p, 5);
    expect(readModelMetadata(buildColourClassifierModel()).task).toBe('classify');
  });

  it('the dark mask model marks pixels below the threshold', async () => {
    const outputs = await runBatch(
      buildDarkMaskModel({ size: 8 }),
      [
        [0.1, 0.1, 0.1],
        [0.9, 0.9, 0.9],
      ],
      8,
    );
    const mask = outputs.mask!;
    expect(mask.dims).toEqual([2, 1, 8, 8]);
    const values = mask.data as Float32Array;
    expect(values[0]).toBeCloseTo(1 / (1 + Math.exp(-10)), 5);
    expect(values[64]).toBeLessThan(1e-6);
  });

  it('the YOLO-seg fixture emits its box and prototypes', async () => {
    const bytes = buildYoloSegConstantModel({
      names: ['pit', 'crack'],
      anchors: 4,
      box: { cx: 10, cy: 12, w: 8, h: 6, classId: 1, score: 0.75 },
      defect: { x1: 1, y1: 1, x2: 3, y2: 2 },
    });
    const outputs = await runBatch(bytes, [[0.5, 0.5, 0.5]]);
    expect(outputs.output0!.dims).toEqual([1, 38, 4]);
    expect(outputs.output1!.dims).toEqual([1, 32, 8, 8]);
    const pred = outputs.output0!.data as Float32Array;
    expect([pred[0], pred[4], pred[8], pred[12], pred[5 * 4], pred[6 * 4]]).toEqual([
      10, 12, 8, 6, 0.75, 1,
    ]);
    const protos = outputs.output1!.data as Float32Array;
    expect([protos[9], protos[10], protos[11], protos[0]]).toEqual([8, 8, -8, -8]);
  });
});
