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
