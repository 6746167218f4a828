/**
 * The registry's model inspector on ONNX Runtime: loads candidate bytes in a fresh runtime
 * (its own worker thread: load, warm-up run, output-layout check), runs one input through the
 * whole path, and disposes the worker. What it reports is what the server and the agents will
 * see when they load the same bytes.
 *
 * The task comes from the file: metadata `task: 'classify' | 'segment'` loads it as a stage
 * model (OnnxStageModel, docs/pipeline.md "Stage models"); otherwise it is loaded as a detector,
 * and a file no detector layout fits (MODEL_LAYOUT_UNSUPPORTED) is tried as a stage model
 * before it is refused. The bytes pass through a temporary file (the runtimes load from a path)
 * that is deleted as soon as the runtime has read it. Never keeps a session.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isVisionLoopError, VisionLoopError } from '../shared/errors.js';
import type { Detector } from '../vision/detector.js';
import { parseModelMetadata } from '../vision/metadata.js';
import { readOnnxModelHeader } from '../vision/onnx-model-file.js';
import type { StageModelInfo } from '../vision/stage-model.js';
import type { InspectedModel, ModelInspector } from './model-inspector.js';
import { OnnxDetector } from './onnx-detector.js';
import { OnnxStageModel } from './onnx-stage-model.js';

/** What the probe needs from a stage runtime: load either task, run one crop, release. */
export interface ProbeStageModel {
  load(modelPath: string): Promise<StageModelInfo>;
  runCrops(
    image: { width: number; height: number; data: Uint8Array },
    boxes: ReadonlyArray<{ x1: number; y1: number; x2: number; y2: number }>,
  ): Promise<unknown>;
  dispose(): Promise<void>;
}

export interface OnnxModelProbeOptions {
  /** Where the temporary file goes. Default: the OS temp dir. */
  workDir?: string;
  /** ORT threads for the probe's session. Default 1: a probe must not starve serving. */
  threads?: number;
  /** Injected in tests. */
  createDetector?: () => Detector;
  createStageModel?: () => ProbeStageModel;
}

export class OnnxModelProbe implements ModelInspector {
  private readonly workDir: string;
  private readonly createDetector: () => Detector;
  private readonly createStageModel: () => ProbeStageModel;

  constructor(options: OnnxModelProbeOptions = {}) {
    this.workDir = options.workDir ?? join(tmpdir(), 'visionloop-probe');
    const threads = options.threads ?? 1;
    this.createDetector = options.createDetector ?? (() => new OnnxDetector({ threads }));
    this.createStageModel =
      options.createStageModel ?? (() => new OnnxStageModel(null, { threads }));
  }

  async inspect(bytes: Uint8Array): Promise<InspectedModel> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // MODEL_NOT_ONNX / MODEL_METADATA_INVALID before any runtime starts.
    const task = parseModelMetadata(readOnnxModelHeader(bytes).metadata).task;
    await mkdir(this.workDir, { recursive: true });
    const file = join(this.workDir, `${sha256}-${randomBytes(4).toString('hex')}.onnx`);
    try {
      await writeFile(file, bytes, { mode: 0o600 });
      if (task === 'classify' || task === 'segment') return await this.inspectStage(file);
      try {
        return await this.inspectDetector(file);
      } catch (error) {
        if (task === 'detect' || !isVisionLoopError(error)) throw error;
        if (error.code !== 'MODEL_LAYOUT_UNSUPPORTED') throw error;
        try {
          return await this.inspectStage(file);
        } catch (stageError) {
          if (isVisionLoopError(stageError) && stageError.code === 'MODEL_LAYOUT_UNSUPPORTED') {
            throw new VisionLoopError(
              'MODEL_LAYOUT_UNSUPPORTED',
              `not a detector (${error.message}) nor a classify/segment stage model (${stageError.message})`,
              { cause: stageError },
            );
          }
          throw stageError;
        }
      }
    } finally {
      await rm(file, { force: true });
    }
  }

  private async inspectDetector(file: string): Promise<InspectedModel> {
    const detector = this.createDetector();
    try {
      const info = await detector.load(file);
      const width = info.inputWidth;
      const height = info.inputHeight;
      await detector.detect({ width, height, data: new Uint8Array(width * height * 3).fill(114) });
      return {
        version: info.version,
        sha256: info.sha256,
        task: 'detect',
        layout: info.layout,
        classNames: info.classNames,
        inputWidth: width,
        inputHeight: height,
      };
    } finally {
      await detector.dispose();
    }
  }

  private async inspectStage(file: string): Promise<InspectedModel> {
    const model = this.createStageModel();
    try {
      const info = await model.load(file);
      const width = info.inputWidth;
      const height = info.inputHeight;
      await model.runCrops({ width, height, data: new Uint8Array(width * height * 3).fill(114) }, [
        { x1: 0, y1: 0, x2: width, y2: height },
      ]);
      return {
        version: info.version,
        sha256: info.sha256,
        task: info.task,
        layout: info.layout,
        classNames: info.classNames,
        inputWidth: width,
        inputHeight: height,
      };
    } finally {
      await model.dispose();
    }
  }
}
