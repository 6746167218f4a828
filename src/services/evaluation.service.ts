/**
 * Model evaluation. `evaluateModel` runs a model over a dataset split through the Detector the
 * server and the agents use — the same ONNX runtime, preprocessing and NMS — so what is
 * measured is what is deployed, and scores it with COCO's rules (src/vision/map.ts).
 * `evaluatePredictions` scores a COCO results file made by any system against a COCO
 * annotations file or a YOLO dataset, so a team can compare VisionLoop with what it runs today.
 *
 * Never loads a model nor chooses a runtime: the caller passes a loaded Detector (src/main
 * wires the ONNX one). Reads files only through YoloDatasetRepository.
 */
import { VisionLoopError } from '../shared/errors.js';
import {
  cocoGroundTruth,
  cocoPredictions,
  parseCocoAnnotations,
  parseCocoResults,
  yoloPredictions,
} from '../vision/coco.js';
import type { DetectOptions, Detector } from '../vision/detector.js';
import type { RgbImage } from '../vision/image.js';
import {
  DEFAULT_SERVING_THRESHOLD,
  evaluateDetections,
  type EvaluationReport,
  type GroundTruthImage,
  type PredictedObject,
} from '../vision/map.js';
import type {
  DatasetSplit,
  YoloDatasetRepository,
  YoloSplit,
} from '../repositories/yolo-dataset.repository.js';

/**
 * Detection settings for mAP: keep nearly every candidate (as Ultralytics' val does, conf 0.001,
 * NMS IoU 0.6), so the precision-recall curve reaches low scores; the serving threshold only
 * applies to precision, recall and the confusion matrix.
 */
export const EVALUATION_DETECT_OPTIONS: DetectOptions = Object.freeze({
  confThreshold: 0.001,
  iouThreshold: 0.6,
  maxDetections: 100,
});

export interface EvaluationProgress {
  current: number;
  total: number;
}

export interface ModelEvaluationOptions {
  split?: DatasetSplit;
  servingThreshold?: number;
  onProgress?: (progress: EvaluationProgress) => void;
  /** Stops between images with the signal's reason. */
  signal?: AbortSignal;
}

export interface ModelEvaluationReport extends EvaluationReport {
  model: { version: string; path: string };
  dataset: { root: string; split: DatasetSplit };
  warnings: string[];
}

export interface PredictionsEvaluationOptions {
  /** The split scored when the data is a YOLO dataset. */
  split?: DatasetSplit;
  servingThreshold?: number;
}

export interface PredictionsEvaluationReport extends EvaluationReport {
  predictions: string;
  data: { path: string; format: 'coco' | 'yolo'; split?: DatasetSplit };
  warnings: string[];
}

function groundTruthOf(split: YoloSplit): GroundTruthImage[] {
  return split.images.map((image) => ({
    imageId: image.stem,
    width: image.width,
    height: image.height,
    objects: image.objects.map((object) => ({ classId: object.classId, box: object.box })),
  }));
}

/** Throws VALIDATION_FAILED unless the model predicts exactly the dataset's classes, in order. */
export function checkClassNames(
  modelNames: readonly string[],
  datasetNames: readonly string[],
): void {
  const count = Math.max(modelNames.length, datasetNames.length);
  for (let id = 0; id < count; id++) {
    const inModel = modelNames[id];
    const inDataset = datasetNames[id];
    if (inModel === inDataset) continue;
    const detail =
      inModel === undefined || inDataset === undefined
        ? `the model has ${modelNames.length} classes and the dataset ${datasetNames.length}`
        : `class ${id} is '${inModel}' in the model and '${inDataset}' in the dataset`;
    throw new VisionLoopError(
      'VALIDATION_FAILED',
      `the model's classes (${modelNames.join(', ')}) differ from the dataset's ` +
        `(${datasetNames.join(', ')}): ${detail}`,
    );
  }
}

export class EvaluationService {
  constructor(private readonly datasets: YoloDatasetRepository) {}

