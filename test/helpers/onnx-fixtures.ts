/**
 * Tiny ONNX models for tests: each takes `images` [1, 3, H, W] and returns a fixed tensor, so a
 * test controls exactly what the "detector" outputs in any of the four layouts of DESIGN.md §4.
 * Built with the `onnx-proto` protobuf definitions (no Python, no files); the graph uses its
 * input (ReduceSum × 0 + constant) so runtimes do not prune it.
 *
 * Test-only: never imported by src/.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { OutputLayout } from '../../src/vision/detector.js';

const { onnx } = onnxProto;

const FLOAT = onnx.TensorProto.DataType.FLOAT;

export interface ConstantOutputModelOptions {
  /** Input shape; default [1, 3, 32, 32]. */
  inputShape?: number[];
  outputDims: number[];
  /** Row-major values; their count must be the product of `outputDims`. */
  outputValues: Float32Array | number[];
  /** `metadata_props`, written as given (use Python-literal strings as Ultralytics does). */
  metadata?: Record<string, string>;
  inputName?: string;
  outputName?: string;
  /** Default 13. */
  opset?: number;
}

function floatTensor(name: string, dims: number[], values: Float32Array): OnnxTypes.ITensorProto {
  // raw_data is little-endian float32, byte-exact (float_data would round-trip through numbers).
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return { name, dims, dataType: FLOAT, rawData: bytes };
}

function tensorValueInfo(name: string, dims: number[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } },
    },
  };
}

/**
 * An ONNX model (IR version 8, opset 13) whose single output `outputName` is always
 * `outputValues` with shape `outputDims`, whatever the input.
 */
export function buildConstantOutputModel(options: ConstantOutputModelOptions): Uint8Array {
  const inputShape = options.inputShape ?? [1, 3, 32, 32];
  const inputName = options.inputName ?? 'images';
  const outputName = options.outputName ?? 'output0';
  const values = Float32Array.from(options.outputValues);
  const size = options.outputDims.reduce((a, b) => a * b, 1);
  if (values.length !== size) {
    throw new RangeError(
      `${values.length} values for output dims [${options.outputDims.join(', ')}] (${size})`,
    );
  }
  const model: OnnxTypes.IModelProto = {
    irVersion: 8,
    producerName: 'visionloop-test-fixtures',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: options.opset ?? 13 }],
    graph: {
      name: 'constant_output',
      input: [tensorValueInfo(inputName, inputShape)],
      output: [tensorValueInfo(outputName, options.outputDims)],
      initializer: [
        floatTensor('fixture_values', options.outputDims, values),
        floatTensor('fixture_zero', [], new Float32Array([0])),
      ],
      node: [
        {
          name: 'sum_input',
          opType: 'ReduceSum',
          input: [inputName],
          output: ['input_sum'],
          attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
        },
        { name: 'zero_it', opType: 'Mul', input: ['input_sum', 'fixture_zero'], output: ['zero'] },
        { name: 'emit', opType: 'Add', input: ['fixture_values', 'zero'], output: [outputName] },
      ],
    },
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(model).finish();
}

/** The `metadata_props` of an encoded model, decoded with onnx-proto (for cross-checks). */
export function readModelMetadata(bytes: Uint8Array): Record<string, string> {
  const model = onnx.ModelProto.decode(bytes);
  const props: Record<string, string> = {};
  for (const p of model.metadataProps) props[p.key ?? ''] = p.value ?? '';
  return props;
}

/** A valid model whose output is 4-D [1, 2, 3, 4]: no detector layout matches it. */
export function buildUnsupportedLayoutModel(metadata?: Record<string, string>): Uint8Array {
  return buildConstantOutputModel({
    outputDims: [1, 2, 3, 4],
    outputValues: new Float32Array(24),
    ...(metadata ? { metadata } : {}),
  });
}

/** Bytes that are not an ONNX model (a PNG signature and some text). */
export function buildNonOnnxFile(): Uint8Array {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  const text = new TextEncoder().encode('this is a picture, not an ONNX model\n');
  return Uint8Array.from([...signature, ...text]);
}

/** The first half of a valid model: starts like ONNX, fails to parse. */
export function buildTruncatedModel(): Uint8Array {
  const full = buildConstantOutputModel({
    outputDims: [1, 6, 2],
    outputValues: new Float32Array(12),
  });
  return full.slice(0, Math.floor(full.length / 2));
}

