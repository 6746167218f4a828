/**
 * Detection metrics with the rules of the official COCO evaluation (pycocotools' COCOeval,
 * iouType 'bbox'): mAP@0.5, mAP@0.75, mAP@0.5:0.95, the small/medium/large APs, per-class AP,
 * plus precision, recall and a confusion summary at the serving threshold.
 *
 * Over 500 lines on purpose: one port of COCOeval, kept in one file in pycocotools' order so
 * it can be read side by side with the reference; split, that order would be hidden.
 *
 * pycocotools cannot be installed on every machine, so the algorithm is rebuilt here from
 * COCOeval's documented behaviour, step for step and with the same floating-point operations in
 * the same order, so that its numbers agree with pycocotools by construction (see
 * docs/evaluation.md, and scripts/coco-compare.py to check on a machine that has pycocotools):
 *   - per image and class, detections sorted by score, descending, ties in input order (numpy's
 *     stable mergesort), and cut to `maxDetections` (100);
 *   - IoU of [x, y, w, h] boxes with area w·h (no +1), as maskApi.c's bbIou;
 *   - IoU thresholds numpy.linspace(0.5, 0.95, 10), recall thresholds numpy.linspace(0, 1, 101);
 *   - greedy matching: each detection in score order takes the unmatched ground truth with the
 *     highest IoU ≥ the threshold (a later ground truth wins a tie); ground truth outside an area
 *     range is "ignored", as are unmatched detections outside it;
 *   - over all images (in sorted image-id order), detections sorted by score again (stable), tp
 *     and fp cumulated, rc = tp / nGt, pr = tp / (fp + tp + eps), the precision envelope made
 *     monotone from the right, sampled at the recall thresholds with searchsorted(side='left');
 *   - a class without ground truth has AP -1 and is left out of the means; the means are numpy's
 *     (8192-element blocks, pairwise summation inside each) over every precision sample.
 * Crowd annotations (iscrowd=1) are not supported: COCO readers reject them before this point.
 *
 * Pure: no I/O, no clock, no randomness. It must never drift from COCOeval silently: a rule
 * that differs on purpose is written in docs/evaluation.md.
 */
import type { Box } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';

export type ImageId = string | number;

/** A COCO box: [x, y, width, height], top-left corner, in pixels. */
export type CocoBbox = readonly [x: number, y: number, width: number, height: number];

export interface GroundTruthObject {
  classId: number;
  box: Box;
  /**
   * The area that decides small/medium/large. COCO files carry it (often the mask's area);
   * defaults to the box area.
   */
  area?: number;
  /**
   * The COCO [x, y, w, h] the box came from. When present the IoU uses it exactly as COCOeval
   * does (right edge x + w, area w·h), so results match pycocotools bit for bit; `box` is then
   * only for display.
   */
  cocoBbox?: CocoBbox;
}

export interface GroundTruthImage {
  imageId: ImageId;
  width?: number;
  height?: number;
  objects: GroundTruthObject[];
}

export interface PredictedObject {
  imageId: ImageId;
  classId: number;
  score: number;
  box: Box;
  /** As for ground truth: the COCO [x, y, w, h] of a prediction read from a COCO results file. */
  cocoBbox?: CocoBbox;
}

export interface EvaluationOptions {
  /** Class names in class-id order; their count is the number of classes. */
  classNames: string[];
  /** Score at or above which a prediction counts for precision, recall and the confusion matrix. */
  servingThreshold?: number;
  /** Detections kept per image and class, highest scores first (COCO: 100). */
  maxDetections?: number;
}

export interface ClassEvaluation {
  classId: number;
  className: string;
  /** AP at IoU 0.5; -1 when the class has no ground truth. */
  ap50: number;
  ap75: number;
  /** AP averaged over IoU 0.50:0.05:0.95. */
  ap50_95: number;
  /** AP@[.5:.95] over objects of area < 32², 32²..96², > 96² (COCO's ranges); -1 when none. */
  apSmall: number;
  apMedium: number;
  apLarge: number;
  gtCount: number;
  /** Predictions of this class in the input, before the per-image cut. */
  predCount: number;
  /** At the serving threshold and IoU 0.5: true and false positives, missed ground truth. */
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  /** tp / (tp + fp) at the serving threshold; 0 when nothing reaches it. */
  precision: number;
  /** tp / ground truth at the serving threshold; -1 when the class has no ground truth. */
  recall: number;
}

