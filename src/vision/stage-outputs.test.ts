import { describe, expect, it } from 'vitest';
import { isVisionLoopError, type ErrorCode } from '../shared/errors.js';
import {
  detectStageLayout,
  parseClassifications,
  parseCropMasks,
  parseYoloSegMasks,
} from './stage-outputs.js';

function codeOf(fn: () => unknown): { code: ErrorCode; message: string } {
  try {
    fn();
  } catch (error) {
    if (isVisionLoopError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a VisionLoopError');
}

describe('detectStageLayout', () => {
  it('tells a classifier, a mask model and a YOLO-seg export apart by shape', () => {
    expect(detectStageLayout([{ name: 'output0', dims: [1, 5] }], null)).toMatchObject({
      layout: 'classify',
      task: 'classify',
      numClasses: 5,
    });
    expect(detectStageLayout([{ name: 'mask', dims: [4, 1, 64, 64] }], 'segment')).toMatchObject({
      layout: 'crop-mask',
      task: 'segment',
      numClasses: 1,
    });
    expect(
      detectStageLayout(
        [
          { name: 'output0', dims: [1, 4 + 2 + 32, 8400] },
          { name: 'output1', dims: [1, 32, 160, 160] },
        ],
        'segment',
      ),
    ).toEqual({
      layout: 'yolo-seg',
      task: 'segment',
      numClasses: 2,
      predictionOutput: 'output0',
      protoOutput: 'output1',
    });
  });

  it('names the shapes of an unsupported model', () => {
    const detector = codeOf(() => detectStageLayout([{ name: 'out', dims: [1, 6, 84] }], null));
    expect(detector.code).toBe('MODEL_LAYOUT_UNSUPPORTED');
    expect(detector.message).toContain('out [1, 6, 84]');
    expect(codeOf(() => detectStageLayout([{ name: 'o', dims: [1, 5] }], 'segment')).code).toBe(
      'MODEL_LAYOUT_UNSUPPORTED',
    );
    expect(
      codeOf(() => detectStageLayout([{ name: 'o', dims: [1, 5] }], 'detect')).message,
    ).toContain("task is 'detect'");
    expect(
      codeOf(() =>
        detectStageLayout(
          [
            { name: 'a', dims: [1, 38, 10] },
            { name: 'b', dims: [1, 16, 8, 8] },
          ],
          null,
        ),
      ).code,
    ).toBe('MODEL_LAYOUT_UNSUPPORTED');
  });
});

describe('parseClassifications', () => {
  it('takes the argmax of probabilities as they are', () => {
    const rows = new Float32Array([0.125, 0.75, 0.125, 0.5, 0.25, 0.25]);
    expect(parseClassifications(rows, [2, 3], ['ok', 'crack', 'dent'])).toEqual([
      { classId: 1, className: 'crack', confidence: 0.75 },
      { classId: 0, className: 'ok', confidence: 0.5 },
    ]);
  });

  it('applies softmax to logits and names unnamed classes', () => {
    const [result] = parseClassifications(new Float32Array([2, 0]), [1, 2], []);
    expect(result!.classId).toBe(0);
    expect(result!.className).toBe('class0');
    expect(result!.confidence).toBeCloseTo(Math.exp(2) / (Math.exp(2) + 1), 6);
  });
});

describe('parseCropMasks', () => {
  it('thresholds probabilities at 0.5', () => {
    const masks = parseCropMasks(new Float32Array([0.2, 0.5, 0.7, 0.1]), [1, 1, 2, 2]);
    expect(masks).toEqual([{ width: 2, height: 2, data: Uint8Array.from([0, 1, 1, 0]) }]);
  });

  it('treats values outside 0..1 as logits (sigmoid ≥ 0.5 ⇔ logit ≥ 0)', () => {
    const masks = parseCropMasks(new Float32Array([-3, 0.2, 4, -0.1, 1, 1, 1, 1]), [2, 1, 2, 2]);
    expect(Array.from(masks[0]!.data)).toEqual([0, 1, 1, 0]);
    expect(Array.from(masks[1]!.data)).toEqual([1, 1, 1, 1]);
  });

  it('rejects a wrong shape', () => {
    expect(codeOf(() => parseCropMasks(new Float32Array(8), [1, 2, 2, 2])).code).toBe(
      'MODEL_LAYOUT_UNSUPPORTED',
    );
  });
});

describe('parseYoloSegMasks', () => {
  // 2 classes, 3 anchors, prototypes 4×4 for a 16×16 input.
  const nc = 2;
  const anchors = 3;
  const channels = 4 + nc + 32;
  function prediction(rows: Array<{ box: number[]; scores: number[]; coeff0: number }>) {
    const data = new Float32Array(channels * anchors);
    rows.forEach((row, a) => {
      [...row.box, ...row.scores, row.coeff0].forEach((v, c) => (data[c * anchors + a] = v));
    });
    return { data, dims: [1, channels, anchors] };
  }
  // Prototype 0 is +1 on the left half, -1 on the right; the others are 0.
  const protoData = new Float32Array(32 * 16);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) protoData[y * 4 + x] = x < 2 ? 1 : -1;
  const protos = { data: protoData, dims: [1, 32, 4, 4] };

  it("takes the best box's mask, cut to the box", () => {
    const pred = prediction([
      { box: [8, 8, 16, 16], scores: [0.3, 0.1], coeff0: -1 },
      { box: [6, 8, 12, 8], scores: [0.2, 0.9], coeff0: 1 },
    ]);
    const [mask] = parseYoloSegMasks(pred, protos, { inputWidth: 16, inputHeight: 16 });
    // Box x 0..12, y 4..12 → prototype columns 0..2, rows 1..2; positive on columns 0..1.
    expect(Array.from(mask!.data)).toEqual([0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('gives an empty mask when no box reaches the minimum score', () => {
    const pred = prediction([{ box: [8, 8, 16, 16], scores: [0.1, 0.2], coeff0: 1 }]);
    const [mask] = parseYoloSegMasks(pred, protos, { inputWidth: 16, inputHeight: 16 });
    expect(mask!.data.every((v) => v === 0)).toBe(true);
  });
});