/** One object for `encodeLayoutTensor`, in network-input pixels. */
export interface FixtureObject {
  /** Centre and size (end-to-end rows are written as corners computed from these). */
  cx: number;
  cy: number;
  w: number;
  h: number;
  /** All class scores; their best is the object's class. */
  classScores: number[];
  /** YOLOv5 objectness (default 1); the other layouts fold it into the class scores. */
  objectness?: number;
  /** Anchor (row or column) to write the object at; default its position in the list. */
  anchor?: number;
}

/**
 * The output tensor a detector in `layout` would produce for `objects` with `rows` anchors
 * (or end-to-end slots). Anchors not given an object are all zeros (score 0).
 * YOLOv8 layouts write objectness × class scores; end-to-end writes the best class and
 * objectness × its score. Use values exact in float32 (multiples of 1/8, say) for exact checks.
 */
export function encodeLayoutTensor(
  layout: OutputLayout,
  objects: readonly FixtureObject[],
  numClasses: number,
  rows: number,
): { dims: number[]; values: Float32Array } {
  const channels = layout === 'end2end' ? 6 : layout === 'yolov5' ? 5 + numClasses : 4 + numClasses;
  const dims = layout === 'yolov8' ? [1, channels, rows] : [1, rows, channels];
  const values = new Float32Array(channels * rows);
  // set(anchor, channel, value) in the layout's memory order.
  const set = (anchor: number, channel: number, value: number): void => {
    if (layout === 'yolov8') values[channel * rows + anchor] = value;
    else values[anchor * channels + channel] = value;
  };
  objects.forEach((o, index) => {
    const anchor = o.anchor ?? index;
    if (anchor >= rows) throw new RangeError(`anchor ${anchor} ≥ rows ${rows}`);
    if (o.classScores.length !== numClasses) {
      throw new RangeError(
        `object ${index} has ${o.classScores.length} class scores, expected ${numClasses}`,
      );
    }
    const objectness = o.objectness ?? 1;
    if (layout === 'end2end') {
      let best = 0;
      o.classScores.forEach((s, k) => {
        if (s > o.classScores[best]!) best = k;
      });
      [o.cx - o.w / 2, o.cy - o.h / 2, o.cx + o.w / 2, o.cy + o.h / 2].forEach((v, c) =>
        set(anchor, c, v),
      );
      set(anchor, 4, objectness * o.classScores[best]!);
      set(anchor, 5, best);
      return;
    }
    [o.cx, o.cy, o.w, o.h].forEach((v, c) => set(anchor, c, v));
    if (layout === 'yolov5') {
      set(anchor, 4, objectness);
      o.classScores.forEach((s, k) => set(anchor, 5 + k, s));
    } else {
      o.classScores.forEach((s, k) => set(anchor, 4 + k, objectness * s));
    }
  });
  return { dims, values };
}

/** A realistic metadata_props map as Ultralytics 8.3 writes it for a detector. */
export function ultralyticsMetadata(
  names: readonly string[],
  options: { imgsz?: [number, number]; end2end?: boolean; nms?: boolean } = {},
): Record<string, string> {
  const [h, w] = options.imgsz ?? [32, 32];
  const pyNames = `{${names.map((n, i) => `${i}: ${pyRepr(n)}`).join(', ')}}`;
  return {
    description: 'Ultralytics YOLO11n model trained on data.yaml',
    author: 'Ultralytics',
    date: '2025-03-14T09:26:53.589312',
    version: '8.3.91',
    license: 'AGPL-3.0 License (https://ultralytics.com/license)',
    docs: 'https://docs.ultralytics.com',
    stride: '32',
    task: 'detect',
    batch: '1',
    imgsz: `[${h}, ${w}]`,
    names: pyNames,
    args: `{'batch': 1, 'fraction': 1.0, 'half': False, 'int8': False, 'dynamic': False, 'simplify': True, 'opset': None, 'nms': ${options.nms === true ? 'True' : 'False'}}`,
    channels: '3',
    end2end: options.end2end === true ? 'True' : 'False',
  };
}

/** Python's repr of a str (single quotes unless the text has ' and no "). */
export function pyRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch < ' ' || ch === '\x7f')
      out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}