export interface ConfusionSummary {
  /**
   * matrix[actual][predicted], (classes + 1)², the last row and column being background:
   * matrix[c][background] = objects of class c nothing found; matrix[background][c] =
   * predictions of class c on nothing. The diagonal equals each class's true positives.
   */
  matrix: number[][];
  labels: string[];
  iouThreshold: number;
  scoreThreshold: number;
}

export interface EvaluationReport {
  /** Mean over classes with ground truth; -1 when no class has any. */
  map50: number;
  map75: number;
  map50_95: number;
  mapSmall: number;
  mapMedium: number;
  mapLarge: number;
  perClass: ClassEvaluation[];
  /** Over all classes (micro average) at the serving threshold and IoU 0.5. */
  precision: number;
  /** -1 when there is no ground truth at all. */
  recall: number;
  servingThreshold: number;
  maxDetections: number;
  confusion: ConfusionSummary;
  images: number;
  gtCount: number;
  predCount: number;
}

/** numpy.linspace(start, stop, num): i·step + start, the last point exactly `stop`. */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => (i === num - 1 ? stop : i * step + start));
}

/** COCOeval's iouThrs: 0.5, 0.55, …, 0.8999999999999999, 0.95 (numpy's floats, not decimal ones). */
export const IOU_THRESHOLDS: readonly number[] = Object.freeze(linspace(0.5, 0.95, 10));
/** COCOeval's recThrs: 101 points 0, 0.01, …, 1. */
export const RECALL_THRESHOLDS: readonly number[] = Object.freeze(linspace(0, 1, 101));
/** COCOeval's areaRng: 'all' [0, 1e5²], 'small' [0, 32²], 'medium' [32², 96²], 'large' [96², 1e5²]. */
export const AREA_RANGES = Object.freeze({
  all: [0, 1e10],
  small: [0, 32 ** 2],
  medium: [32 ** 2, 96 ** 2],
  large: [96 ** 2, 1e10],
} as const);
export const DEFAULT_SERVING_THRESHOLD = 0.5;
export const DEFAULT_MAX_DETECTIONS = 100;

/** np.spacing(1). */
const EPS = 2.220446049250313e-16;
const T50 = 0;
const T75 = 5;

/** A box as COCOeval computes with it: corners for the overlap, w·h for the area. */
interface Region {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  area: number;
}

interface GtItem {
  classId: number;
  region: Region;
  /** The area compared with the area ranges. */
  rangeArea: number;
}

interface DtItem {
  classId: number;
  region: Region;
  score: number;
}

/** One image × one class: its ground truth (input order) and its kept detections (score order). */
interface Cell {
  gts: GtItem[];
  dts: DtItem[];
  scores: Float64Array;
  /** ious[d * gts.length + g]. */
  ious: Float64Array;
}

/** COCOeval.evaluateImg's output for one cell and area range. */
interface CellResult {
  cell: Cell;
  /** matched[t * D + d] / ignored[t * D + d], D the cell's detection count. */
  matched: Uint8Array;
  ignored: Uint8Array;
  /** Ground truth not ignored in this area range. */
  gtCounted: number;
  /** At IoU 0.5: for each ground truth (input order), the detection that took it, or -1. */
  gtMatchedBy50: Int32Array;
}

function regionOf(box: Box, cocoBbox: CocoBbox | undefined): Region {
  if (cocoBbox) {
    const [x, y, w, h] = cocoBbox;
    // bbIou's right edge is D[2]+D[0] (w + x) and its area D[2]*D[3].
    return { x1: x, y1: y, x2: w + x, y2: h + y, area: w * h };
  }
  return {
    x1: box.x1,
    y1: box.y1,
    x2: box.x2,
    y2: box.y2,
    area: (box.x2 - box.x1) * (box.y2 - box.y1),
  };
}

/** maskApi.c bbIou for a non-crowd ground truth, operation for operation. */
function iou(dt: Region, gt: Region): number {
  const w = Math.min(dt.x2, gt.x2) - Math.max(dt.x1, gt.x1);
  if (w <= 0) return 0;
  const h = Math.min(dt.y2, gt.y2) - Math.max(dt.y1, gt.y1);
  if (h <= 0) return 0;
  const inter = w * h;
  return inter / (dt.area + gt.area - inter);
}

