/**
 * Output layouts of stage models (src/vision/stage-model.ts): which layout a model has, from
 * its output shapes and metadata `task` (as Ultralytics writes it), and how each layout's raw
 * output becomes a crop's class or binary mask:
 * - `classify`  one output `[N, nc]`: probabilities, or logits (softmax when a row is not a
 *   distribution); the answer is the argmax.
 * - `crop-mask` one output `[N, 1, h, w]`: defect probabilities, or logits (sigmoid when any
 *   value is outside 0..1); a pixel is defect at ≥ 0.5.
 * - `yolo-seg`  outputs `[N, 4+nc+32, K]` (cx, cy, w, h in input pixels, class scores, mask
 *   coefficients) and prototypes `[N, 32, H, W]`: the best-scoring box's mask, sigmoid(coeffs ·
 *   protos) ≥ 0.5 at prototype resolution, cut to the box.
 * Every mask covers the whole model input (the crop), at its own resolution.
 * Pure: no I/O.
 */
import type { CropClassification } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import type { StageLayout, StageTask } from './stage-model.js';

/** Mask coefficients per box in a YOLO-seg export (Ultralytics `nm`). */
export const YOLO_SEG_MASK_CHANNELS = 32;

/** A binary mask over a crop's model input: `data[y * width + x]` is 1 (defect) or 0. */
export interface BinaryMask {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface StageOutputShape {
  name: string;
  dims: readonly number[];
}

export interface StageLayoutInfo {
  layout: StageLayout;
  task: StageTask;
  /** Classes of a classifier or a YOLO-seg head; 1 for a plain mask model. */
  numClasses: number;
  /** For `yolo-seg`: which output holds the boxes and which the prototypes. */
  predictionOutput: string;
  protoOutput: string | null;
}

function describe(outputs: readonly StageOutputShape[]): string {
  return outputs.map((o) => `${o.name} [${o.dims.join(', ')}]`).join(', ');
}

function unsupported(outputs: readonly StageOutputShape[], why: string): VisionLoopError {
  return new VisionLoopError(
    'MODEL_LAYOUT_UNSUPPORTED',
    `stage model outputs ${describe(outputs)}: ${why}; expected a classifier [N, nc], a mask model [N, 1, h, w] or a YOLO-seg export [N, 4+nc+32, K] + [N, 32, H, W]`,
  );
}

/**
 * The layout of a stage model from its outputs (shapes of a warm-up run) and metadata `task`
 * ('classify', 'segment', 'detect' or null). Throws MODEL_LAYOUT_UNSUPPORTED naming the shapes.
 */
export function detectStageLayout(
  outputs: readonly StageOutputShape[],
  task: string | null,
): StageLayoutInfo {
  if (task !== null && task !== 'classify' && task !== 'segment') {
    throw unsupported(outputs, `metadata task is '${task}', not 'classify' or 'segment'`);
  }
  const positive = (dims: readonly number[]): boolean =>
    dims.every((d) => Number.isInteger(d) && d > 0);
  if (outputs.length === 1) {
    const only = outputs[0]!;
    const dims = only.dims;
    if (!positive(dims)) throw unsupported(outputs, 'a dimension is not positive');
    if (dims.length === 2 && task !== 'segment') {
      return {
        layout: 'classify',
        task: 'classify',
        numClasses: dims[1]!,
        predictionOutput: only.name,
        protoOutput: null,
      };
    }
    if (dims.length === 4 && dims[1] === 1 && task !== 'classify') {
      return {
        layout: 'crop-mask',
        task: 'segment',
        numClasses: 1,
        predictionOutput: only.name,
        protoOutput: null,
      };
    }
    throw unsupported(outputs, task ? `no ${task} layout has this shape` : 'unknown shape');
  }
  if (outputs.length === 2 && task !== 'classify') {
    const prediction = outputs.find((o) => o.dims.length === 3);
    const protos = outputs.find((o) => o.dims.length === 4);
    if (
      prediction &&
      protos &&
      positive(prediction.dims) &&
      positive(protos.dims) &&
      protos.dims[1] === YOLO_SEG_MASK_CHANNELS &&
      prediction.dims[0] === protos.dims[0] &&
      prediction.dims[1]! > 4 + YOLO_SEG_MASK_CHANNELS
    ) {
      return {
        layout: 'yolo-seg',
        task: 'segment',
        numClasses: prediction.dims[1]! - 4 - YOLO_SEG_MASK_CHANNELS,
        predictionOutput: prediction.name,
        protoOutput: protos.name,
      };
    }
    throw unsupported(outputs, 'two outputs that are not YOLO-seg boxes and prototypes');
  }
  throw unsupported(outputs, `${outputs.length} outputs`);
}

/** Whether a row of scores is already a probability distribution (each 0..1, sum 1). */
function isDistribution(row: Float32Array): boolean {
  let sum = 0;
  for (const v of row) {
    if (!(v >= 0 && v <= 1)) return false;
    sum += v;
  }
  return Math.abs(sum - 1) <= 1e-3;
}

function softmax(row: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  const out = new Float32Array(row.length);
  let sum = 0;
  row.forEach((v, i) => {
    const e = Math.exp(v - max);
    out[i] = e;
    sum += e;
  });
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / sum;
  return out;
}

/**
 * One classification per row of a `[N, nc]` output: the argmax class and its probability
 * (softmax applied to rows that are not distributions). Names from `classNames`, else `classK`.
 */
export function parseClassifications(
  data: Float32Array,
  dims: readonly number[],
  classNames: readonly string[],
): CropClassification[] {
  const [count, classes] = dims;
  if (dims.length !== 2 || !count || !classes || data.length !== count * classes) {
    throw new VisionLoopError(
      'MODEL_LAYOUT_UNSUPPORTED',
      `classifier output [${dims.join(', ')}] with ${data.length} values is not [N, nc]`,
    );
  }
  const results: CropClassification[] = [];
  for (let n = 0; n < count; n++) {
    const raw = data.subarray(n * classes, (n + 1) * classes);
    const row = isDistribution(raw) ? raw : softmax(raw);
    let best = 0;
    for (let k = 1; k < classes; k++) if (row[k]! > row[best]!) best = k;
    results.push({
      classId: best,
      className: classNames[best] ?? `class${best}`,
      confidence: row[best]!,
    });
  }
  return results;
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/** Binary masks from a `[N, 1, h, w]` output (sigmoid first when a value is outside 0..1). */
export function parseCropMasks(data: Float32Array, dims: readonly number[]): BinaryMask[] {
  const [count, channels, height, width] = dims;
  if (
    dims.length !== 4 ||
    channels !== 1 ||
    !count ||
    !height ||
    !width ||
    data.length !== count * height * width
  ) {
    throw new VisionLoopError(
      'MODEL_LAYOUT_UNSUPPORTED',
      `mask output [${dims.join(', ')}] with ${data.length} values is not [N, 1, h, w]`,
    );
  }
  let logits = false;
  for (const v of data) {
    if (!(v >= 0 && v <= 1)) {
      logits = true;
      break;
    }
  }
  // sigmoid(x) ≥ 0.5 exactly when x ≥ 0: threshold the logits without computing exp.
  const threshold = logits ? 0 : 0.5;
  const plane = width * height;
  return Array.from({ length: count }, (_, n) => {
    const mask = new Uint8Array(plane);
    const base = n * plane;
    for (let i = 0; i < plane; i++) mask[i] = data[base + i]! >= threshold ? 1 : 0;
    return { width, height, data: mask };
  });
}

export interface YoloSegOptions {
  /** Model input size: the boxes' coordinate space. */
  inputWidth: number;
  inputHeight: number;
  /** A box below this class score is no defect: the mask stays empty. Default 0.25. */
  minScore?: number;
}

/**
 * One mask per batch item of a YOLO-seg export: the best-scoring box (over all classes) gives
 * its 32 coefficients; mask = sigmoid(coeffs · protos) ≥ 0.5 at prototype resolution, zero
 * outside the box (scaled from input pixels to prototype pixels). Empty when no box reaches
 * `minScore`.
 */
export function parseYoloSegMasks(
  prediction: { data: Float32Array; dims: readonly number[] },
  protos: { data: Float32Array; dims: readonly number[] },
  options: YoloSegOptions,
): BinaryMask[] {
  const [count, channels, anchors] = prediction.dims;
  const [protoCount, protoChannels, height, width] = protos.dims;
  if (
    prediction.dims.length !== 3 ||
    protos.dims.length !== 4 ||
    !count ||
    !channels ||
    !anchors ||
    !height ||
    !width ||
    protoCount !== count ||
    protoChannels !== YOLO_SEG_MASK_CHANNELS ||
    channels <= 4 + YOLO_SEG_MASK_CHANNELS ||
    prediction.data.length !== count * channels * anchors ||
    protos.data.length !== count * YOLO_SEG_MASK_CHANNELS * height * width
  ) {
    throw new VisionLoopError(
      'MODEL_LAYOUT_UNSUPPORTED',
      `YOLO-seg outputs [${prediction.dims.join(', ')}] + [${protos.dims.join(', ')}] are not [N, 4+nc+32, K] + [N, 32, H, W]`,
    );
  }
  const numClasses = channels - 4 - YOLO_SEG_MASK_CHANNELS;
  const minScore = options.minScore ?? 0.25;
  const plane = width * height;
  const masks: BinaryMask[] = [];
  for (let n = 0; n < count; n++) {
    const pred = prediction.data.subarray(n * channels * anchors, (n + 1) * channels * anchors);
    const at = (channel: number, anchor: number): number => pred[channel * anchors + anchor]!;
    let bestAnchor = -1;
    let bestScore = minScore;
    for (let a = 0; a < anchors; a++) {
      for (let k = 0; k < numClasses; k++) {
        const score = at(4 + k, a);
        if (score >= bestScore) {
          bestScore = score;
          bestAnchor = a;
        }
      }
    }
    const mask = new Uint8Array(plane);
    masks.push({ width, height, data: mask });
    if (bestAnchor < 0) continue;
    const sx = width / options.inputWidth;
    const sy = height / options.inputHeight;
    const cx = at(0, bestAnchor);
    const cy = at(1, bestAnchor);
    const bw = at(2, bestAnchor);
    const bh = at(3, bestAnchor);
    // Ultralytics crop_mask keeps prototype pixels whose index lies in [x1, x2) × [y1, y2).
    const x1 = Math.max(0, Math.ceil((cx - bw / 2) * sx));
    const x2 = Math.min(width, Math.ceil((cx + bw / 2) * sx));
    const y1 = Math.max(0, Math.ceil((cy - bh / 2) * sy));
    const y2 = Math.min(height, Math.ceil((cy + bh / 2) * sy));
    const coeffs = Float32Array.from({ length: YOLO_SEG_MASK_CHANNELS }, (_, c) =>
      at(4 + numClasses + c, bestAnchor),
    );
    const proto = protos.data.subarray(
      n * YOLO_SEG_MASK_CHANNELS * plane,
      (n + 1) * YOLO_SEG_MASK_CHANNELS * plane,
    );
    for (let y = y1; y < y2; y++) {
      for (let x = x1; x < x2; x++) {
        const p = y * width + x;
        let sum = 0;
        for (let c = 0; c < YOLO_SEG_MASK_CHANNELS; c++) sum += coeffs[c]! * proto[c * plane + p]!;
        // sigmoid(sum) ≥ 0.5 ⇔ sum ≥ 0.
        mask[p] = sigmoid(sum) >= 0.5 ? 1 : 0;
      }
    }
  }
  return masks;
}
