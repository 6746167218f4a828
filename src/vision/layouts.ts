/**
 * Output-layout detection and decoding for the four detector layouts of DESIGN.md §4.
 *
 * `detectLayout` runs once per model (from the output dims and the class count in the
 * metadata); `decodeOutput` runs on every frame and turns the raw output tensor into
 * candidate boxes in network-input pixels, ready for NMS. It is on the hot path: it reads the
 * tensor in memory order, allocates nothing per anchor below the threshold, and copies a
 * class-score vector only for candidates that pass.
 *
 * Pure: no I/O, no Node-only imports.
 */
import type { Box } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import {
  calibrateScore,
  isIdentityCalibration,
  rawThreshold,
  type ScoreCalibration,
} from './calibration.js';
import type { OutputLayout } from './detector.js';

/** One box before NMS, in network-input pixels (corner form). */
export interface Candidate {
  classId: number;
  score: number;
  box: Box;
  /**
   * Every class's score for this box (for active learning: margin, entropy). YOLOv8 layouts:
   * the class scores; YOLOv5: objectness × class score; absent for end-to-end outputs.
   */
  classScores?: Float32Array | number[];
}

export interface LayoutHints {
  /** The metadata says the model is end-to-end (`end2end: True` or `args.nms: True`). */
  end2end?: boolean;
  /**
   * The network input size; with it, when `end2end` is not true, a `[1, R, 6]` output that
   * could be anchors or end-to-end rows is taken as anchors only if R is the anchor count of
   * that input for a P3–P5, P2–P5 or P3–P6 head.
   */
  inputWidth?: number;
  inputHeight?: number;
}

export interface ResolvedLayout {
  layout: OutputLayout;
  /** Classes per box (for end-to-end outputs: the metadata's count, which may be 0). */
  numClasses: number;
  /** Rows: anchors (N) or, end-to-end, detection slots (K). */
  rows: number;
}

/** The anchor count of a YOLOv5/v8 head with these strides on an input of this size. */
export function anchorCount(
  inputWidth: number,
  inputHeight: number,
  strides: readonly number[] = [8, 16, 32],
): number {
  let n = 0;
  for (const s of strides) n += Math.ceil(inputWidth / s) * Math.ceil(inputHeight / s);
  return n;
}

/** Head stride sets of Ultralytics detectors: P3–P5 (default), P2–P5, P3–P6. */
const HEAD_STRIDES: readonly (readonly number[])[] = [
  [8, 16, 32],
  [4, 8, 16, 32],
  [8, 16, 32, 64],
];

function isAnchorCount(rows: number, inputWidth: number, inputHeight: number): boolean {
  return HEAD_STRIDES.some((strides) => anchorCount(inputWidth, inputHeight, strides) === rows);
}

