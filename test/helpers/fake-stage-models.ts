/**
 * Deterministic CropClassifier / CropSegmenter stand-ins for the agent's unit tests (the ONNX
 * ones are tested in src/inference/ and end to end). The classifier answers from the crop's
 * width; the segmenter measures a quarter of the crop. Test-only: never imported by src/.
 */
import type { Box, CropClassification, CropSegmentation } from '../../src/shared/domain.js';
import type { RgbImage } from '../../src/vision/image.js';
import type {
  CropClassifier,
  CropSegmenter,
  StageCropsTiming,
  StageModelInfo,
} from '../../src/vision/stage-model.js';

export function stageInfo(task: 'classify' | 'segment', version: string): StageModelInfo {
  return {
    path: `/models/${version}.onnx`,
    sha256: version.padEnd(64, '0').slice(0, 64),
    version,
    task,
    layout: task === 'classify' ? 'classify' : 'crop-mask',
    inputWidth: 64,
    inputHeight: 64,
    classNames: task === 'classify' ? ['not_defect', 'minor', 'major'] : ['defect'],
    batched: true,
    metadata: {},
  };
}

const TIMING: StageCropsTiming = { runMs: 3, prepareMs: 1 };

/** Class by crop width: < 12 px `not_defect` (0), < 30 px `minor` (1), else `major` (2). */
export class WidthClassifier implements CropClassifier {
  info: StageModelInfo;
  calls: Box[][] = [];
  running = 0;
  maxRunning = 0;
  disposed = false;

  constructor(
    version = 'cls-v1',
    private readonly delayMs = 0,
  ) {
    this.info = stageInfo('classify', version);
  }

  load(modelPath: string): Promise<StageModelInfo> {
    this.info = { ...this.info, path: modelPath };
    return Promise.resolve(this.info);
  }

  dispose(): Promise<void> {
    this.disposed = true;
    return Promise.resolve();
  }

  async classify(
    _image: RgbImage,
    boxes: readonly Box[],
  ): Promise<{ results: CropClassification[]; timing: StageCropsTiming }> {
    this.calls.push([...boxes]);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    this.running--;
    const results = boxes.map((box) => {
      const width = box.x2 - box.x1;
      const classId = width < 12 ? 0 : width < 30 ? 1 : 2;
      return { classId, className: this.info.classNames[classId]!, confidence: 0.9 };
    });
    return { results, timing: TIMING };
  }
}

/** Area: a quarter of the crop, rounded down; the polygon its top-left quarter. */
export class QuarterSegmenter implements CropSegmenter {
  info: StageModelInfo;
  calls: Box[][] = [];
  disposed = false;

  constructor(version = 'seg-v1') {
    this.info = stageInfo('segment', version);
  }

  load(modelPath: string): Promise<StageModelInfo> {
    this.info = { ...this.info, path: modelPath };
    return Promise.resolve(this.info);
  }

  dispose(): Promise<void> {
    this.disposed = true;
    return Promise.resolve();
  }

  segment(
    _image: RgbImage,
    boxes: readonly Box[],
    mmPerPixel: number | null,
  ): Promise<{ results: CropSegmentation[]; timing: StageCropsTiming }> {
    this.calls.push([...boxes]);
    const results = boxes.map((box) => {
      const areaPx = Math.floor(((box.x2 - box.x1) * (box.y2 - box.y1)) / 4);
      const mx = (box.x1 + box.x2) / 2;
      const my = (box.y1 + box.y2) / 2;
      return {
        areaPx,
        areaMm2: mmPerPixel === null ? null : areaPx * mmPerPixel * mmPerPixel,
        polygon: [box.x1, box.y1, mx, box.y1, mx, my, box.x1, my],
      };
    });
    return Promise.resolve({ results, timing: { runMs: 5, prepareMs: 1 } });
  }
}