/** numpy's pairwise summation (umath loops_utils, block of 8, split above 128). */
function pairwiseSum(values: readonly number[], start: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += values[start + i] ?? 0;
    return res;
  }
  if (n <= 128) {
    const r = values.slice(start, start + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] = (r[j] ?? 0) + (values[start + i + j] ?? 0);
    }
    const [r0 = 0, r1 = 0, r2 = 0, r3 = 0, r4 = 0, r5 = 0, r6 = 0, r7 = 0] = r;
    // numpy: ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)); + is left-associative.
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) res += values[start + i] ?? 0;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(values, start, n2) + pairwiseSum(values, start + n2, n - n2);
}

/** np.mean of a 1-D float64 array: the reduction runs over 8192-element buffers. */
function numpyMean(values: readonly number[]): number {
  let sum = 0;
  for (let start = 0; start < values.length; start += 8192) {
    sum += pairwiseSum(values, start, Math.min(8192, values.length - start));
  }
  return sum / values.length;
}

/** Indices of `scores` by score, descending, ties in input order (numpy's stable mergesort). */
function byScoreDescending(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => (scores[b] ?? 0) - (scores[a] ?? 0) || a - b,
  );
}

function compareImageIds(a: ImageId, b: ImageId): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

function fail(message: string): never {
  throw new VisionLoopError('VALIDATION_FAILED', message);
}

function checkBox(what: string, box: Box, cocoBbox: CocoBbox | undefined): void {
  const values = cocoBbox ? [...cocoBbox] : [box.x1, box.y1, box.x2, box.y2];
  if (!values.every(Number.isFinite)) fail(`${what}: box has a non-finite coordinate`);
  if (cocoBbox ? cocoBbox[2] < 0 || cocoBbox[3] < 0 : box.x2 < box.x1 || box.y2 < box.y1) {
    fail(`${what}: box has a negative width or height`);
  }
}

function checkClass(what: string, classId: number, classCount: number): void {
  if (!Number.isInteger(classId) || classId < 0 || classId >= classCount) {
    fail(`${what}: class id ${classId} is outside 0..${classCount - 1}`);
  }
}

/** COCOeval.evaluateImg for one cell and area range (crowd-free). */
function evaluateCell(cell: Cell, range: readonly [number, number]): CellResult {
  const [lo, hi] = range;
  const G = cell.gts.length;
  const D = cell.dts.length;
  const T = IOU_THRESHOLDS.length;
  const gtIgnored = new Uint8Array(G);
  cell.gts.forEach((g, k) => {
    gtIgnored[k] = g.rangeArea < lo || g.rangeArea > hi ? 1 : 0;
  });
  // COCO sorts ignored ground truth last (stable), so a regular match is preferred.
  const gtOrder: number[] = [];
  for (let g = 0; g < G; g++) if (!gtIgnored[g]) gtOrder.push(g);
  for (let g = 0; g < G; g++) if (gtIgnored[g]) gtOrder.push(g);
  const matched = new Uint8Array(T * D);
  const ignored = new Uint8Array(T * D);
  const gtMatchedBy50 = new Int32Array(G).fill(-1);
  const gtTaken = new Uint8Array(G);
  for (let t = 0; t < T; t++) {
    const at = t * D;
    gtTaken.fill(0);
    if (G > 0) {
      for (let d = 0; d < D; d++) {
        let best = Math.min(IOU_THRESHOLDS[t] ?? 0, 1 - 1e-10);
        let m = -1;
        for (const g of gtOrder) {
          if (gtTaken[g]) continue;
          // Matched to a regular ground truth and only ignored ones remain: stop.
          if (m > -1 && !gtIgnored[m] && gtIgnored[g]) break;
          const value = cell.ious[d * G + g] ?? 0;
          if (value < best) continue;
          best = value;
          m = g;
        }
        if (m === -1) continue;
        ignored[at + d] = gtIgnored[m] ?? 0;
        matched[at + d] = 1;
        gtTaken[m] = 1;
        if (t === T50) gtMatchedBy50[m] = d;
      }
    }
    for (let d = 0; d < D; d++) {
      const area = cell.dts[d]?.region.area ?? 0;
      if (!matched[at + d] && (area < lo || area > hi)) ignored[at + d] = 1;
    }
  }
  let gtCounted = 0;
  for (let g = 0; g < G; g++) if (!gtIgnored[g]) gtCounted++;
  return { cell, matched, ignored, gtCounted, gtMatchedBy50 };
}

/** A class's detections of every image, concatenated in image order as COCOeval does. */
function concatenatedScores(cells: readonly Cell[]): Float64Array {
  const scores = new Float64Array(cells.reduce((sum, cell) => sum + cell.dts.length, 0));
  let offset = 0;
  for (const cell of cells) {
    scores.set(cell.scores, offset);
    offset += cell.dts.length;
  }
  return scores;
}

