/**
 * Why frames are flagged uncertain, and what the seed's calibration changes (issue 15, part C;
 * docs/calibration.md). For each preset (nominal, night, glare) it runs the shipped seed through
 * the agents' runtime (OnnxDetector, serving options, the 0.4–0.7 band) on seeded synthetic
 * camera frames, twice: with its raw scores (the seed with its calibration switched off — what
 * ran before) and calibrated (the shipped file). It reports per preset and per variant:
 *
 * - the uncertain share of frames (the agent's rule: any detection strictly inside the band);
 * - two explanations tried on the raw scores: the share after ignoring band detections that
 *   overlap (IoU ≥ 0.5) a detection of ≥ 0.7 or any higher-scored one, and with class-agnostic
 *   NMS — if near-duplicates caused the flags, these would fall;
 * - what the band's detections are (right, wrong class, a duplicate of a higher box, background);
 * - a reliability diagram (10 confidence bins: detections, precision at IoU 0.5 with the right
 *   class against the line's ground truth, mean confidence) and its expected calibration error;
 * - mAP@0.5 (COCO rules, evaluation options: conf 0.001, NMS 0.6) on the same frames and on the
 *   seed recipe's test set of the preset (`--test-frames` of them), which must not drop; and
 *   what moves with the scores: the FAIL share (default policy, a detection ≥ 0.5) and the test
 *   set's precision and recall at 0.5.
 *
 *   node --import tsx bench/uncertainty.bench.ts [--frames 300] [--test-frames 150]
 *        [--presets nominal,night,glare] [--consecutive 1800 --camera-seed 1]
 *
 * Frames: camera seeds 1001.., every 11th frame (0.73 s apart), `--frames` per preset. Prints one
 * JSON object; progress on stderr.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createOnnxDetector } from '../src/inference/onnx-detector.js';
import { SEED_MODEL_DIR, SEED_RECIPE } from '../src/main/train.main.js';
import { EVALUATION_DETECT_OPTIONS } from '../src/services/evaluation.service.js';
import type { Detection } from '../src/shared/domain.js';
import {
  parsePresetList,
  parseScenario,
  renderDatasetSample,
  SynthCamera,
  type PresetName,
} from '../src/synth/index.js';
import {
  calibrationMetadata,
  calibrationSamples,
  expectedCalibrationError,
  type CalibrationSample,
} from '../src/vision/calibration.js';
import {
  DEFAULT_DECISION_POLICY,
  DEFAULT_UNCERTAIN_BAND,
  decideFrame,
  isUncertain,
} from '../src/vision/decision.js';
import { DEFAULT_DETECT_OPTIONS, type Detector } from '../src/vision/detector.js';
import {
  evaluateDetections,
  type GroundTruthImage,
  type PredictedObject,
} from '../src/vision/map.js';
import { iou, nonMaxSuppression } from '../src/vision/nms.js';
import { setOnnxMetadata } from '../src/vision/onnx-model-stamp.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '300' },
    'test-frames': { type: 'string', default: '150' },
    presets: { type: 'string', default: 'nominal,night,glare' },
    // N consecutive frames of one camera (seed --camera-seed) as the line runs, instead of the
    // spread sample: a part crosses the view in 10 s (150 frames), so its defects are seen in
    // ~150 frames in a row. Reports the uncertain share per 150-frame block too.
    consecutive: { type: 'string', default: '0' },
    'camera-seed': { type: 'string', default: '1' },
  },
});
const CONSECUTIVE = Math.max(0, Number(values.consecutive) || 0);
const CAMERA_SEED = Number(values['camera-seed']) || 1;
/** Frames a part takes to cross the view at 15 fps (DEFAULT_BELT_SPEED). */
const BLOCK_FRAMES = 150;
const FRAMES = Math.max(10, Number(values.frames) || 300);
const TEST_FRAMES = Math.max(0, Number(values['test-frames']) || 0);
const PRESETS = parsePresetList(values.presets);
const CAMERA_SEEDS = 4;
const FRAME_STRIDE = 11;
const OVERLAP_IOU = 0.5;
const band = DEFAULT_UNCERTAIN_BAND;
const log = (message: string) => process.stderr.write(`[uncertainty] ${message}\n`);
const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

interface Frame {
  image: Parameters<Detector['detect']>[0];
  objects: { classId: number; box: Detection['box'] }[];
}

function cameraFrames(preset: PresetName): Frame[] {
  const frames: Frame[] = [];
  if (CONSECUTIVE > 0) {
    const camera = new SynthCamera({ scenario: parseScenario(preset), seed: CAMERA_SEED, fps: 15 });
    for (let k = 0; k < CONSECUTIVE; k++) {
      const frame = camera.frame(k);
      frames.push({ image: frame.image, objects: frame.objects });
    }
    return frames;
  }
  const perSeed = Math.ceil(FRAMES / CAMERA_SEEDS);
  for (let s = 0; s < CAMERA_SEEDS && frames.length < FRAMES; s++) {
    const camera = new SynthCamera({ scenario: parseScenario(preset), seed: 1001 + s, fps: 15 });
    for (let k = 0; k < perSeed && frames.length < FRAMES; k++) {
      const frame = camera.frame(k * FRAME_STRIDE);
      frames.push({ image: frame.image, objects: frame.objects });
    }
  }
  return frames;
}

