/**
 * The port through which the model registry has candidate bytes checked by the runtime
 * (OnnxModelProbe implements it). Lives with the runtime, below services, so the registry
 * service and the probe both depend downward on it.
 */
import type { ModelTask } from '../shared/domain.js';
import type { OutputLayout } from '../vision/detector.js';
import type { StageLayout } from '../vision/stage-model.js';

/** What the runtime saw when it loaded a model. */
export interface InspectedModel {
  /** The version the runtime reports (the file's `visionloop_version`). */
  version: string;
  sha256: string;
  /** What the model does: a detector, or a classify/segment stage model (docs/pipeline.md). */
  task: ModelTask;
  layout: OutputLayout | StageLayout;
  classNames: string[];
  inputWidth: number;
  inputHeight: number;
}

/** Loads a model in a fresh runtime (load, warm-up, layout check) and releases it. */
export interface ModelInspector {
  /** Throws MODEL_NOT_ONNX, MODEL_METADATA_INVALID, MODEL_LAYOUT_UNSUPPORTED, MODEL_LOAD_FAILED. */
  inspect(bytes: Uint8Array): Promise<InspectedModel>;
}
