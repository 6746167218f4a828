/**
 * Composition root for evaluation: the YOLO dataset reader (with ffmpeg for BMP), the
 * evaluation service, and the ONNX Runtime detector it runs models with.
 */
import { createOnnxDetector } from '../inference/onnx-detector.js';
import { decodeImageWithFfmpeg } from '../agent/sources/ffmpeg-image.js';
import { locateFfmpeg } from '../agent/sources/ffmpeg-locate.js';
import type { RuntimeConfig } from '../config/runtime.config.js';
import { YoloDatasetRepository } from '../repositories/yolo-dataset.repository.js';
import { EvaluationService } from '../services/evaluation.service.js';
import type { Detector } from '../vision/detector.js';

export function createDatasetRepository(config: RuntimeConfig): YoloDatasetRepository {
  return new YoloDatasetRepository({
    decodeUnsupported: async (file) => {
      const tools = await locateFfmpeg({ ffmpegPath: config.VISIONLOOP_FFMPEG });
      return decodeImageWithFfmpeg(tools.ffmpeg, file);
    },
  });
}

export function createEvaluation(config: RuntimeConfig): {
  evaluation: EvaluationService;
  createDetector: () => Detector;
} {
  return {
    evaluation: new EvaluationService(createDatasetRepository(config)),
    createDetector: () =>
      createOnnxDetector({
        threads: config.VISIONLOOP_THREADS,
        spinning: config.VISIONLOOP_ORT_SPINNING,
      }),
  };
}

// What `visionloop eval` (src/cli) names of the layers below, so the command imports only main/
// (DESIGN.md §8).
export { DATASET_SPLITS, type DatasetSplit } from '../repositories/yolo-dataset.repository.js';
export type {
  EvaluationService,
  ModelEvaluationReport,
  PredictionsEvaluationReport,
} from '../services/evaluation.service.js';
export type { Detector } from '../vision/detector.js';
export { DEFAULT_SERVING_THRESHOLD, type EvaluationReport } from '../vision/map.js';