function testFrames(preset: PresetName): Frame[] {
  const index = (SEED_RECIPE.testPresets as readonly string[]).indexOf(preset);
  const seed = SEED_RECIPE.testSeedBase + Math.max(0, index);
  return Array.from({ length: TEST_FRAMES }, (_, i) => renderDatasetSample(seed, i, [preset]));
}

function inBand(d: Detection): boolean {
  return d.confidence > band.low && d.confidence < band.high;
}

type BandKind = 'right' | 'wrongClass' | 'duplicate' | 'poorBox' | 'background';

/** What one band detection is, against the frame's other detections and its ground truth. */
function bandKind(d: Detection, all: readonly Detection[], right: boolean, frame: Frame): BandKind {
  if (right) return 'right';
  if (all.some((o) => o !== d && o.confidence > d.confidence && iou(o.box, d.box) >= OVERLAP_IOU))
    return 'duplicate';
  const bestAny = Math.max(0, ...frame.objects.map((o) => iou(o.box, d.box)));
  if (bestAny >= 0.5) return 'wrongClass';
  return bestAny > 0.1 ? 'poorBox' : 'background';
}

interface Reliability {
  bins: {
    from: number;
    to: number;
    detections: number;
    precision: number | null;
    meanConfidence: number | null;
  }[];
  ece: number;
}

function reliability(samples: readonly CalibrationSample[]): Reliability {
  const bins = Array.from({ length: 10 }, (_, i) => ({
    from: i / 10,
    to: (i + 1) / 10,
    n: 0,
    hits: 0,
    sum: 0,
  }));
  for (const { score, correct } of samples) {
    const bin = bins[Math.min(9, Math.floor(score * 10))]!;
    bin.n++;
    bin.sum += score;
    if (correct) bin.hits++;
  }
  return {
    bins: bins.map((b) => ({
      from: round(b.from, 1),
      to: round(b.to, 1),
      detections: b.n,
      precision: b.n ? round(b.hits / b.n) : null,
      meanConfidence: b.n ? round(b.sum / b.n) : null,
    })),
    ece: round(expectedCalibrationError(samples)),
  };
}

async function measure(detector: Detector, preset: PresetName, frames: Frame[], tests: Frame[]) {
  let uncertain = 0;
  let failed = 0;
  let uncertainIgnoringOverlaps = 0;
  let uncertainClassAgnostic = 0;
  const kinds: Record<BandKind, number> = {
    right: 0,
    wrongClass: 0,
    duplicate: 0,
    poorBox: 0,
    background: 0,
  };
  const samples: CalibrationSample[] = [];
  const truth: GroundTruthImage[] = [];
  const predictions: PredictedObject[] = [];
  const blocks: number[] = [];
  /** Of the uncertain frames: how many have a band detection on a real defect (right class). */
  let uncertainOnRealDefect = 0;
  for (const [index, frame] of frames.entries()) {
    const { detections } = await detector.detect(frame.image, DEFAULT_DETECT_OPTIONS);
    const block = Math.floor(index / BLOCK_FRAMES);
    blocks[block] ??= 0;
    if (isUncertain(detections, band)) {
      uncertain++;
      blocks[block]++;
    }
    if (decideFrame(detections, DEFAULT_DECISION_POLICY) === 'FAIL') failed++;
    const frameSamples = calibrationSamples(detections, frame.objects);
    samples.push(...frameSamples);
    // calibrationSamples returns detections in descending score (ties: input order), as NMS does.
    const byScore = [...detections].sort((a, b) => b.confidence - a.confidence);
    let onReal = false;
    byScore.forEach((d, i) => {
      if (!inBand(d)) return;
      const kind = bandKind(d, byScore, frameSamples[i]!.correct, frame);
      kinds[kind]++;
      if (kind === 'right') onReal = true;
    });
    if (onReal) uncertainOnRealDefect++;
    const doubtful = detections.filter(
      (d) =>
        inBand(d) &&
        !detections.some(
          (o) =>
            o !== d &&
            (o.confidence >= band.high || o.confidence > d.confidence) &&
            iou(o.box, d.box) >= OVERLAP_IOU,
        ),
    );
    if (doubtful.length > 0) uncertainIgnoringOverlaps++;
    const agnostic = nonMaxSuppression(
      detections.map((d) => ({ classId: d.classId, score: d.confidence, box: d.box })),
      {
        iouThreshold: DEFAULT_DETECT_OPTIONS.iouThreshold,
        maxDetections: 100,
        classAgnostic: true,
      },
    );
    if (agnostic.some((c) => c.score > band.low && c.score < band.high)) uncertainClassAgnostic++;
    const evaluated = await detector.detect(frame.image, EVALUATION_DETECT_OPTIONS);
    truth.push({ imageId: index, objects: frame.objects });
    for (const d of evaluated.detections) {
      predictions.push({ imageId: index, classId: d.classId, score: d.confidence, box: d.box });
    }
  }
  const classNames = detector.model.classNames;
  const cameraMap = evaluateDetections(truth, predictions, { classNames });
  let test: { map50: number; precision: number; recall: number } | null = null;
  if (tests.length > 0) {
    const testTruth: GroundTruthImage[] = [];
    const testPredictions: PredictedObject[] = [];
    for (const [index, frame] of tests.entries()) {
      const { detections } = await detector.detect(frame.image, EVALUATION_DETECT_OPTIONS);
      testTruth.push({ imageId: index, objects: frame.objects });
      for (const d of detections) {
        testPredictions.push({
          imageId: index,
          classId: d.classId,
          score: d.confidence,
          box: d.box,
        });
      }
    }
    const report = evaluateDetections(testTruth, testPredictions, { classNames });
    test = {
      map50: round(report.map50, 4),
      precision: round(report.precision),
      recall: round(report.recall),
    };
  }
  const n = frames.length;
  log(`${preset}: uncertain ${round(uncertain / n)} of ${n} frames`);
  return {
    frames: n,
    uncertainShare: round(uncertain / n),
    /** FAIL share under the default policy (a detection ≥ 0.5). */
    defectShare: round(failed / n),
    /** Uncertain frames whose band holds a detection of a real defect (right class, IoU ≥ 0.5). */
    uncertainOnRealDefectShare: round(uncertainOnRealDefect / Math.max(1, uncertain)),
    ...(CONSECUTIVE > 0 ? { uncertainPerBlock: blocks, blockFrames: BLOCK_FRAMES } : {}),
    uncertainShareIgnoringOverlaps: round(uncertainIgnoringOverlaps / n),
    uncertainShareClassAgnosticNms: round(uncertainClassAgnostic / n),
    bandDetections: kinds,
    detectionsPerFrame: round(samples.length / n, 2),
    reliability: reliability(samples),
    map50: { cameraFrames: round(Math.max(0, cameraMap.map50), 4), testSet: test?.map50 ?? null },
    /** Precision and recall at the serving threshold 0.5, IoU 0.5, on the test set. */
    testAtServingThreshold: test && { precision: test.precision, recall: test.recall },
  };
}

