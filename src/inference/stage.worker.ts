/**
 * The one module that owns a stage model's ONNX Runtime session (classify or segment on crops,
 * src/vision/stage-model.ts). Runs in a worker thread like inference.worker.ts: it loads and
 * checks a model (ONNX, metadata, output layout from a warm-up run, batch dimension), then
 * turns packed crop tensors `[N, 3, S, S]` into classifications or binary masks — one session
 * run for all crops when the batch dimension is dynamic, crop by crop when it is fixed to 1.
 * Mask geometry (areas, outlines in frame pixels) happens on the caller's side, which knows
 * where each crop came from. Runs on one session are serialized; a replaced session is released
 * only after the runs queued on it have finished. Never touches anything but its model file.
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { VisionLoopError } from '../shared/errors.js';
import type { ModelMetadata } from '../vision/metadata.js';
import type { StageModelInfo, StageTask } from '../vision/stage-model.js';
import {
  detectStageLayout,
  parseClassifications,
  parseCropMasks,
  parseYoloSegMasks,
  type StageLayoutInfo,
} from '../vision/stage-outputs.js';
import type { SessionSettings } from './inference.protocol.js';
import {
  enqueueRun,
  modelIdentity,
  openModel,
  releaseWhenIdle,
  serveRequests,
  staticInputSize,
  warmUp,
} from './ort-session.js';
import type { StageWorkerRequest, StageWorkerResponse } from './stage.protocol.js';

/** Input side when neither metadata `imgsz` nor the input shape says (Ultralytics -cls: 224). */
const DEFAULT_STAGE_INPUT = 224;

interface LoadedStageModel {
  session: ort.InferenceSession;
  info: StageModelInfo;
  inputName: string;
  layout: StageLayoutInfo;
  runChain: Promise<unknown>;
}

const models = new Map<number, LoadedStageModel>();
let nextGeneration = 1;

