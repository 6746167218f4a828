/**
 * The ONNX Runtime implementation of the Detector contract (src/vision/detector.ts). It owns
 * one worker thread (inference.worker.ts) that owns the session, so the caller's event loop
 * stays free while the model runs. This side letterboxes each frame into a pooled input
 * tensor (about 2 ms for 640×480 → 320×320) and transfers it to the worker, which runs the
 * model, decodes and suppresses, and hands the tensor back. Several detect() calls may be in
 * flight: the next frame is letterboxed here while the worker runs the current one, so the
 * worker's thread does nothing but inference and decoding.
 */
import { availableParallelism } from 'node:os';
import { VisionLoopError } from '../shared/errors.js';
import {
  DEFAULT_DETECT_OPTIONS,
  type DetectOptions,
  type Detector,
  type DetectorOutput,
  type ModelInfo,
} from '../vision/detector.js';
import type { RgbImage } from '../vision/image.js';
import type { LetterboxTransform } from '../vision/letterbox.js';
import type { SessionSettings, WorkerRequest, WorkerResponse } from './inference.protocol.js';
import { letterboxToTensor } from './preprocess.js';
import { WorkerClient } from './worker-client.js';

/**
 * ONNX Runtime intra-op threads when none are configured: one per core but one, at least one.
 * The spare core letterboxes the next frame and computes its features while the model runs;
 * giving ORT every core makes it fight that work and, on small models, costs more in thread
 * hand-offs than it gains (bench/pipeline-throughput.bench.ts; docs/agent.md).
 */
export function defaultInferenceThreads(cores = availableParallelism()): number {
  return Math.max(1, cores - 1);
}

/** The worker's session settings for the `threads` and `spinning` options of a model. */
export function sessionSettings(options: {
  threads?: number;
  spinning?: boolean;
}): SessionSettings {
  const threads = options.threads ?? 0;
  return {
    intraOpThreads: threads > 0 ? threads : defaultInferenceThreads(),
    spinning: options.spinning ?? false,
  };
}

export interface OnnxDetectorOptions {
  /** ONNX Runtime intra-op threads; 0 or absent: `defaultInferenceThreads()`. */
  threads?: number;
  /** Allow ORT's idle threads to spin (off by default: it burns CPU the agent needs). */
  spinning?: boolean;
}

/** A reusable input tensor and the letterbox geometry last written into it. */
interface InputSlot {
  tensor: Float32Array;
  transform: LetterboxTransform | null;
}

export class OnnxDetector implements Detector {
  private loadedModel: ModelInfo | null = null;
  private readonly client = new WorkerClient<WorkerRequest, WorkerResponse>(
    'inference.worker',
    'inference worker',
    () => {
      this.loadedModel = null;
    },
  );
  private readonly settings: SessionSettings;
  /** Free input tensors of the loaded model's size (one per frame in flight, at most). */
  private slots: InputSlot[] = [];

  constructor(options: OnnxDetectorOptions = {}) {
    this.settings = sessionSettings(options);
  }

  /** The ONNX Runtime intra-op threads this detector's session uses. */
  get threads(): number {
    return this.settings.intraOpThreads;
  }

  get model(): ModelInfo {
    if (!this.loadedModel) throw new VisionLoopError('MODEL_NOT_FOUND', 'no model is loaded yet');
    return this.loadedModel;
  }

  get isLoaded(): boolean {
    return this.loadedModel !== null;
  }

  async load(modelPath: string): Promise<ModelInfo> {
    const response = await this.request({
      type: 'load',
      requestId: 0,
      modelPath,
      settings: this.settings,
    });
    if (response.type !== 'loaded') throw new Error(`unexpected worker response ${response.type}`);
    this.loadedModel = response.model;
    this.slots = [];
    return response.model;
  }

  async detect(image: RgbImage, options: Partial<DetectOptions> = {}): Promise<DetectorOutput> {
    if (!this.loadedModel) throw new VisionLoopError('MODEL_NOT_FOUND', 'no model is loaded yet');
    if (image.data.length !== image.width * image.height * 3) {
      throw new VisionLoopError(
        'IMAGE_INVALID',
        `frame of ${image.width}×${image.height} has ${image.data.length} bytes; expected ${image.width * image.height * 3} (RGB)`,
      );
    }
    const model = this.loadedModel;
    const size = 3 * model.inputWidth * model.inputHeight;
    const slot = this.slots.pop() ?? { tensor: new Float32Array(size), transform: null };
    const started = performance.now();
    const transform = letterboxToTensor(
      image,
      model.inputWidth,
      model.inputHeight,
      slot.tensor,
      slot.transform,
    );
    const preprocessMs = performance.now() - started;
    const response = await this.request(
      {
        type: 'detect',
        requestId: 0,
        tensor: slot.tensor,
        transform,
        options: { ...DEFAULT_DETECT_OPTIONS, ...options },
      },
      [slot.tensor.buffer as ArrayBuffer],
    );
    if (response.type !== 'detected')
      throw new Error(`unexpected worker response ${response.type}`);
    // Reuse the tensor unless a load changed the input size meanwhile.
    if (this.loadedModel === model && response.tensor.length === size) {
      this.slots.push({ tensor: response.tensor, transform });
    }
    return {
      detections: response.detections,
      ...(response.candidates === undefined ? {} : { candidates: response.candidates }),
      timings: { preprocessMs, ...response.timings },
    };
  }

  async dispose(): Promise<void> {
    if (!this.client.running) return;
    // The pooled tensors go with the worker: terminating it frees them at once (a retired
    // model's buffers would otherwise wait for this thread's next garbage collection, which
    // showed as RSS growing with every hot swap; bench/swap-under-load.bench.ts).
    const tensors = this.slots.map((slot) => slot.tensor);
    this.slots = [];
    await this.client.dispose(
      { type: 'dispose', requestId: 0, tensors },
      tensors.map((tensor) => tensor.buffer as ArrayBuffer),
      () => {
        this.loadedModel = null;
        this.slots = [];
      },
    );
  }

  private request(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerResponse> {
    return this.client.request(message, transfer);
  }
}

export function createOnnxDetector(options: OnnxDetectorOptions = {}): Detector {
  return new OnnxDetector(options);
}
