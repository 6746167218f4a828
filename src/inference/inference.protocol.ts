/**
 * Messages between OnnxDetector (caller's thread) and inference.worker.ts. Plain data only:
 * everything here crosses a worker boundary by structured clone, except the input tensor,
 * whose buffer is transferred to the worker with `detect` and back with the answer.
 */
import type { Detection } from '../shared/domain.js';
import type { ErrorCode } from '../shared/errors.js';
import type { DetectOptions, DetectorTimings, ModelInfo } from '../vision/detector.js';
import type { LetterboxTransform } from '../vision/letterbox.js';

export interface SessionSettings {
  /** ONNX Runtime intra-op threads, resolved (at least 1). */
  intraOpThreads: number;
  /** Let ORT's threads spin while idle (lower latency, burns CPU); off by default. */
  spinning: boolean;
}

export type WorkerRequest =
  | { type: 'load'; requestId: number; modelPath: string; settings: SessionSettings }
  | {
      type: 'detect';
      requestId: number;
      /** The letterboxed frame, 3 × inputHeight × inputWidth floats (buffer transferred). */
      tensor: Float32Array;
      /** How the frame was letterboxed into `tensor`: maps boxes back to frame pixels. */
      transform: LetterboxTransform;
      options: DetectOptions;
    }
  | {
      type: 'dispose';
      requestId: number;
      /**
       * The caller's pooled input tensors (buffers transferred): they are freed with the
       * worker's heap when the worker is terminated, instead of lingering on the caller's
       * thread until its next garbage collection.
       */
      tensors: Float32Array[];
    };

export type WorkerResponse =
  | { type: 'loaded'; requestId: number; model: ModelInfo }
  | {
      type: 'detected';
      requestId: number;
      detections: Detection[];
      /** Below-threshold boxes, when the request's options asked for them. */
      candidates?: Detection[];
      /** Inference and postprocessing; preprocessing happens on the caller's side. */
      timings: Omit<DetectorTimings, 'preprocessMs'>;
      /** The request's tensor, handed back for reuse (buffer transferred). */
      tensor: Float32Array;
    }
  | { type: 'disposed'; requestId: number }
  | { type: 'failed'; requestId: number; code: ErrorCode; message: string };
