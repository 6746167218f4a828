/**
 * The ONNX Runtime implementation of the Detector contract (src/vision/detector.ts). It owns
 * one worker thread (inference.worker.ts) that owns the session; this side only sends frames
 * and receives detections, so the caller's event loop stays free while the model runs.
 * Several detect() calls may be in flight: the worker overlaps the next frame's preprocessing
 * with the current run.
 */
import type { Worker } from 'node:worker_threads';
import { VisionLoopError } from '../shared/errors.js';
import {
  DEFAULT_DETECT_OPTIONS,
  type DetectOptions,
  type Detector,
  type DetectorOutput,
  type ModelInfo,
} from '../vision/detector.js';
import type { RgbImage } from '../vision/image.js';
import type { SessionSettings, WorkerRequest, WorkerResponse } from './inference.protocol.js';
import { siblingModuleUrl, startModuleWorker } from './module-worker.js';

export interface OnnxDetectorOptions {
  /** ONNX Runtime intra-op threads; 0 lets ORT pick (one per core). */
  threads?: number;
  /** Allow ORT's idle threads to spin (off by default: it burns CPU the agent needs). */
  spinning?: boolean;
}

type Pending = { resolve: (response: WorkerResponse) => void; reject: (error: Error) => void };

export class OnnxDetector implements Detector {
  private worker: Worker | null = null;
  private loadedModel: ModelInfo | null = null;
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly settings: SessionSettings;

  constructor(options: OnnxDetectorOptions = {}) {
    this.settings = { intraOpThreads: options.threads ?? 0, spinning: options.spinning ?? false };
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
    const response = await this.request({
      type: 'detect',
      requestId: 0,
      width: image.width,
      height: image.height,
      data: image.data,
      options: { ...DEFAULT_DETECT_OPTIONS, ...options },
    });
    if (response.type !== 'detected')
      throw new Error(`unexpected worker response ${response.type}`);
    return { detections: response.detections, timings: response.timings };
  }

  async dispose(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    try {
      await this.request({ type: 'dispose', requestId: 0 });
    } finally {
      this.worker = null;
      this.loadedModel = null;
      await worker.terminate();
    }
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = startModuleWorker(siblingModuleUrl(import.meta.url, 'inference.worker'));
    worker.on('message', (response: WorkerResponse) => {
      const pending = this.pending.get(response.requestId);
      if (!pending) return;
      this.pending.delete(response.requestId);
      if (this.pending.size === 0) worker.unref();
      if (response.type === 'failed') {
        pending.reject(new VisionLoopError(response.code, response.message));
      } else {
        pending.resolve(response);
      }
    });
    const failAll = (error: Error) => {
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
      if (this.worker === worker) {
        this.worker = null;
        this.loadedModel = null;
      }
    };
    worker.on('error', (error) =>
      failAll(
        new VisionLoopError('INTERNAL', `inference worker crashed: ${error.message}`, {
          cause: error,
        }),
      ),
    );
    worker.on('exit', (code) => {
      if (this.pending.size > 0) {
        failAll(new VisionLoopError('INTERNAL', `inference worker exited with code ${code}`));
      }
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private request(message: WorkerRequest): Promise<WorkerResponse> {
    const worker = this.ensureWorker();
    const requestId = this.nextRequestId++;
    return new Promise<WorkerResponse>((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject });
      // Keep the process alive only while a request is in flight; an idle detector must not.
      worker.ref();
      worker.postMessage({ ...message, requestId });
    });
  }
}

export function createOnnxDetector(options: OnnxDetectorOptions = {}): Detector {
  return new OnnxDetector(options);
}
