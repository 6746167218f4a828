import { describe, expect, it } from 'vitest';
import {
  buildConstantOutputModel,
  readModelMetadata,
  ultralyticsMetadata,
} from '../../test/helpers/onnx-fixtures.js';
import { readOnnxModelHeader } from './onnx-model-file.js';
import { setOnnxMetadata } from './onnx-model-stamp.js';

function model(metadata: Record<string, string>): Uint8Array {
  return buildConstantOutputModel({
    outputDims: [1, 6, 2],
    outputValues: new Array(12).fill(0),
    metadata,
  });
}

describe('setOnnxMetadata', () => {
  it('adds a key and keeps every other entry and the graph', () => {
    const source = model(ultralyticsMetadata(['scratch', 'crack']));
    const stamped = setOnnxMetadata(source, { visionloop_version: 'v7' });
    const props = readModelMetadata(stamped);
    expect(props.visionloop_version).toBe('v7');
    expect(props.names).toBe("{0: 'scratch', 1: 'crack'}");
    expect(Object.keys(props)).toHaveLength(Object.keys(readModelMetadata(source)).length + 1);
    const header = readOnnxModelHeader(stamped);
    expect(header.producerName).toBe('visionloop-test-fixtures');
    expect(header.opsetVersion).toBe(13);
    expect(stamped.length).toBeGreaterThan(source.length);
  });

  it('replaces an existing value, leaving exactly one entry for the key', () => {
    const source = model({ visionloop_version: 'old', names: "{0: 'a'}" });
    const stamped = setOnnxMetadata(source, { visionloop_version: 'new-1' });
    expect(readModelMetadata(stamped)).toEqual({ names: "{0: 'a'}", visionloop_version: 'new-1' });
    const text = new TextDecoder().decode(stamped);
    expect(text.split('visionloop_version').length - 1).toBe(1);
  });

  it('returns the same bytes when the value is already set', () => {
    const source = model({ visionloop_version: 'seed-v1' });
    expect(setOnnxMetadata(source, { visionloop_version: 'seed-v1' })).toBe(source);
  });

  it('writes non-ASCII values and long values (multi-byte varints) correctly', () => {
    const long = 'ä'.repeat(300);
    const stamped = setOnnxMetadata(model({}), { visionloop_version: 'v-é', note: long });
    expect(readModelMetadata(stamped)).toEqual({ visionloop_version: 'v-é', note: long });
  });

  it('refuses bytes that are not protobuf', () => {
    expect(() => setOnnxMetadata(new Uint8Array([0x0a, 0xff]), { a: 'b' })).toThrow(
      expect.objectContaining({ code: 'MODEL_NOT_ONNX' }),
    );
  });
});
