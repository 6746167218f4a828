/**
 * Messages between OnnxDetector (caller's thread) and inference.worker.ts. Plain data only:
 * everything here crosses a worker boundary by structured clone.
 */
import type { Detection } from '../shared/domain.js';
import type { ErrorCode } from '../shared/errors.js';
import type { DetectOptions, DetectorTimings, ModelInfo } from '../vision/detector.js';

export interface SessionSettings {
  /** ONNX Runtime intra-op threads (0 = ORT's default: one per core). */
  intraOpThreads: number;
  /** Let ORT's threads spin while idle (lower latency, burns CPU); off by default. */
  spinning: boolean;
}

export type WorkerRequest =
  | { type: 'load'; requestId: number; modelPath: string; settings: SessionSettings }
  | {
      type: 'detect';
      requestId: number;
      width: number;
      height: number;
      data: Uint8Array;
      options: DetectOptions;
    }
  | { type: 'dispose'; requestId: number };

export type WorkerResponse =
  | { type: 'loaded'; requestId: number; model: ModelInfo }
  | { type: 'detected'; requestId: number; detections: Detection[]; timings: DetectorTimings }
  | { type: 'disposed'; requestId: number }
  | { type: 'failed'; requestId: number; code: ErrorCode; message: string };
