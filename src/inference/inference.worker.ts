/**
 * The one module that owns an ONNX Runtime session. Runs in a worker thread so inference never
 * blocks the caller's event loop. It loads and checks a model (ONNX, metadata, output layout,
 * warm-up run), then turns letterboxed input tensors into detections: session.run → decode →
 * NMS → boxes back in frame pixels. `session.run` of onnxruntime-node is synchronous on this
 * thread, so everything else a frame needs — letterboxing included — happens on the caller's
 * thread (OnnxDetector), where it overlaps the current run; this thread runs the model back to
 * back. Runs are serialized. Scores come out calibrated when the model's metadata carries a
 * calibration (src/vision/calibration.ts). Never touches anything but its model file.
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { Detection } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import { MAX_CANDIDATES, type DetectOptions, type ModelInfo } from '../vision/detector.js';
import { boxToSource, type LetterboxTransform } from '../vision/letterbox.js';
import { decodeOutput, resolveLayout } from '../vision/layouts.js';
import { nonMaxSuppression } from '../vision/nms.js';
import type { SessionSettings, WorkerRequest, WorkerResponse } from './inference.protocol.js';
import {
  enqueueRun,
  modelIdentity,
  openModel,
  releaseWhenIdle,
  serveRequests,
  staticInputSize,
  warmUp,
} from './ort-session.js';

interface LoadedModel {
  session: ort.InferenceSession;
  info: ModelInfo;
  runChain: Promise<unknown>;
}

let loaded: LoadedModel | null = null;

function post(message: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

async function loadModel(modelPath: string, settings: SessionSettings): Promise<ModelInfo> {
  return openModel(modelPath, settings, null, async (opened) => {
    const { path, bytes, header, metadata, session, inputDims } = opened;
    const inputName = session.inputNames[0];
    const outputName = session.outputNames[0];
    if (inputName === undefined || outputName === undefined) {
      throw new VisionLoopError('MODEL_LAYOUT_UNSUPPORTED', `${path} has no inputs or no outputs`);
    }
    if (inputDims && inputDims.length !== 4) {
      throw new VisionLoopError(
        'MODEL_LAYOUT_UNSUPPORTED',
        `${path}: input '${inputName}' has ${inputDims.length} dimensions; expected [1, 3, H, W]`,
      );
    }
    const [inputHeight, inputWidth] = metadata.imgsz ?? staticInputSize(inputDims) ?? [640, 640];
    const outputDims = await warmUp(session, path, inputName, inputHeight, inputWidth, (warm) => {
      const output = warm[outputName];
      if (!output) throw new Error(`no output '${outputName}'`);
      const dims = output.dims;
      output.dispose();
      return dims;
    });
    const { layout, numClasses } = resolveLayout(outputDims, metadata.names.length, {
      end2end: metadata.end2end,
      inputWidth,
      inputHeight,
    });
    const classNames =
      metadata.names.length > 0
        ? metadata.names
        : Array.from({ length: numClasses }, (_, i) => `class${i}`);
    const info: ModelInfo = {
      path,
      ...modelIdentity(path, bytes, metadata.version),
      inputName,
      outputName,
      inputWidth,
      inputHeight,
      stride: metadata.stride ?? 32,
      classNames,
      layout,
      metadata: header.metadata,
      calibration: metadata.calibration,
    };
    const previous = loaded;
    loaded = { session, info, runChain: Promise.resolve() };
    if (previous) await releaseWhenIdle(previous);
    return info;
  });
}

/**
 * Queues one run on the loaded model. The run is chained synchronously, so a model replaced
 * by a later `load` is released only after every run queued on it has finished.
 */
function detect(
  tensor: Float32Array,
  transform: LetterboxTransform,
  options: DetectOptions,
): Promise<{
  detections: Detection[];
  candidates?: Detection[];
  timings: { inferenceMs: number; postprocessMs: number };
}> {
  const model = loaded;
  if (!model) return Promise.reject(new VisionLoopError('MODEL_NOT_FOUND', 'no model is loaded'));
  const { info, session } = model;
  const expected = 3 * info.inputWidth * info.inputHeight;
  if (tensor.length !== expected) {
    return Promise.reject(
      new VisionLoopError(
        'IMAGE_INVALID',
        `input tensor holds ${tensor.length} floats; ${info.version} takes ${expected} (3×${info.inputHeight}×${info.inputWidth})`,
      ),
    );
  }
  const run = enqueueRun(model, async () => {
    const start = performance.now();
    const feeds = {
      [info.inputName]: new ort.Tensor('float32', tensor, [
        1,
        3,
        info.inputHeight,
        info.inputWidth,
      ]),
    };
    const outputs = await session.run(feeds);
    return { outputs, start, end: performance.now() };
  });
  return run.then(({ outputs, start, end }) => {
    const output = outputs[info.outputName];
    if (!output)
      throw new VisionLoopError('MODEL_LAYOUT_UNSUPPORTED', `no output '${info.outputName}'`);
    const below =
      options.candidateThreshold !== undefined &&
      options.candidateThreshold < options.confThreshold;
    const candidates = decodeOutput(
      output.data as Float32Array,
      output.dims,
      info.layout,
      info.classNames.length,
      below ? (options.candidateThreshold as number) : options.confThreshold,
      { classScores: options.classScores === true, calibration: info.calibration ?? null },
    );
    output.dispose();
    const kept =
      info.layout === 'end2end'
        ? candidates
            .sort((a, b) => b.score - a.score)
            .slice(0, below ? options.maxDetections + MAX_CANDIDATES : options.maxDetections)
        : nonMaxSuppression(candidates, {
            iouThreshold: options.iouThreshold,
            maxDetections: below ? options.maxDetections + MAX_CANDIDATES : options.maxDetections,
          });
    const toDetection = (candidate: (typeof kept)[number]): Detection => {
      const detection: Detection = {
        classId: candidate.classId,
        className: info.classNames[candidate.classId] ?? `class${candidate.classId}`,
        confidence: candidate.score,
        box: boxToSource(candidate.box, transform),
      };
      if (candidate.classScores) detection.classScores = Array.from(candidate.classScores);
      return detection;
    };
    if (!below) {
      return {
        detections: kept.map(toDetection),
        timings: { inferenceMs: end - start, postprocessMs: performance.now() - end },
      };
    }
    // Suppressed together, so a weak duplicate of a kept box is not a candidate; then split.
    const sure = kept.filter((c) => c.score >= options.confThreshold);
    const weak = kept
      .filter((c) => c.score < options.confThreshold)
      .sort((a, b) => b.score - a.score)
      .slice(0, MAX_CANDIDATES);
    return {
      detections: sure.slice(0, options.maxDetections).map(toDetection),
      candidates: weak.map(toDetection),
      timings: { inferenceMs: end - start, postprocessMs: performance.now() - end },
    };
  });
}

async function handle(request: WorkerRequest): Promise<void> {
  switch (request.type) {
    case 'load': {
      const model = await loadModel(request.modelPath, request.settings);
      post({ type: 'loaded', requestId: request.requestId, model });
      return;
    }
    case 'detect': {
      const { tensor } = request;
      const result = await detect(tensor, request.transform, request.options);
      post({ type: 'detected', requestId: request.requestId, ...result, tensor }, [
        tensor.buffer as ArrayBuffer,
      ]);
      return;
    }
    case 'dispose': {
      const model = loaded;
      loaded = null;
      if (model) await releaseWhenIdle(model);
      post({ type: 'disposed', requestId: request.requestId });
      return;
    }
  }
}

serveRequests(handle);
