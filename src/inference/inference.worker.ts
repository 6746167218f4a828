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
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { Detection } from '../shared/domain.js';
import { isVisionLoopError, VisionLoopError } from '../shared/errors.js';
import { MAX_CANDIDATES, type DetectOptions, type ModelInfo } from '../vision/detector.js';
import { boxToSource, type LetterboxTransform } from '../vision/letterbox.js';
import { decodeOutput, resolveLayout } from '../vision/layouts.js';
import { parseModelMetadata } from '../vision/metadata.js';
import { nonMaxSuppression } from '../vision/nms.js';
import { readOnnxModelHeader } from '../vision/onnx-model-file.js';
import type { SessionSettings, WorkerRequest, WorkerResponse } from './inference.protocol.js';

interface LoadedModel {
  session: ort.InferenceSession;
  info: ModelInfo;
  runChain: Promise<unknown>;
}

let loaded: LoadedModel | null = null;

function post(message: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

function defaultInputSize(dims: readonly (number | string)[] | undefined): [number, number] | null {
  if (!dims || dims.length !== 4) return null;
  const h = dims[2];
  const w = dims[3];
  return typeof h === 'number' && typeof w === 'number' && h > 0 && w > 0 ? [h, w] : null;
}

async function loadModel(modelPath: string, settings: SessionSettings): Promise<ModelInfo> {
  const path = resolve(modelPath);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new VisionLoopError(
      'MODEL_NOT_FOUND',
      code === 'ENOENT' ? `no model file at ${path}` : `cannot read the model at ${path} (${code})`,
      { cause: error },
    );
  }
  const header = readOnnxModelHeader(bytes, path);
  const metadata = parseModelMetadata(header.metadata);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: settings.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      extra: { session: { intra_op: { allow_spinning: settings.spinning ? '1' : '0' } } },
    });
  } catch (error) {
    throw new VisionLoopError(
      'MODEL_LOAD_FAILED',
      `ONNX Runtime could not load ${path}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  try {
    const inputName = session.inputNames[0];
    const outputName = session.outputNames[0];
    if (inputName === undefined || outputName === undefined) {
      throw new VisionLoopError('MODEL_LAYOUT_UNSUPPORTED', `${path} has no inputs or no outputs`);
    }
    const inputMeta = session.inputMetadata[0];
    const inputDims = inputMeta && 'shape' in inputMeta ? inputMeta.shape : undefined;
    if (inputDims && inputDims.length !== 4) {
      throw new VisionLoopError(
        'MODEL_LAYOUT_UNSUPPORTED',
        `${path}: input '${inputName}' has ${inputDims.length} dimensions; expected [1, 3, H, W]`,
      );
    }
    const [inputHeight, inputWidth] = metadata.imgsz ?? defaultInputSize(inputDims) ?? [640, 640];
    const plane = inputWidth * inputHeight;
    const zeros = new Float32Array(plane * 3).fill(114 / 255);
    let outputDims: readonly number[];
    try {
      const warm = await session.run({
        [inputName]: new ort.Tensor('float32', zeros, [1, 3, inputHeight, inputWidth]),
      });
      const output = warm[outputName];
      if (!output) throw new Error(`no output '${outputName}'`);
      outputDims = output.dims;
      output.dispose();
    } catch (error) {
      throw new VisionLoopError(
        'MODEL_LOAD_FAILED',
        `${path}: warm-up inference at ${inputWidth}×${inputHeight} failed: ${
          error instanceof Error ? error.message : String(error)
        }`,
        { cause: error },
      );
    }
    const { layout, numClasses } = resolveLayout(outputDims, metadata.names.length, {
      end2end: metadata.end2end,
      inputWidth,
      inputHeight,
    });
    const classNames =
      metadata.names.length > 0
        ? metadata.names
        : Array.from({ length: numClasses }, (_, i) => `class${i}`);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const info: ModelInfo = {
      path,
      sha256,
      version: metadata.version ?? `${basename(path, extname(path))}-${sha256.slice(0, 8)}`,
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
  } catch (error) {
    await session.release();
    throw error;
  }
}

async function releaseWhenIdle(model: LoadedModel): Promise<void> {
  await model.runChain.catch(() => undefined);
  await model.session.release();
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
  const run = model.runChain.then(async () => {
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
  model.runChain = run.catch(() => undefined);
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

function fail(requestId: number, error: unknown): void {
  if (isVisionLoopError(error)) {
    post({ type: 'failed', requestId, code: error.code, message: error.message });
  } else {
    post({
      type: 'failed',
      requestId,
      code: 'INTERNAL',
      message: error instanceof Error ? error.message : String(error),
    });
  }
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

parentPort?.on('message', (request: WorkerRequest) => {
  handle(request).catch((error: unknown) => fail(request.requestId, error));
});
