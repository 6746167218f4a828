/**
 * Composition root for local detection (`visionloop detect`, and `visionloop up` until the
 * server exists): opens the source, loads the ONNX detector, runs the inspection pipeline.
 */
import { fileURLToPath } from 'node:url';
import { createOnnxDetector } from '../agent/onnx-detector.js';
import {
  InspectionPipeline,
  type PipelineOptions,
  type PipelineStats,
  type ResultHandler,
} from '../agent/pipeline.js';
import { openSource } from '../agent/sources/open-source.js';
import type { RuntimeConfig } from '../config/runtime.config.js';
import type { Detector, ModelInfo } from '../vision/detector.js';

/** The seed model shipped in the package (models/seed/model.onnx). */
export const BUILTIN_SEED_MODEL = fileURLToPath(
  new URL('../../models/seed/model.onnx', import.meta.url),
);

/** The model to use: an explicit one, else VISIONLOOP_MODEL, else the shipped seed. */
export function resolveModelPath(explicit: string | undefined, config: RuntimeConfig): string {
  return explicit ?? config.VISIONLOOP_MODEL ?? BUILTIN_SEED_MODEL;
}

export interface DetectRun {
  model: ModelInfo;
  sourceDescription: string;
  stats: () => PipelineStats;
  /** Resolves when the source ends or the signal aborts. */
  done: Promise<PipelineStats>;
}

export interface DetectRequest {
  modelPath: string;
  source: string;
  config: RuntimeConfig;
  fps?: number;
  maxFrames?: number;
  seed?: number;
  loop?: boolean;
  pipeline?: Partial<PipelineOptions>;
  onResult: ResultHandler;
  signal?: AbortSignal;
  /** The detector to load the model into (a hot-swappable one); default a new ONNX detector. */
  detector?: Detector;
}

export async function startDetect(request: DetectRequest): Promise<DetectRun> {
  const detector =
    request.detector ??
    createOnnxDetector({
      threads: request.config.VISIONLOOP_THREADS,
      spinning: request.config.VISIONLOOP_ORT_SPINNING,
    });
  let model: ModelInfo;
  try {
    model = await detector.load(request.modelPath);
  } catch (error) {
    await detector.dispose();
    throw error;
  }
  const source = await openSource(request.source, {
    fps: request.fps,
    maxFrames: request.maxFrames,
    seed: request.seed,
    loop: request.loop,
    ffmpegPath: request.config.VISIONLOOP_FFMPEG,
  }).catch(async (error: unknown) => {
    await detector.dispose();
    throw error;
  });
  const pipeline = new InspectionPipeline(source, detector, request.onResult, request.pipeline);
  const done = pipeline.run(request.signal).finally(async () => {
    await source.close();
    await detector.dispose();
  });
  return { model, sourceDescription: source.description, stats: () => pipeline.stats(), done };
}

// The defaults `visionloop detect` shows in its help and starts from: the command line names
// them through this composition root, never agent/ or vision/ directly (DESIGN.md §8).
export type { PipelineStats } from '../agent/pipeline.js';
export { DEFAULT_MOTION_GATE } from '../agent/motion-gate.js';
export { DEFAULT_DECISION_POLICY, DEFAULT_UNCERTAIN_BAND } from '../vision/decision.js';
export { DEFAULT_DETECT_OPTIONS } from '../vision/detector.js';
