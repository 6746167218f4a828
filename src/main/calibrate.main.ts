/**
 * Fits a model's score calibration (src/vision/calibration.ts) on validation frames and stamps
 * it into the model's ONNX metadata, weights untouched. Used for the shipped seed
 * (`node --import tsx scripts/calibrate-seed.ts`), whose validation split is deterministic
 * from the synthetic line: the seed recipe's data seed, frame count and validation fraction.
 *
 * The fit runs the model through the same Detector the agents use, at serving NMS, with the
 * model's stored calibration switched off (identity), so refitting a calibrated model fits
 * from its raw scores again. A trained model can be calibrated the same way on its data set's
 * val images (fitModelCalibration takes any labelled frames).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOnnxDetector } from '../inference/onnx-detector.js';
import { renderDatasetSample, type PresetName } from '../synth/index.js';
import { validationIndices } from '../synth/dataset-export.js';
import {
  calibrationMetadata,
  calibrationSamples,
  fitScoreCalibration,
  LOGIT_BIAS_METADATA_KEY,
  TEMPERATURE_METADATA_KEY,
  type CalibrationFit,
  type CalibrationSample,
  type LabelledBox,
} from '../vision/calibration.js';
import { DEFAULT_DETECT_OPTIONS, type DetectOptions } from '../vision/detector.js';
import type { RgbImage } from '../vision/image.js';
import { readOnnxModelHeader } from '../vision/onnx-model-file.js';
import { YoloDatasetRepository } from '../repositories/yolo-dataset.repository.js';
import { setOnnxMetadata } from '../vision/onnx-model-stamp.js';

/** The frames a calibration is fitted on: a synthetic data set's validation split. */
export interface SyntheticValidationSplit {
  /** The data set's seed, frame count, validation share and presets (the training recipe's). */
  seed: number;
  count: number;
  valFraction: number;
  presets: PresetName[];
}

/**
 * Detection settings of the fit: every candidate down to 0.01 (the whole score range the model
 * emits; the serving threshold of 0.25 is a calibrated score, about 0.2 raw for the seed), and
 * the serving NMS so the duplicates the agent would keep are judged too.
 */
export const CALIBRATION_DETECT_OPTIONS: DetectOptions = Object.freeze({
  ...DEFAULT_DETECT_OPTIONS,
  confThreshold: 0.01,
});

export interface CalibrationResult extends CalibrationFit {
  frames: number;
  metadata: Record<string, string>;
}

/** One validation frame: the image and its ground-truth boxes (frame pixels). */
export interface LabelledFrame {
  image: RgbImage;
  objects: readonly LabelledBox[];
}

/** The validation frames of a synthetic data set, rendered one at a time. */
export function* syntheticValidationFrames(
  split: SyntheticValidationSplit,
): Generator<LabelledFrame> {
  const indices = [...validationIndices(split.count, split.valFraction, split.seed)].sort(
    (a, b) => a - b,
  );
  for (const index of indices) {
    const frame = renderDatasetSample(split.seed, index, split.presets);
    yield { image: frame.image, objects: frame.objects };
  }
}

/**
 * Runs the model with its raw scores over `frames` (any source: a synthetic split, or a YOLO
 * data set's val images) and fits temperature and bias.
 */