  /**
   * Runs `detector` (already loaded) over a split of the YOLO dataset at `dataDir` and scores
   * it. Throws MODEL_NOT_FOUND when nothing is loaded, VALIDATION_FAILED when the model's
   * classes are not the dataset's, DATASET_INVALID for a broken dataset.
   */
  async evaluateModel(
    detector: Detector,
    dataDir: string,
    options: ModelEvaluationOptions = {},
  ): Promise<ModelEvaluationReport> {
    const model = detector.model;
    const splitName = options.split ?? 'val';
    const split = await this.datasets.loadSplit(dataDir, splitName);
    checkClassNames(model.classNames, split.dataset.names);

    const total = split.images.length;
    const predictions: PredictedObject[] = [];
    const decode = (index: number): Promise<RgbImage> | null => {
      const image = split.images[index];
      if (!image) return null;
      const pending = this.datasets.loadImage(image.imagePath);
      // Observed so an abandoned prefetch is not an unhandled rejection; awaited below.
      pending.catch(() => undefined);
      return pending;
    };
    // The next image is decoded while the model runs on the current one.
    let pending = decode(0);
    for (const [index, image] of split.images.entries()) {
      options.signal?.throwIfAborted();
      const rgb = await (pending ?? this.datasets.loadImage(image.imagePath));
      pending = decode(index + 1);
      if (rgb.width !== image.width || rgb.height !== image.height) {
        throw new VisionLoopError(
          'DATASET_INVALID',
          `${image.imagePath}: decoded as ${rgb.width}×${rgb.height} but its header says ` +
            `${image.width}×${image.height}`,
        );
      }
      const { detections } = await detector.detect(rgb, EVALUATION_DETECT_OPTIONS);
      for (const detection of detections) {
        predictions.push({
          imageId: image.stem,
          classId: detection.classId,
          score: detection.confidence,
          box: detection.box,
        });
      }
      options.onProgress?.({ current: index + 1, total });
    }

    const report = evaluateDetections(groundTruthOf(split), predictions, {
      classNames: split.dataset.names,
      servingThreshold: options.servingThreshold ?? DEFAULT_SERVING_THRESHOLD,
    });
    return {
      ...report,
      model: { version: model.version, path: model.path },
      dataset: { root: split.dataset.root, split: splitName },
      warnings: split.warnings,
    };
  }

  /**
   * Scores a COCO results file against `data`: a COCO annotations file (a path ending in
   * .json) or a YOLO dataset (its directory or data.yaml), whose conventions are in coco.ts.
   */
  async evaluatePredictions(
    predictionsFile: string,
    data: string,
    options: PredictionsEvaluationOptions = {},
  ): Promise<PredictionsEvaluationReport> {
    const results = parseCocoResults(
      await this.datasets.readJsonFile(predictionsFile),
      predictionsFile,
    );
    const servingThreshold = options.servingThreshold ?? DEFAULT_SERVING_THRESHOLD;
    if (data.toLowerCase().endsWith('.json')) {
      const annotations = parseCocoAnnotations(await this.datasets.readJsonFile(data), data);
      const truth = cocoGroundTruth(annotations, data);
      const report = evaluateDetections(
        truth.images,
        cocoPredictions(results, truth, predictionsFile),
        { classNames: truth.classNames, servingThreshold },
      );
      return {
        ...report,
        predictions: predictionsFile,
        data: { path: data, format: 'coco' },
        warnings: truth.warnings,
      };
    }
    const splitName = options.split ?? 'val';
    const split = await this.datasets.loadSplit(data, splitName);
    const truth = groundTruthOf(split);
    const names = split.dataset.names;
    const report = evaluateDetections(
      truth,
      yoloPredictions(results, truth, names.length, predictionsFile),
      { classNames: names, servingThreshold },
    );
    return {
      ...report,
      predictions: predictionsFile,
      data: { path: data, format: 'yolo', split: splitName },
      warnings: split.warnings,
    };
  }
}
