/**
 * The narrow detector contract that the agent, the server and the evaluator share. The ONNX
 * Runtime implementation lives in src/agent/ and is wired by src/main/; everything else sees
 * only this interface. Types only: no runtime imports.
 */
import type { Detection } from '../shared/domain.js';
import type { ScoreCalibration } from './calibration.js';
import type { RgbImage } from './image.js';

/** The output layouts of DESIGN.md §4. */
export type OutputLayout =
  /** [1, 4+nc, N]: cx, cy, w, h in input pixels, then class scores (YOLOv8/YOLO11). */
  | 'yolov8'
  /** [1, N, 4+nc]: the same, transposed. */
  | 'yolov8-transposed'
  /** [1, N, 5+nc]: cx, cy, w, h, objectness, class scores (YOLOv5). */
  | 'yolov5'
  /** [1, K, 6]: x1, y1, x2, y2, score, class; already suppressed (YOLO26/YOLOv10). */
  | 'end2end';

export interface ModelInfo {
  /** Absolute path of the .onnx file. */
  path: string;
  /** sha256 of the file, hex. */
  sha256: string;
  /** The version label results carry (metadata `visionloop_version`, else file stem + hash prefix). */
  version: string;
  inputName: string;
  outputName: string;
  /** Network input size in pixels. */
  inputWidth: number;
  inputHeight: number;
  stride: number;
  classNames: string[];
  layout: OutputLayout;
  /** All metadata_props, raw. */
  metadata: Record<string, string>;
  /**
   * The score calibration the detector applies (metadata `visionloop_temperature` /
   * `visionloop_logit_bias`, src/vision/calibration.ts); null or absent: raw scores.
   */
  calibration?: ScoreCalibration | null;
}

export interface DetectOptions {
  /** Candidates below this score are dropped before NMS (kept low so the uncertain band is seen). */
  confThreshold: number;
  /** IoU above which a lower-scored box of the same class is suppressed. */
  iouThreshold: number;
  maxDetections: number;
  /** Attach each kept box's class-score vector (`Detection.classScores`). Default false. */
  classScores?: boolean;
  /**
   * When set below `confThreshold`: boxes scoring in [candidateThreshold, confThreshold) are
   * decoded and suppressed with the others and returned apart, as `DetectorOutput.candidates`
   * (at most MAX_CANDIDATES, highest first) — what the model half-sees, for the sampler's
   * candidate uncertainty (src/agent/sampling/selection.ts). Never part of `detections`.
   */
  candidateThreshold?: number;
}

/** Most below-threshold candidates a detector returns per frame. */
export const MAX_CANDIDATES = 32;

export const DEFAULT_DETECT_OPTIONS: DetectOptions = {
  confThreshold: 0.25,
  iouThreshold: 0.45,
  maxDetections: 100,
};

export interface DetectorTimings {
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
}

export interface DetectorOutput {
  /** Boxes in the pixels of the image passed in. */
  detections: Detection[];
  /** Boxes below `confThreshold` (see DetectOptions.candidateThreshold); absent when not asked. */
  candidates?: Detection[];
  timings: DetectorTimings;
  /**
   * The version of the model that produced these detections, when the detector can change
   * models between calls (a hot-swapping detector); otherwise `model.version`.
   */
  modelVersion?: string;
}

export interface Detector {
  load(modelPath: string): Promise<ModelInfo>;
  /** The loaded model; throws MODEL_NOT_FOUND before `load`. */
  readonly model: ModelInfo;
  detect(image: RgbImage, options?: Partial<DetectOptions>): Promise<DetectorOutput>;
  dispose(): Promise<void>;
}
