/**
 * The ONNX Runtime implementation of the stage contracts (src/vision/stage-model.ts):
 * OnnxCropClassifier and OnnxCropSegmenter. Each owns one worker thread (stage.worker.ts)
 * that owns the session. This side crops and packs all boxes of a frame into one tensor
 * (src/vision/crops.ts), transfers it to the worker — one session run for all crops when the
 * model's batch is dynamic, crop by crop when it is fixed to 1 — and, for a segmenter, maps
 * each crop's mask back to frame pixels (src/vision/mask-geometry.ts).
 *
 * `load()` replaces the model atomically: calls keep going to the old session until the new
 * one has loaded and warmed up; the old one is released once the runs queued on it are done.
 */
import type { Box, CropClassification, CropSegmentation } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import { packCrops, type CropTransform } from '../vision/crops.js';
import type { RgbImage } from '../vision/image.js';
import { maskAreaInFrame, maskOutlineInFrame } from '../vision/mask-geometry.js';
import type {
  CropClassifier,
  CropSegmenter,
  StageCropsTiming,
  StageModel,
  StageModelInfo,
  StageTask,
} from '../vision/stage-model.js';
import type { BinaryMask } from '../vision/stage-outputs.js';
import type { SessionSettings } from './inference.protocol.js';
import { sessionSettings } from './onnx-detector.js';
import type { StageWorkerRequest, StageWorkerResponse } from './stage.protocol.js';
import { WorkerClient } from './worker-client.js';

export interface OnnxStageModelOptions {
  /** ONNX Runtime intra-op threads; 0 or absent: `defaultInferenceThreads()`. */
  threads?: number;
  /** Allow ORT's idle threads to spin (off by default). */
  spinning?: boolean;
}

export interface StageRunAnswer {
  classifications: CropClassification[];
  masks: BinaryMask[];
  transforms: CropTransform[];
  timing: StageCropsTiming;
}

/** One stage model in its own worker; `expectedTask` null accepts either task (the probe). */
export class OnnxStageModel implements StageModel {
  private loaded: { info: StageModelInfo; generation: number } | null = null;
  private readonly client = new WorkerClient<StageWorkerRequest, StageWorkerResponse>(
    'stage.worker',
    'stage worker',
    () => {
      this.loaded = null;
    },
  );
  private readonly settings: SessionSettings;
  /** The last crop tensor handed back by the worker, reused when the next has its length. */
  private spare: Float32Array | undefined;

  constructor(
    private readonly expectedTask: StageTask | null,
    options: OnnxStageModelOptions = {},
  ) {
    this.settings = sessionSettings(options);
  }

  get info(): StageModelInfo {
    if (!this.loaded) throw new VisionLoopError('MODEL_NOT_FOUND', 'no stage model is loaded yet');
    return this.loaded.info;
  }

  get isLoaded(): boolean {
    return this.loaded !== null;
  }

  async load(modelPath: string): Promise<StageModelInfo> {
    const response = await this.request({
      type: 'load',
      requestId: 0,
      modelPath,
      settings: this.settings,
      expectedTask: this.expectedTask,
    });
    if (response.type !== 'loaded') throw new Error(`unexpected worker response ${response.type}`);
    // Only a newer generation replaces the current one (two loads may finish out of order).
    if (!this.loaded || response.generation > this.loaded.generation) {
      this.loaded = { info: response.model, generation: response.generation };
      this.spare = undefined;
      // Runs sent before this point are queued on the old session and finish on it.
      this.request({ type: 'retire', requestId: 0, below: response.generation }).catch(
        () => undefined,
      );
    } else {
      this.request({ type: 'retire', requestId: 0, below: this.loaded.generation }).catch(
        () => undefined,
      );
    }
    return response.model;
  }