/**
 * COCOeval.accumulate for one class and area range: precision[t][r], or null when the class
 * has no (non-ignored) ground truth. `order` sorts the concatenated detections by score (the
 * same for every area range, so computed once).
 */
function accumulate(results: readonly CellResult[], order: readonly number[]): number[][] | null {
  if (results.length === 0) return null;
  const nGt = results.reduce((sum, r) => sum + r.gtCounted, 0);
  if (nGt === 0) return null;
  const T = IOU_THRESHOLDS.length;
  const nd = results.reduce((sum, r) => sum + r.cell.dts.length, 0);
  const matched = new Uint8Array(T * nd);
  const ignored = new Uint8Array(T * nd);
  let offset = 0;
  for (const r of results) {
    const D = r.cell.dts.length;
    for (let t = 0; t < T; t++) {
      matched.set(r.matched.subarray(t * D, (t + 1) * D), t * nd + offset);
      ignored.set(r.ignored.subarray(t * D, (t + 1) * D), t * nd + offset);
    }
    offset += D;
  }
  const rc = new Float64Array(nd);
  const pr = new Float64Array(nd);
  const precision: number[][] = [];
  for (let t = 0; t < T; t++) {
    const at = t * nd;
    let tp = 0;
    let fp = 0;
    for (let i = 0; i < nd; i++) {
      const k = at + (order[i] ?? 0);
      if (!ignored[k]) {
        if (matched[k]) tp += 1;
        else fp += 1;
      }
      rc[i] = tp / nGt;
      pr[i] = tp / (fp + tp + EPS);
    }
    for (let i = nd - 1; i > 0; i--) {
      if ((pr[i] ?? 0) > (pr[i - 1] ?? 0)) pr[i - 1] = pr[i] ?? 0;
    }
    const q = new Array<number>(RECALL_THRESHOLDS.length).fill(0);
    let pi = 0;
    for (let r = 0; r < RECALL_THRESHOLDS.length; r++) {
      const threshold = RECALL_THRESHOLDS[r] ?? 0;
      // searchsorted(rc, thresholds, 'left'): the thresholds ascend, so the index only moves on.
      while (pi < nd && (rc[pi] ?? 0) < threshold) pi++;
      if (pi >= nd) break;
      q[r] = pr[pi] ?? 0;
    }
    precision.push(q);
  }
  return precision;
}

/** Precision samples in COCOeval.summarize's order (t, then r, then class), for one IoU set. */
function samples(
  precisionByClass: readonly (number[][] | null)[],
  thresholds: readonly number[],
): number[] {
  const out: number[] = [];
  for (const t of thresholds) {
    for (let r = 0; r < RECALL_THRESHOLDS.length; r++) {
      for (const p of precisionByClass) {
        if (p) out.push(p[t]?.[r] ?? 0);
      }
    }
  }
  return out;
}

function meanOrMinusOne(values: readonly number[]): number {
  return values.length === 0 ? -1 : numpyMean(values);
}

const ALL_T = IOU_THRESHOLDS.map((_, t) => t);

/**
 * Scores `predictions` against `groundTruth` with COCO's rules (module header) and adds
 * precision, recall and a confusion matrix at the serving threshold. Every prediction's image
 * must be in `groundTruth`; class ids index `classNames`. Throws VALIDATION_FAILED otherwise.
 */
