import { describe, expect, it } from 'vitest';
import {
  buildConstantOutputModel,
  buildNonOnnxFile,
  buildTruncatedModel,
} from '../../test/helpers/onnx-fixtures.js';
import { readOnnxModelHeader } from './onnx-model-file.js';

describe('readOnnxModelHeader', () => {
  it('reads IR version, opset and metadata_props of a model', () => {
    const bytes = buildConstantOutputModel({
      outputDims: [1, 2],
      outputValues: [1, 2],
      metadata: { names: "{0: 'scratch', 1: \"it's\"}", imgsz: '[320, 320]', ключ: 'значение' },
    });
    const header = readOnnxModelHeader(bytes);
    expect(header.irVersion).toBe(8);
    expect(header.opsetVersion).toBe(13);
    expect(header.metadata).toEqual({
      names: "{0: 'scratch', 1: \"it's\"}",
      imgsz: '[320, 320]',
      ключ: 'значение',
    });
  });

  it('rejects bytes that are not an ONNX model, naming the file', () => {
    expect(() => readOnnxModelHeader(buildNonOnnxFile(), 'notes.onnx')).toThrow(
      expect.objectContaining({
        code: 'MODEL_NOT_ONNX',
        message: expect.stringContaining('notes.onnx') as unknown,
      }),
    );
    expect(() => readOnnxModelHeader(buildTruncatedModel())).toThrow(
      expect.objectContaining({ code: 'MODEL_NOT_ONNX' }),
    );
    expect(() => readOnnxModelHeader(new Uint8Array(0))).toThrow(
      expect.objectContaining({ code: 'MODEL_NOT_ONNX' }),
    );
  });
});
