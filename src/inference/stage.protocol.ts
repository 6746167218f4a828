/**
 * Messages between the stage models (onnx-stage-model.ts, caller's thread) and stage.worker.ts.
 * Plain data only (structured clone), except the packed crop tensor, whose buffer is transferred
 * to the worker with `run` and back with the answer, and the masks' buffers (transferred).
 *
 * Every loaded session has a generation number. A `run` names the generation its crops were
 * packed for (their input size), so a run sent while a `load` was finishing still goes to the
 * session it was made for; `retire` releases the sessions older than a generation once their
 * queued runs have finished.
 */
import type { CropClassification } from '../shared/domain.js';
import type { ErrorCode } from '../shared/errors.js';
import type { StageModelInfo, StageTask } from '../vision/stage-model.js';
import type { BinaryMask } from '../vision/stage-outputs.js';
import type { SessionSettings } from './inference.protocol.js';

export type StageWorkerRequest =
  | {
      type: 'load';
      requestId: number;
      modelPath: string;
      settings: SessionSettings;
      /** The task the caller serves; null accepts either (the registry's probe). */
      expectedTask: StageTask | null;
    }
  | {
      type: 'run';
      requestId: number;
      generation: number;
      /** `count` crops, each 3 × inputHeight × inputWidth floats (buffer transferred). */
      tensor: Float32Array;
      count: number;
    }
  | { type: 'retire'; requestId: number; below: number }
  | { type: 'dispose'; requestId: number };

export type StageWorkerResponse =
  | { type: 'loaded'; requestId: number; generation: number; model: StageModelInfo }
  | {
      type: 'ran';
      requestId: number;
      /** For a classifier: one answer per crop. */
      classifications?: CropClassification[];
      /** For a segmenter: one mask per crop, over the crop's model input (buffers transferred). */
      masks?: BinaryMask[];
      /** Wall time of the session run(s), ms. */
      runMs: number;
      /** The request's tensor, handed back for reuse (buffer transferred). */
      tensor: Float32Array;
    }
  | { type: 'retired'; requestId: number }
  | { type: 'disposed'; requestId: number }
  | { type: 'failed'; requestId: number; code: ErrorCode; message: string };