const seedPath = join(SEED_MODEL_DIR, 'model.onnx');
const seedBytes = new Uint8Array(await readFile(seedPath));
const dir = await mkdtemp(join(tmpdir(), 'visionloop-uncertainty-'));
const rawPath = join(dir, 'seed-raw.onnx');
await writeFile(
  rawPath,
  setOnnxMetadata(seedBytes, calibrationMetadata({ temperature: 1, bias: 0 })),
);

const raw = createOnnxDetector({ threads: 1 });
const calibrated = createOnnxDetector({ threads: 1 });
try {
  await raw.load(rawPath);
  const calibratedModel = await calibrated.load(seedPath);
  const results: Record<string, unknown> = {};
  const summary: Record<string, unknown> = {};
  for (const preset of PRESETS) {
    const frames = cameraFrames(preset);
    const tests = testFrames(preset);
    const before = await measure(raw, preset, frames, tests);
    const after = await measure(calibrated, preset, frames, tests);
    results[preset] = { raw: before, calibrated: after };
    summary[preset] = {
      uncertainShare: { raw: before.uncertainShare, calibrated: after.uncertainShare },
      map50Camera: { raw: before.map50.cameraFrames, calibrated: after.map50.cameraFrames },
      map50Test: { raw: before.map50.testSet, calibrated: after.map50.testSet },
      ece: { raw: before.reliability.ece, calibrated: after.reliability.ece },
      defectShare: { raw: before.defectShare, calibrated: after.defectShare },
      testAtServingThreshold: {
        raw: before.testAtServingThreshold,
        calibrated: after.testAtServingThreshold,
      },
    };
  }
  const nominal = summary.nominal as { uncertainShare: { calibrated: number } } | undefined;
  console.log(
    JSON.stringify({
      bench: 'uncertainty',
      model: { version: calibratedModel.version, calibration: calibratedModel.calibration ?? null },
      band,
      framesPerPreset: CONSECUTIVE > 0 ? CONSECUTIVE : FRAMES,
      sample:
        CONSECUTIVE > 0
          ? `${CONSECUTIVE} consecutive frames of camera seed ${CAMERA_SEED}`
          : `${CAMERA_SEEDS} camera seeds, every ${FRAME_STRIDE}th frame`,
      testFramesPerPreset: TEST_FRAMES,
      summary,
      target: {
        nominalUncertainShareMax: 0.1,
        met: nominal === undefined ? null : nominal.uncertainShare.calibrated <= 0.1,
      },
      results,
    }),
  );
} finally {
  await raw.dispose();
  await calibrated.dispose();
  await rm(dir, { recursive: true, force: true });
}