export function evaluateDetections(
  groundTruth: readonly GroundTruthImage[],
  predictions: readonly PredictedObject[],
  options: EvaluationOptions,
): EvaluationReport {
  const classNames = options.classNames;
  const nc = classNames.length;
  const servingThreshold = options.servingThreshold ?? DEFAULT_SERVING_THRESHOLD;
  const maxDetections = options.maxDetections ?? DEFAULT_MAX_DETECTIONS;
  if (nc === 0) fail('no class names: at least one class is needed');
  if (!Number.isFinite(servingThreshold)) fail('the serving threshold must be a number');
  if (!Number.isInteger(maxDetections) || maxDetections < 1) {
    fail(`maxDetections must be a positive integer, got ${maxDetections}`);
  }

  // Images in COCOeval's order: sorted ids (np.unique).
  const idTypes = new Set(groundTruth.map((image) => typeof image.imageId));
  if (idTypes.size > 1) fail('image ids mix numbers and strings');
  const images = [...groundTruth].sort((a, b) => compareImageIds(a.imageId, b.imageId));
  const imageIndex = new Map<ImageId, number>();
  images.forEach((image, i) => {
    if (imageIndex.has(image.imageId)) fail(`image ${String(image.imageId)} appears twice`);
    imageIndex.set(image.imageId, i);
  });

  // cells[class][image]
  const gtByCell: GtItem[][][] = classNames.map(() => images.map(() => []));
  const dtByCell: DtItem[][][] = classNames.map(() => images.map(() => []));
  const gtCount = new Array<number>(nc).fill(0);
  const predCount = new Array<number>(nc).fill(0);
  images.forEach((image, i) => {
    image.objects.forEach((object, j) => {
      const what = `ground truth ${j} of image ${String(image.imageId)}`;
      checkClass(what, object.classId, nc);
      checkBox(what, object.box, object.cocoBbox);
      const region = regionOf(object.box, object.cocoBbox);
      const rangeArea = object.area ?? region.area;
      if (!Number.isFinite(rangeArea) || rangeArea < 0) fail(`${what}: area must be ≥ 0`);
      gtByCell[object.classId]?.[i]?.push({ classId: object.classId, region, rangeArea });
      gtCount[object.classId] = (gtCount[object.classId] ?? 0) + 1;
    });
  });
  predictions.forEach((prediction, p) => {
    const what = `prediction ${p}`;
    const i = imageIndex.get(prediction.imageId);
    if (i === undefined) {
      fail(`${what}: image ${String(prediction.imageId)} is not in the ground truth`);
    }
    checkClass(what, prediction.classId, nc);
    checkBox(what, prediction.box, prediction.cocoBbox);
    if (!Number.isFinite(prediction.score)) fail(`${what}: score must be a finite number`);
    const region = regionOf(prediction.box, prediction.cocoBbox);
    dtByCell[prediction.classId]?.[i]?.push({
      classId: prediction.classId,
      region,
      score: prediction.score,
    });
    predCount[prediction.classId] = (predCount[prediction.classId] ?? 0) + 1;
  });

  const cells: (Cell | null)[][] = classNames.map((_, c) =>
    images.map((_image, i) => {
      const gts = gtByCell[c]?.[i] ?? [];
      const all = dtByCell[c]?.[i] ?? [];
      if (gts.length === 0 && all.length === 0) return null;
      const dts = byScoreDescending(all.map((d) => d.score))
        .slice(0, maxDetections)
        .map((k) => all[k] as DtItem);
      const ious = new Float64Array(dts.length * gts.length);
      dts.forEach((d, k) => {
        gts.forEach((g, j) => {
          ious[k * gts.length + j] = iou(d.region, g.region);
        });
      });
      return { gts, dts, scores: Float64Array.from(dts, (d) => d.score), ious };
    }),
  );

  const evaluateRange = (range: readonly [number, number]) =>
    cells.map((row) => row.map((cell) => (cell ? evaluateCell(cell, range) : null)));
  const orders = cells.map((row) =>
    byScoreDescending(concatenatedScores(row.filter((cell): cell is Cell => cell !== null))),
  );
  const precisionOf = (results: (CellResult | null)[][]) =>
    results.map((row, c) =>
      accumulate(
        row.filter((r): r is CellResult => r !== null),
        orders[c] ?? [],
      ),
    );
  const resultsAll = evaluateRange(AREA_RANGES.all);
  const all = precisionOf(resultsAll);
  const small = precisionOf(evaluateRange(AREA_RANGES.small));
  const medium = precisionOf(evaluateRange(AREA_RANGES.medium));
  const large = precisionOf(evaluateRange(AREA_RANGES.large));

  const perClass: ClassEvaluation[] = classNames.map((className, c) => {
    let tp = 0;
    let fp = 0;
    for (const result of resultsAll[c] ?? []) {
      if (!result) continue;
      const at = T50 * result.cell.dts.length;
      result.cell.scores.forEach((score, d) => {
        if (score < servingThreshold || result.ignored[at + d]) return;
        if (result.matched[at + d]) tp += 1;
        else fp += 1;
      });
    }
    const gt = gtCount[c] ?? 0;
    const classPrecision = [all[c] ?? null];
    return {
      classId: c,
      className,
      ap50: meanOrMinusOne(samples(classPrecision, [T50])),
      ap75: meanOrMinusOne(samples(classPrecision, [T75])),
      ap50_95: meanOrMinusOne(samples(classPrecision, ALL_T)),
      apSmall: meanOrMinusOne(samples([small[c] ?? null], ALL_T)),
      apMedium: meanOrMinusOne(samples([medium[c] ?? null], ALL_T)),
      apLarge: meanOrMinusOne(samples([large[c] ?? null], ALL_T)),
      gtCount: gt,
      predCount: predCount[c] ?? 0,
      truePositives: tp,
      falsePositives: fp,
      falseNegatives: gt - tp,
      precision: tp + fp > 0 ? tp / (tp + fp) : 0,
      recall: gt > 0 ? tp / gt : -1,
    };
  });

  const totalTp = perClass.reduce((s, c) => s + c.truePositives, 0);
  const totalFp = perClass.reduce((s, c) => s + c.falsePositives, 0);
  const totalGt = gtCount.reduce((s, n) => s + n, 0);

  return {
    map50: meanOrMinusOne(samples(all, [T50])),
    map75: meanOrMinusOne(samples(all, [T75])),
    map50_95: meanOrMinusOne(samples(all, ALL_T)),
    mapSmall: meanOrMinusOne(samples(small, ALL_T)),
    mapMedium: meanOrMinusOne(samples(medium, ALL_T)),
    mapLarge: meanOrMinusOne(samples(large, ALL_T)),
    perClass,
    precision: totalTp + totalFp > 0 ? totalTp / (totalTp + totalFp) : 0,
    recall: totalGt > 0 ? totalTp / totalGt : -1,
    servingThreshold,
    maxDetections,
    confusion: confusionSummary(cells, resultsAll, classNames, images.length, servingThreshold),
    images: images.length,
    gtCount: totalGt,
    predCount: predictions.length,
  };
}