function formatDims(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

function unsupported(dims: readonly number[], expected: string): VisionLoopError {
  return new VisionLoopError(
    'MODEL_LAYOUT_UNSUPPORTED',
    `model output ${formatDims(dims)} matches no supported layout; expected ${expected}`,
  );
}

function expectedFor(numClasses: number): string {
  if (numClasses > 0) {
    const c = 4 + numClasses;
    return (
      `for ${numClasses} classes [1, ${c}, N] (YOLOv8/YOLO11), [1, N, ${c}] (transposed), ` +
      `[1, N, ${c + 1}] (YOLOv5) or [1, K, 6] (end-to-end)`
    );
  }
  return '[1, 4+nc, N] (YOLOv8/YOLO11), [1, N, 4+nc] (transposed), [1, N, 5+nc] (YOLOv5) or [1, K, 6] (end-to-end)';
}

/**
 * Works out the output layout from the output dims and the metadata's class count.
 *
 * With `numClasses` > 0 the dims are matched against each layout, in this order of precedence
 * when several match:
 * 1. end-to-end `[1, K, 6]` when `hints.end2end` is true — the metadata settles the only real
 *    ambiguity: with 1 class YOLOv5 is `[1, N, 6]`, with 2 classes transposed YOLOv8 is;
 * 2. YOLOv8 `[1, 4+nc, N]` (what Ultralytics and the built-in trainer export);
 * 3. YOLOv5 `[1, N, 5+nc]`, then transposed `[1, N, 4+nc]`, then end-to-end `[1, K, 6]`.
 * When an anchors layout and end-to-end both fit `[1, R, 6]` and the metadata does not say
 * end-to-end (older exports lack the key), the input size decides if given: anchors only when R
 * is the anchor count of that input (`anchorCount`, strides 8/16/32, or a P2 or P6 head),
 * otherwise end-to-end (typically R = 300 slots). Without the input size: anchors.
 *
 * With `numClasses` 0 (no `names` in the metadata) only what the dims prove is inferred:
 * `[1, K, 6]` with `hints.end2end` → end-to-end; `[1, C, N]` with 4 < C < N → YOLOv8 with
 * nc = C − 4 (anchors always outnumber channels). `[1, N, C]` cannot tell YOLOv5 from
 * transposed YOLOv8 without the class count, so it is refused, asking for `names`.
 *
 * Throws MODEL_LAYOUT_UNSUPPORTED naming the dims and the shapes that were expected.
 */
export function resolveLayout(
  dims: readonly number[],
  numClasses: number,
  hints: LayoutHints = {},
): ResolvedLayout {
  if (!Number.isInteger(numClasses) || numClasses < 0) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `numClasses must be a non-negative integer, got ${numClasses}`,
    );
  }
  const expected = expectedFor(numClasses);
  if (dims.length !== 3 || dims[0] !== 1) {
    throw unsupported(dims, `a 3-D output with batch 1: ${expected}`);
  }
  const d1 = dims[1]!;
  const d2 = dims[2]!;
  if (!Number.isInteger(d1) || !Number.isInteger(d2) || d1 <= 0 || d2 <= 0) {
    throw unsupported(dims, `positive fixed sizes: ${expected}`);
  }

  if (numClasses === 0) {
    if (d2 === 6 && hints.end2end === true) return { layout: 'end2end', numClasses: 0, rows: d1 };
    if (d1 > 4 && d1 < d2) return { layout: 'yolov8', numClasses: d1 - 4, rows: d2 };
    throw unsupported(
      dims,
      `${expected}; without class names in the metadata only [1, 4+nc, N] (N > 4+nc) and ` +
        `end-to-end [1, K, 6] (with end2end metadata) can be recognized — add 'names'`,
    );
  }

  const nc = numClasses;
  const endToEndFits = d2 === 6;
  if (endToEndFits && hints.end2end === true)
    return { layout: 'end2end', numClasses: nc, rows: d1 };
  if (d1 === 4 + nc) return { layout: 'yolov8', numClasses: nc, rows: d2 };

  let anchors: OutputLayout | null = null;
  if (d2 === 5 + nc) anchors = 'yolov5';
  else if (d2 === 4 + nc) anchors = 'yolov8-transposed';
  if (anchors !== null) {
    if (
      endToEndFits &&
      hints.inputWidth !== undefined &&
      hints.inputHeight !== undefined &&
      !isAnchorCount(d1, hints.inputWidth, hints.inputHeight)
    ) {
      return { layout: 'end2end', numClasses: nc, rows: d1 };
    }
    return { layout: anchors, numClasses: nc, rows: d1 };
  }
  if (endToEndFits) return { layout: 'end2end', numClasses: nc, rows: d1 };
  throw unsupported(dims, expected);
}

/** The layout of a model's output (see `resolveLayout` for how ambiguity is settled). */
export function detectLayout(
  dims: readonly number[],
  numClasses: number,
  hints?: LayoutHints,
): OutputLayout {
  return resolveLayout(dims, numClasses, hints).layout;
}

/** The class count a layout implies for these dims (for end-to-end: unknown, 0). */
function classesIn(dims: readonly number[], layout: OutputLayout): number {
  switch (layout) {
    case 'yolov8':
      return dims[1]! - 4;
    case 'yolov8-transposed':
      return dims[2]! - 4;
    case 'yolov5':
      return dims[2]! - 5;
    case 'end2end':
      return 0;
  }
}