  /**
   * Crops `boxes` from `image`, runs them, and returns the raw per-crop answers (masks over
   * the crops' model input, with each crop's transform back to the frame).
   */
  async runCrops(image: RgbImage, boxes: readonly Box[]): Promise<StageRunAnswer> {
    const current = this.loaded;
    if (!current) throw new VisionLoopError('MODEL_NOT_FOUND', 'no stage model is loaded yet');
    const started = performance.now();
    const { info, generation } = current;
    const packed = packCrops(image, boxes, info.inputWidth, info.inputHeight, this.spare);
    if (packed.tensor === this.spare) this.spare = undefined;
    const prepareMs = performance.now() - started;
    if (packed.count === 0) {
      return {
        classifications: [],
        masks: [],
        transforms: [],
        timing: { runMs: 0, prepareMs },
      };
    }
    const response = await this.request(
      { type: 'run', requestId: 0, generation, tensor: packed.tensor, count: packed.count },
      [packed.tensor.buffer as ArrayBuffer],
    );
    if (response.type !== 'ran') throw new Error(`unexpected worker response ${response.type}`);
    if (this.loaded?.generation === generation) this.spare = response.tensor;
    return {
      classifications: response.classifications ?? [],
      masks: response.masks ?? [],
      transforms: packed.transforms,
      timing: { runMs: response.runMs, prepareMs },
    };
  }

  async dispose(): Promise<void> {
    await this.client.dispose({ type: 'dispose', requestId: 0 }, [], () => {
      this.loaded = null;
      this.spare = undefined;
    });
  }

  private request(
    message: StageWorkerRequest,
    transfer: ArrayBuffer[] = [],
  ): Promise<StageWorkerResponse> {
    return this.client.request(message, transfer);
  }
}

/** Classifies each detection's crop (Ultralytics `-cls` layout) in one batched run per frame. */
export class OnnxCropClassifier extends OnnxStageModel implements CropClassifier {
  constructor(options: OnnxStageModelOptions = {}) {
    super('classify', options);
  }

  async classify(
    image: RgbImage,
    boxes: readonly Box[],
  ): Promise<{ results: CropClassification[]; timing: StageCropsTiming }> {
    const answer = await this.runCrops(image, boxes);
    return { results: answer.classifications, timing: answer.timing };
  }
}

/** Segments each detection's crop (YOLO-seg or a plain mask model) and measures the mask. */
export class OnnxCropSegmenter extends OnnxStageModel implements CropSegmenter {
  constructor(options: OnnxStageModelOptions = {}) {
    super('segment', options);
  }

  async segment(
    image: RgbImage,
    boxes: readonly Box[],
    mmPerPixel: number | null,
  ): Promise<{ results: CropSegmentation[]; timing: StageCropsTiming }> {
    if (mmPerPixel !== null && !(Number.isFinite(mmPerPixel) && mmPerPixel > 0)) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `mm per pixel must be a positive number or null, got ${mmPerPixel}`,
      );
    }
    const answer = await this.runCrops(image, boxes);
    const started = performance.now();
    const results = answer.masks.map((mask, i): CropSegmentation => {
      const crop = answer.transforms[i]!;
      const areaPx = Math.round(maskAreaInFrame(mask, crop) * 100) / 100;
      return {
        areaPx,
        areaMm2: mmPerPixel === null ? null : areaPx * mmPerPixel * mmPerPixel,
        polygon: maskOutlineInFrame(mask, crop),
      };
    });
    return {
      results,
      timing: {
        runMs: answer.timing.runMs,
        prepareMs: answer.timing.prepareMs + (performance.now() - started),
      },
    };
  }
}

/**
 * Loads a stage model in a fresh worker (load, warm-up, layout check) and releases it: what
 * an agent will see when it loads the same file as a classify or segment stage.
 */
export async function loadStageModelInfo(
  modelPath: string,
  options: OnnxStageModelOptions = {},
): Promise<StageModelInfo> {
  const model = new OnnxStageModel(null, options);
  try {
    return await model.load(modelPath);
  } finally {
    await model.dispose();
  }
}