export async function fitModelCalibration(
  modelBytes: Uint8Array,
  frames: Iterable<LabelledFrame> | AsyncIterable<LabelledFrame>,
  options: { threads?: number; onProgress?: (done: number) => void } = {},
): Promise<CalibrationResult> {
  const dir = await mkdtemp(join(tmpdir(), 'visionloop-calibrate-'));
  const detector = createOnnxDetector({ threads: options.threads ?? 1 });
  try {
    // The stored calibration is switched off so the fit sees raw scores.
    const raw = setOnnxMetadata(modelBytes, calibrationMetadata({ temperature: 1, bias: 0 }));
    const path = join(dir, 'model.onnx');
    await writeFile(path, raw);
    await detector.load(path);
    const samples: CalibrationSample[] = [];
    let done = 0;
    for await (const frame of frames) {
      const { detections } = await detector.detect(frame.image, CALIBRATION_DETECT_OPTIONS);
      samples.push(...calibrationSamples(detections, frame.objects));
      // Counted outside the optional call: `f?.(++x)` skips the increment when f is absent.
      done++;
      options.onProgress?.(done);
    }
    const fit = fitScoreCalibration(samples);
    return { ...fit, frames: done, metadata: calibrationMetadata(fit) };
  } finally {
    await detector.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes `metadata` into the ONNX file at `path` (weights and every other field unchanged). */
export async function stampModelMetadata(
  path: string,
  metadata: Readonly<Record<string, string>>,
): Promise<{ changed: boolean }> {
  const bytes = new Uint8Array(await readFile(path));
  readOnnxModelHeader(bytes, path);
  const stamped = setOnnxMetadata(bytes, metadata);
  if (stamped === bytes) return { changed: false };
  await writeFile(path, stamped);
  return { changed: true };
}

/** The labelled images of one split of a YOLO data set (a snapshot materialized for training). */
export async function* yoloSplitFrames(
  dataDir: string,
  split: 'train' | 'val' = 'val',
): AsyncGenerator<LabelledFrame> {
  const datasets = new YoloDatasetRepository();
  const { images } = await datasets.loadSplit(dataDir, split);
  for (const image of images) {
    yield { image: await datasets.loadImage(image.imagePath), objects: image.objects };
  }
}

/**
 * Fewest judged detections a fit is trusted on; below it the model is stamped with the
 * identity (T = 1, b = 0), so it still says it was calibrated and with what.
 */
export const MIN_CALIBRATION_SAMPLES = 20;

/** What calibrating a trained model file did (stored in its registry metrics). */
export interface ModelFileCalibration {
  temperature: number;
  bias: number;
  frames: number;
  samples: number;
  nllBefore: number;
  nllAfter: number;
  eceBefore: number;
  eceAfter: number;
  /** True when the fit was used; false when too few samples left the identity. */
  fitted: boolean;
  split: 'val';
}

/**
 * Fits the calibration of the model file at `modelPath` on the `val` split of the YOLO data
 * set at `dataDir` and stamps it into the file (the retraining job and `visionloop train` call
 * this right after export, before the model is evaluated and registered).
 */
export async function calibrateModelFile(
  modelPath: string,
  dataDir: string,
  options: { threads?: number; signal?: AbortSignal } = {},
): Promise<ModelFileCalibration> {
  const bytes = new Uint8Array(await readFile(modelPath));
  const signal = options.signal;
  async function* frames(): AsyncGenerator<LabelledFrame> {
    for await (const frame of yoloSplitFrames(dataDir, 'val')) {
      signal?.throwIfAborted();
      yield frame;
    }
  }
  const fit = await fitModelCalibration(bytes, frames(), { threads: options.threads });
  const fitted = fit.samples >= MIN_CALIBRATION_SAMPLES;
  const applied = fitted ? fit : { temperature: 1, bias: 0 };
  const metadata = calibrationMetadata(applied);
  await stampModelMetadata(modelPath, metadata);
  const round = (value: number): number => Math.round(value * 1e6) / 1e6;
  return {
    // Exactly the stamped values (6 significant digits).
    temperature: Number(metadata[TEMPERATURE_METADATA_KEY]),
    bias: Number(metadata[LOGIT_BIAS_METADATA_KEY]),
    frames: fit.frames,
    samples: fit.samples,
    nllBefore: round(fit.nllBefore),
    nllAfter: round(fitted ? fit.nllAfter : fit.nllBefore),
    eceBefore: round(fit.eceBefore),
    eceAfter: round(fitted ? fit.eceAfter : fit.eceBefore),
    fitted,
    split: 'val',
  };
}