function checkDecodeArguments(
  data: Float32Array,
  dims: readonly number[],
  layout: OutputLayout,
  numClasses: number,
): number {
  const size = dims.reduce((a, b) => a * b, 1);
  if (dims.length !== 3 || dims[0] !== 1 || data.length !== size) {
    throw new VisionLoopError(
      'MODEL_LAYOUT_UNSUPPORTED',
      `output ${formatDims(dims)} with ${data.length} values cannot be decoded as ${layout}`,
    );
  }
  if (layout === 'end2end') {
    if (dims[2] !== 6) {
      throw unsupported(dims, '[1, K, 6] for an end-to-end model');
    }
    return numClasses;
  }
  const nc = classesIn(dims, layout);
  if (nc < 1 || (numClasses > 0 && nc !== numClasses)) {
    throw new VisionLoopError(
      'MODEL_LAYOUT_UNSUPPORTED',
      `output ${formatDims(dims)} as ${layout} holds ${nc} class scores per box, but the ` +
        `metadata names ${numClasses} classes`,
    );
  }
  return nc;
}

export interface DecodeOptions {
  /** Keep each candidate's class-score vector (default true; off for bulk evaluation). */
  classScores?: boolean;
  /**
   * The model's score calibration (its metadata, src/vision/calibration.ts). When set, the
   * threshold applies to calibrated scores, and candidates' scores and class-score vectors come
   * out calibrated; raw scores are compared against the equivalent raw threshold, so anchors
   * below it cost nothing more.
   */
  calibration?: ScoreCalibration | null;
}

/**
 * The candidates in one output tensor whose score is ≥ `confThreshold`, boxes in
 * network-input pixels, in anchor order. `numClasses` 0 takes the class count from the dims.
 *
 * Scores: YOLOv8 layouts the best class score; YOLOv5 objectness × best class score (anchors
 * with objectness below the threshold are skipped first, as YOLOv5 does: class scores are
 * probabilities ≤ 1); end-to-end the row's score. End-to-end rows whose class is not an
 * integer in 0..numClasses−1 (when numClasses > 0) cannot be named and are dropped.
 */
export function decodeOutput(
  data: Float32Array,
  dims: readonly number[],
  layout: OutputLayout,
  numClasses: number,
  confThreshold: number,
  options: DecodeOptions = {},
): Candidate[] {
  const nc = checkDecodeArguments(data, dims, layout, numClasses);
  const keepScores = options.classScores !== false;
  const calibration = isIdentityCalibration(options.calibration) ? null : options.calibration!;
  const threshold = calibration ? rawThreshold(confThreshold, calibration) : confThreshold;
  let candidates: Candidate[];
  switch (layout) {
    case 'yolov8':
      candidates = decodeChannelsFirst(data, nc, dims[2]!, threshold, keepScores);
      break;
    case 'yolov8-transposed':
      candidates = decodeRows(data, nc, dims[1]!, 4, false, threshold, keepScores);
      break;
    case 'yolov5':
      candidates = decodeRows(data, nc, dims[1]!, 5, true, threshold, keepScores);
      break;
    case 'end2end':
      candidates = decodeEndToEnd(data, nc, dims[1]!, threshold);
      break;
  }
  if (calibration) calibrateCandidates(candidates, calibration, confThreshold);
  return candidates;
}

/**
 * Calibrates scores and class-score vectors in place; drops the few candidates that passed the
 * raw threshold but calibrate just below `confThreshold` (float rounding at the boundary).
 */
function calibrateCandidates(
  candidates: Candidate[],
  calibration: ScoreCalibration,
  confThreshold: number,
): void {
  let kept = 0;
  for (const candidate of candidates) {
    candidate.score = calibrateScore(candidate.score, calibration);
    if (!(candidate.score >= confThreshold)) continue;
    const scores = candidate.classScores;
    if (scores) {
      for (let k = 0; k < scores.length; k++) scores[k] = calibrateScore(scores[k]!, calibration);
    }
    candidates[kept++] = candidate;
  }
  candidates.length = kept;
}