/**
 * The confusion matrix at IoU 0.5 and the serving threshold. First the same-class matches of
 * the AP computation (so the diagonal is each class's true positives); then each remaining
 * prediction, by score, takes the remaining ground truth of another class with the highest IoU
 * ≥ 0.5 (a class confusion); what is left is a miss (ground truth → background) or a false
 * alarm (background → prediction).
 */
function confusionSummary(
  cells: readonly (Cell | null)[][],
  resultsAll: readonly (CellResult | null)[][],
  classNames: readonly string[],
  imageCount: number,
  servingThreshold: number,
): ConfusionSummary {
  const nc = classNames.length;
  const background = nc;
  const matrix = Array.from({ length: nc + 1 }, () => new Array<number>(nc + 1).fill(0));
  const bump = (actual: number, predicted: number) => {
    const row = matrix[actual];
    if (row) row[predicted] = (row[predicted] ?? 0) + 1;
  };
  for (let i = 0; i < imageCount; i++) {
    const leftoverGts: GtItem[] = [];
    const leftoverDts: DtItem[] = [];
    for (let c = 0; c < nc; c++) {
      const cell = cells[c]?.[i];
      const result = resultsAll[c]?.[i];
      if (!cell || !result) continue;
      const takenBy = result.gtMatchedBy50;
      const dtTakes = new Set<number>();
      cell.gts.forEach((gt, g) => {
        const d = takenBy[g] ?? -1;
        if (d >= 0 && (cell.dts[d]?.score ?? -Infinity) >= servingThreshold) {
          bump(c, c);
          dtTakes.add(d);
        } else {
          leftoverGts.push(gt);
        }
      });
      cell.dts.forEach((dt, d) => {
        if (dt.score >= servingThreshold && !dtTakes.has(d)) leftoverDts.push(dt);
      });
    }
    const gtTaken = new Uint8Array(leftoverGts.length);
    for (const k of byScoreDescending(leftoverDts.map((d) => d.score))) {
      const dt = leftoverDts[k] as DtItem;
      let best = IOU_THRESHOLDS[T50] ?? 0.5;
      let m = -1;
      leftoverGts.forEach((gt, g) => {
        if (gtTaken[g] || gt.classId === dt.classId) return;
        const value = iou(dt.region, gt.region);
        if (value >= best) {
          best = value;
          m = g;
        }
      });
      if (m === -1) {
        bump(background, dt.classId);
      } else {
        gtTaken[m] = 1;
        bump((leftoverGts[m] as GtItem).classId, dt.classId);
      }
    }
    leftoverGts.forEach((gt, g) => {
      if (!gtTaken[g]) bump(gt.classId, background);
    });
  }
  return {
    matrix,
    labels: [...classNames, 'background'],
    iouThreshold: IOU_THRESHOLDS[T50] ?? 0.5,
    scoreThreshold: servingThreshold,
  };
}