function post(message: StageWorkerResponse, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

async function loadModel(
  modelPath: string,
  settings: SessionSettings,
  expectedTask: StageTask | null,
): Promise<{ generation: number; info: StageModelInfo }> {
  const checkTask = (metadata: ModelMetadata, path: string): void => {
    if (expectedTask !== null && metadata.task !== null && metadata.task !== expectedTask) {
      throw new VisionLoopError(
        'MODEL_TASK_MISMATCH',
        `${path} is a '${metadata.task}' model (metadata task); this stage runs '${expectedTask}' models`,
      );
    }
  };
  return openModel(modelPath, settings, checkTask, async (opened) => {
    const { path, bytes, header, metadata, session, inputDims } = opened;
    const inputName = session.inputNames[0];
    if (inputName === undefined || session.outputNames.length === 0) {
      throw new VisionLoopError('MODEL_LAYOUT_UNSUPPORTED', `${path} has no inputs or no outputs`);
    }
    if (inputDims && inputDims.length !== 4) {
      throw new VisionLoopError(
        'MODEL_LAYOUT_UNSUPPORTED',
        `${path}: input '${inputName}' has ${inputDims.length} dimensions; expected [N, 3, S, S]`,
      );
    }
    const batchDim = inputDims?.[0];
    const batched = typeof batchDim !== 'number' || batchDim <= 0;
    if (!batched && batchDim !== 1) {
      throw new VisionLoopError(
        'MODEL_LAYOUT_UNSUPPORTED',
        `${path}: input batch is fixed to ${batchDim}; a stage model takes a dynamic batch or 1`,
      );
    }
    const [inputHeight, inputWidth] = metadata.imgsz ??
      staticInputSize(inputDims) ?? [DEFAULT_STAGE_INPUT, DEFAULT_STAGE_INPUT];
    const shapes = await warmUp(session, path, inputName, inputHeight, inputWidth, (warm) =>
      session.outputNames.map((name) => {
        const output = warm[name];
        if (!output) throw new Error(`no output '${name}'`);
        const dims = [...output.dims];
        output.dispose();
        return { name, dims };
      }),
    );
    const layout = detectStageLayout(shapes, metadata.task);
    if (expectedTask !== null && layout.task !== expectedTask) {
      throw new VisionLoopError(
        'MODEL_TASK_MISMATCH',
        `${path} has a '${layout.layout}' layout (${layout.task}); this stage runs '${expectedTask}' models`,
      );
    }
    if (layout.layout !== 'crop-mask' && metadata.names.length > 0) {
      if (metadata.names.length !== layout.numClasses) {
        throw new VisionLoopError(
          'MODEL_METADATA_INVALID',
          `${path}: metadata names ${metadata.names.length} classes; the output has ${layout.numClasses}`,
        );
      }
    }
    const classNames =
      metadata.names.length > 0
        ? metadata.names
        : layout.layout === 'crop-mask'
          ? ['defect']
          : Array.from({ length: layout.numClasses }, (_, i) => `class${i}`);
    const info: StageModelInfo = {
      path,
      ...modelIdentity(path, bytes, metadata.version),
      task: layout.task,
      layout: layout.layout,
      inputWidth,
      inputHeight,
      classNames,
      batched,
      metadata: header.metadata,
    };
    const generation = nextGeneration++;
    models.set(generation, { session, info, inputName, layout, runChain: Promise.resolve() });
    return { generation, info };
  });
}

/** Stacks per-crop outputs (each batch 1) into one batch of `count`. */
function stack(parts: ort.Tensor[], count: number): { data: Float32Array; dims: number[] } {
  const first = parts[0]!;
  const per = first.data.length;
  const data = new Float32Array(per * count);
  parts.forEach((part, i) => data.set(part.data as Float32Array, i * per));
  return { data, dims: [count, ...first.dims.slice(1)] };
}

type RunAnswer = Pick<
  Extract<StageWorkerResponse, { type: 'ran' }>,
  'classifications' | 'masks' | 'runMs'
>;

function run(generation: number, tensor: Float32Array, count: number): Promise<RunAnswer> {
  const model = models.get(generation);
  if (!model) {
    return Promise.reject(
      new VisionLoopError('MODEL_NOT_FOUND', `stage model generation ${generation} is not loaded`),
    );
  }
  const { info, session, inputName, layout } = model;
  const per = 3 * info.inputWidth * info.inputHeight;
  if (count < 1 || tensor.length !== per * count) {
    return Promise.reject(
      new VisionLoopError(
        'IMAGE_INVALID',
        `crop tensor holds ${tensor.length} floats for ${count} crops; ${info.version} takes ${per} per crop (3×${info.inputHeight}×${info.inputWidth})`,
      ),
    );
  }
  const shape = (n: number): number[] => [n, 3, info.inputHeight, info.inputWidth];
  const result = enqueueRun(model, async () => {
    const start = performance.now();
    const outputs = new Map<string, { data: Float32Array; dims: number[] }>();
    if (info.batched) {
      const answer = await session.run({
        [inputName]: new ort.Tensor('float32', tensor, shape(count)),
      });
      for (const name of session.outputNames) {
        const output = answer[name]!;
        outputs.set(name, { data: output.data as Float32Array, dims: [...output.dims] });
      }
    } else {
      const perOutput = new Map<string, ort.Tensor[]>(session.outputNames.map((n) => [n, []]));
      for (let i = 0; i < count; i++) {
        const answer = await session.run({
          [inputName]: new ort.Tensor('float32', tensor.slice(i * per, (i + 1) * per), shape(1)),
        });
        for (const name of session.outputNames) perOutput.get(name)!.push(answer[name]!);
      }
      for (const [name, parts] of perOutput) outputs.set(name, stack(parts, count));
    }
    return { outputs, runMs: performance.now() - start };
  });
  return result.then(({ outputs, runMs }) => {
    const prediction = outputs.get(layout.predictionOutput)!;
    switch (layout.layout) {
      case 'classify':
        return {
          classifications: parseClassifications(prediction.data, prediction.dims, info.classNames),
          runMs,
        };
      case 'crop-mask':
        return { masks: parseCropMasks(prediction.data, prediction.dims), runMs };
      case 'yolo-seg':
        return {
          masks: parseYoloSegMasks(prediction, outputs.get(layout.protoOutput ?? '')!, {
            inputWidth: info.inputWidth,
            inputHeight: info.inputHeight,
          }),
          runMs,
        };
    }
  });
}

async function retire(below: number): Promise<void> {
  const old = [...models.entries()].filter(([generation]) => generation < below);
  for (const [generation] of old) models.delete(generation);
  await Promise.all(old.map(([, model]) => releaseWhenIdle(model)));
}

async function handle(request: StageWorkerRequest): Promise<void> {
  switch (request.type) {
    case 'load': {
      const { generation, info } = await loadModel(
        request.modelPath,
        request.settings,
        request.expectedTask,
      );
      post({ type: 'loaded', requestId: request.requestId, generation, model: info });
      return;
    }
    case 'run': {
      const { tensor } = request;
      const answer = await run(request.generation, tensor, request.count);
      const transfer = [tensor.buffer as ArrayBuffer];
      for (const mask of answer.masks ?? []) transfer.push(mask.data.buffer as ArrayBuffer);
      post({ type: 'ran', requestId: request.requestId, ...answer, tensor }, transfer);
      return;
    }
    case 'retire': {
      await retire(request.below);
      post({ type: 'retired', requestId: request.requestId });
      return;
    }
    case 'dispose': {
      await retire(Infinity);
      post({ type: 'disposed', requestId: request.requestId });
      return;
    }
  }
}

serveRequests(handle);