function centreBox(cx: number, cy: number, w: number, h: number): Box {
  const hw = w / 2;
  const hh = h / 2;
  return { x1: cx - hw, y1: cy - hh, x2: cx + hw, y2: cy + hh };
}

/** [1, 4+nc, N]: channel-major; scan class rows in memory order, keeping a running best. */
function decodeChannelsFirst(
  data: Float32Array,
  nc: number,
  n: number,
  threshold: number,
  keepScores: boolean,
): Candidate[] {
  const best = data.slice(4 * n, 5 * n);
  const bestClass = new Uint16Array(n);
  for (let k = 1; k < nc; k++) {
    const row = (4 + k) * n;
    for (let i = 0; i < n; i++) {
      const v = data[row + i]!;
      if (v > best[i]!) {
        best[i] = v;
        bestClass[i] = k;
      }
    }
  }
  const out: Candidate[] = [];
  const anchors: number[] = [];
  for (let i = 0; i < n; i++) {
    const score = best[i]!;
    if (!(score >= threshold)) continue;
    anchors.push(i);
    out.push({
      classId: bestClass[i]!,
      score,
      box: centreBox(data[i]!, data[n + i]!, data[2 * n + i]!, data[3 * n + i]!),
    });
  }
  if (keepScores && out.length > 0) {
    // Gathered class row by class row (memory order), into one buffer the candidates view.
    const count = out.length;
    const scores = new Float32Array(count * nc);
    for (let k = 0; k < nc; k++) {
      const row = (4 + k) * n;
      for (let j = 0; j < count; j++) scores[j * nc + k] = data[row + anchors[j]!]!;
    }
    for (let j = 0; j < count; j++) out[j]!.classScores = scores.subarray(j * nc, (j + 1) * nc);
  }
  return out;
}

/** [1, N, 4+nc] and [1, N, 5+nc]: one row per anchor. */
function decodeRows(
  data: Float32Array,
  nc: number,
  n: number,
  first: 4 | 5,
  objectness: boolean,
  threshold: number,
  keepScores: boolean,
): Candidate[] {
  const stride = first + nc;
  const out: Candidate[] = [];
  for (let i = 0, base = 0; i < n; i++, base += stride) {
    const obj = objectness ? data[base + 4]! : 1;
    if (objectness && !(obj >= threshold)) continue;
    let bestClass = 0;
    let best = data[base + first]!;
    for (let k = 1; k < nc; k++) {
      const v = data[base + first + k]!;
      if (v > best) {
        best = v;
        bestClass = k;
      }
    }
    const score = objectness ? obj * best : best;
    if (!(score >= threshold)) continue;
    const candidate: Candidate = {
      classId: bestClass,
      score,
      box: centreBox(data[base]!, data[base + 1]!, data[base + 2]!, data[base + 3]!),
    };
    if (keepScores) {
      const scores = data.slice(base + first, base + stride);
      if (objectness) for (let k = 0; k < nc; k++) scores[k] = scores[k]! * obj;
      candidate.classScores = scores;
    }
    out.push(candidate);
  }
  return out;
}

/** [1, K, 6]: x1, y1, x2, y2, score, class; already suppressed by the model. */
function decodeEndToEnd(data: Float32Array, nc: number, k: number, threshold: number): Candidate[] {
  const out: Candidate[] = [];
  for (let i = 0, base = 0; i < k; i++, base += 6) {
    const score = data[base + 4]!;
    if (!(score >= threshold)) continue;
    const cls = data[base + 5]!;
    const classId = Math.round(cls);
    // The class travels as a float; allow float rounding, reject anything else.
    if (Math.abs(cls - classId) > 1e-3 || classId < 0 || (nc > 0 && classId >= nc)) continue;
    out.push({
      classId,
      score,
      box: { x1: data[base]!, y1: data[base + 1]!, x2: data[base + 2]!, y2: data[base + 3]! },
    });
  }
  return out;
}
