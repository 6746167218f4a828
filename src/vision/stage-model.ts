/**
 * The contract of the stages after `detect` (docs/pipeline.md): a classifier or a segmenter run
 * on crops of one frame, all crops of a frame in one batched session run. The ONNX Runtime
 * implementation lives in src/inference/; the agent's inspection chain sees only this
 * interface. Types only: no runtime imports.
 *
 * Model formats, detected from the file as the detector layouts are:
 * - `classify`: the Ultralytics `-cls` layout, input `[N, 3, S, S]` (RGB 0..1, the crop
 *   resized to S × S), output `[N, nc]` class probabilities (or logits: softmax is applied when
 *   a row does not sum to 1). Class names from metadata `names`.
 * - `crop-mask`: a plain per-crop mask model, input `[N, 3, S, S]`, output `[N, 1, h, w]` defect
 *   probabilities (or logits: sigmoid when a value is outside 0..1); a pixel is defect at ≥ 0.5.
 * - `yolo-seg`: an Ultralytics YOLO-seg export run on the crop, outputs `[1, 4+nc+32, N]` and
 *   prototype masks `[1, 32, H, W]`; the best box's mask (sigmoid of coefficients × protos,
 *   cut to its box) is the crop's mask.
 * A batch dimension of 1 (a fixed-batch export) runs crop by crop.
 */
import type { Box, CropClassification, CropSegmentation } from '../shared/domain.js';
import type { RgbImage } from './image.js';

export type StageTask = 'classify' | 'segment';

/** The output layouts of stage models. */
export type StageLayout = 'classify' | 'crop-mask' | 'yolo-seg';

export interface StageModelInfo {
  path: string;
  sha256: string;
  /** Metadata `visionloop_version`, else file stem + hash prefix (as for detectors). */
  version: string;
  task: StageTask;
  layout: StageLayout;
  inputWidth: number;
  inputHeight: number;
  classNames: string[];
  /** Whether the model takes a dynamic batch (all crops in one run). */
  batched: boolean;
  metadata: Record<string, string>;
}

export interface StageCropsTiming {
  /** Wall time of the stage's session run(s) for this frame, ms. */
  runMs: number;
  /** Crop resizing and tensor packing on the caller's side, ms. */
  prepareMs: number;
}

/** One stage model, loaded in its own worker. Not reentrant: one frame's crops at a time. */
export interface StageModel {
  readonly info: StageModelInfo;
  /** Loads (or replaces) the model; the old session serves until the new one is ready. */
  load(modelPath: string): Promise<StageModelInfo>;
  dispose(): Promise<void>;
}

export interface CropClassifier extends StageModel {
  /** One answer per box (frame pixels, already padded and clipped), in order. */
  classify(
    image: RgbImage,
    boxes: readonly Box[],
  ): Promise<{ results: CropClassification[]; timing: StageCropsTiming }>;
}

export interface CropSegmenter extends StageModel {
  /**
   * One measurement per box, in order: mask area and outline mapped back to frame pixels;
   * `areaMm2` from `mmPerPixel` (null: uncalibrated).
   */
  segment(
    image: RgbImage,
    boxes: readonly Box[],
    mmPerPixel: number | null,
  ): Promise<{ results: CropSegmentation[]; timing: StageCropsTiming }>;
}
