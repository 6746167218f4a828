import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildColourClassifierModel,
  buildConstantOutputModel,
  buildDarkMaskModel,
  buildNonOnnxFile,
  buildUnsupportedLayoutModel,
  buildYoloSegConstantModel,
  encodeLayoutTensor,
  ultralyticsMetadata,
} from '../../test/helpers/onnx-fixtures.js';
import { isVisionLoopError } from '../shared/errors.js';
import { OnnxModelProbe } from './model-probe.js';

const probe = new OnnxModelProbe({ workDir: mkdtempSync(join(tmpdir(), 'vl-probe-')) });

async function failure(bytes: Uint8Array): Promise<{ code: string; message: string }> {
  try {
    await probe.inspect(bytes);
  } catch (error) {
    if (isVisionLoopError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected the probe to refuse the model');
}

describe('OnnxModelProbe', () => {
  it('reports a detector as task detect', async () => {
    const { dims, values } = encodeLayoutTensor('yolov8', [], 2, 21);
    const inspected = await probe.inspect(
      buildConstantOutputModel({
        outputDims: dims,
        outputValues: values,
        metadata: ultralyticsMetadata(['scratch', 'crack']),
      }),
    );
    expect(inspected).toMatchObject({
      task: 'detect',
      layout: 'yolov8',
      classNames: ['scratch', 'crack'],
      inputWidth: 32,
    });
  });

  it('reports a classifier (metadata task classify) with its layout and names', async () => {
    const inspected = await probe.inspect(buildColourClassifierModel({ size: 24 }));
    expect(inspected).toMatchObject({
      task: 'classify',
      layout: 'classify',
      classNames: ['red', 'green', 'blue'],
      inputWidth: 24,
      inputHeight: 24,
    });
    expect(inspected.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('falls back to a stage model when no detector layout fits and metadata has no task', async () => {
    const inspected = await probe.inspect(buildDarkMaskModel({ size: 16, metadata: {} }));
    expect(inspected).toMatchObject({
      task: 'segment',
      layout: 'crop-mask',
      classNames: ['defect'],
      inputWidth: 16,
    });
    const seg = await probe.inspect(
      buildYoloSegConstantModel({
        names: ['pit', 'crack'],
        box: { cx: 16, cy: 16, w: 32, h: 32, classId: 1, score: 0.9 },
        defect: { x1: 0, y1: 0, x2: 4, y2: 4 },
      }),
    );
    expect(seg).toMatchObject({
      task: 'segment',
      layout: 'yolo-seg',
      classNames: ['pit', 'crack'],
    });
  });

  it('refuses a model that is neither, naming both attempts', async () => {
    const refused = await failure(buildUnsupportedLayoutModel());
    expect(refused.code).toBe('MODEL_LAYOUT_UNSUPPORTED');
    expect(refused.message).toMatch(/not a detector .* nor a classify\/segment stage model/);
    expect(refused.message).toContain('[1, 2, 3, 4]');
    // A file that says it is a detector is not retried as a stage model.
    const detector = await failure(buildUnsupportedLayoutModel(ultralyticsMetadata(['a'])));
    expect(detector.code).toBe('MODEL_LAYOUT_UNSUPPORTED');
    expect(detector.message).not.toContain('stage model');
    expect((await failure(buildNonOnnxFile())).code).toBe('MODEL_NOT_ONNX');
  });

  it('refuses a classifier whose metadata names do not match its output', async () => {
    const bytes = buildColourClassifierModel({
      metadata: { task: 'classify', imgsz: '[32, 32]', names: "{0: 'a', 1: 'b'}" },
    });
    expect((await failure(bytes)).code).toBe('MODEL_METADATA_INVALID');
  });
});
