/**
 * Domain types shared by the agent, the server, the CLI and the dashboard. Browser-safe.
 * Boxes are in frame pixels, corner form (x1, y1) top-left, (x2, y2) bottom-right.
 */

/** The defect classes of the synthetic inspection line, in class-id order. */
export const SYNTH_CLASSES = ['scratch', 'crack', 'dent', 'stain'] as const;
export type SynthClass = (typeof SYNTH_CLASSES)[number];

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Detection {
  classId: number;
  className: string;
  confidence: number;
  box: Box;
  /**
   * Every class's score for this box, in class-id order (active learning: margin, entropy).
   * Only when the detector was asked for them (the agent's sampler); results carry them only
   * when they were sampled for labeling.
   */
  classScores?: number[];
}

export type Decision = 'PASS' | 'FAIL';

/** Image-quality features of one frame (computed on a downscaled gray copy). */
export interface FrameFeatures {
  brightness: number;
  contrast: number;
  sharpness: number;
  saturation: number;
  noise: number;
  colorCast: number;
  edgeDensity: number;
}

export const FEATURE_NAMES = [
  'brightness',
  'contrast',
  'sharpness',
  'saturation',
  'noise',
  'colorCast',
  'edgeDensity',
] as const satisfies readonly (keyof FrameFeatures)[];

export interface FrameLatencies {
  /** Decode/capture to start of preprocessing, ms. */
  queueMs: number;
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
  /** Capture to result, ms. */
  totalMs: number;
}

/** What the agent produces for every frame it processes. */
export interface FrameResult {
  /** Client-generated id, unique per agent and frame. */
  id: string;
  camera: string;
  frameIndex: number;
  capturedAt: number;
  width: number;
  height: number;
  detections: Detection[];
  uncertain: boolean;
  decision: Decision;
  features: FrameFeatures;
  latencies: FrameLatencies;
  modelVersion: string;
  /** False when the motion gate skipped inference and the last result was carried forward. */
  inferred: boolean;
  /** Present when the agent sampled this frame for labeling (its JPEG is uploaded). */
  sampling?: FrameSampling;
  /**
   * What the stages after `detect` said (docs/pipeline.md): present when the camera's chain
   * has a `classify` or `segment` stage and inference ran on this frame.
   */
  stages?: InspectionStages;
  /**
   * The id of the decision rule that failed the part (a rule of the camera's chain, or
   * `fail-threshold` for the default rule); absent when the part passed.
   */
  decidedBy?: string;
  /**
   * A shadow model's output on this frame (docs/rollouts.md): it ran beside the serving model,
   * never decided, and is stored apart. Present only on the shadow's sampled share of frames.
   */
  shadow?: ShadowResult;
}

/** What a model in the registry does: the stage it can serve. Ultralytics' metadata `task`. */
export type ModelTask = 'detect' | 'classify' | 'segment';

/** The classify stage's answer on one detection's crop. */
export interface CropClassification {
  classId: number;
  className: string;
  confidence: number;
}

/** The segment stage's measurement of one detection's crop. */
export interface CropSegmentation {
  /** Defect pixels of the mask, counted at frame resolution. */
  areaPx: number;
  /** `areaPx` × mmPerPixel², when the camera has a calibration; else null. */
  areaMm2: number | null;
  /**
   * The mask's outer outline in frame pixels, flat `[x0, y0, x1, y1, …]`, at most 64 points;
   * empty when the mask is empty.
   */
  polygon: number[];
}

/** The later stages' outputs for one detection (same index as in `FrameResult.detections`). */
export interface DetectionStages {
  classification?: CropClassification;
  segmentation?: CropSegmentation;
  /** The classifier called the crop the chain's veto class: it does not count for the decision. */
  vetoed: boolean;
}

export interface InspectionStages {
  /** Registry versions of the stage models that ran. */
  versions: { classify?: string; segment?: string };
  /** One entry per detection, in `FrameResult.detections` order. */
  detections: DetectionStages[];
  /** Sum of the segmented areas of non-vetoed detections; null without a segment stage. */
  totalAreaPx: number | null;
  /** Same in mm²; null without a segment stage or a calibration. */
  totalAreaMm2: number | null;
  /**
   * Highest severity among non-vetoed detections: the classifier's class id (a classifier's
   * classes are listed in severity order); null without a classify stage or detections.
   */
  maxSeverity: number | null;
  /** Time of each stage's one batched session run (all crops of the frame), ms. */
  timings: { classifyMs?: number; segmentMs?: number };
}

/** A shadow model's output on one frame, compared with the serving model's. */
export interface ShadowResult {
  version: string;
  detections: Detection[];
  decision: Decision;
  /**
   * 1 − F1 of the shadow's boxes against the serving model's (a match: same class, IoU ≥ 0.5),
   * 0..1; 0 when both found nothing.
   */
  disagreement: number;
  /** The decisions differ, or `disagreement` ≥ 0.5: the frame is worth a label. */
  disagrees: boolean;
  inferenceMs: number;
}

/** Why and how urgently a frame was sampled for labeling (docs/sampling.md). */
export interface FrameSampling {
  /** Strategy reasons (`low_confidence`, `random`, `drift`, …) in evaluation order. */
  reasons: string[];
  /** Orders the labeling queue, higher first: reason tier + informativeness. */
  priority: number;
  /** 64-bit perceptual hash (dHash) of the frame, 16 hex digits. */
  phash: string;
  /** Of the most informative detection, when the detector gave class scores. */
  margin?: number;
  entropy?: number;
  /** How new the frame was against earlier samples, 0..1 (the `novelty` strategy's score). */
  novelty?: number;
  /** The ranking strategy that contributed most to the priority, and its score 0..1. */
  strategy?: string;
  strategyScore?: number;
  /** Uncertainty over the detector's below-threshold candidates, 0..1. */
  candidateUncertainty?: number;
}
