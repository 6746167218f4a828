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

// ---------------------------------------------------------------------------------------------
// Stage models (src/vision/stage-model.ts): a computing classifier and mask model whose answers
// depend on the crop's pixels, and a constant YOLO-seg export.

const INT = onnx.AttributeProto.AttributeType.INT;
const INTS = onnx.AttributeProto.AttributeType.INTS;

/** A value info whose dims are numbers (fixed) or strings (symbolic, e.g. a dynamic batch). */
function shapedValueInfo(name: string, dims: Array<number | string>): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

function encodeModel(
  graph: OnnxTypes.IGraphProto,
  metadata: Record<string, string> | undefined,
): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'visionloop-test-fixtures',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
    metadataProps: Object.entries(metadata ?? {}).map(([key, value]) => ({ key, value })),
  }).finish();
}

/** Metadata as Ultralytics writes it for a `-cls` or `-seg` export. */
export function stageMetadata(
  task: 'classify' | 'segment',
  names: readonly string[],
  size: number,
): Record<string, string> {
  return {
    author: 'Ultralytics',
    task,
    imgsz: `[${size}, ${size}]`,
    stride: task === 'classify' ? '1' : '32',
    names: `{${names.map((n, i) => `${i}: ${pyRepr(n)}`).join(', ')}}`,
  };
}

export interface ColourClassifierOptions {
  /** Input side S; default 32. */
  size?: number;
  /** true: input `[batch, 3, S, S]` with a symbolic batch; false: fixed `[1, 3, S, S]`. */
  dynamicBatch?: boolean;
  /**
   * Row k: the weights of class k on the crop's mean R, G, B (0..1). Default: 3 classes
   * `red`, `green`, `blue`, each scoring its own channel × 10.
   */
  weights?: number[][];
  names?: string[];
  /** Emit probabilities (Softmax in the graph) instead of logits. Default true. */
  softmax?: boolean;
  /** Metadata; default `stageMetadata('classify', names, S)`. */
  metadata?: Record<string, string>;
}

/**
 * A real classifier: mean colour of the crop (ReduceMean over H, W) → MatMul with `weights`
 * → (Softmax) → output0 `[N, nc]`. A red crop is class `red`, a blue crop `blue`.
 */
export function buildColourClassifierModel(options: ColourClassifierOptions = {}): Uint8Array {
  const size = options.size ?? 32;
  const weights = options.weights ?? [
    [10, 0, 0],
    [0, 10, 0],
    [0, 0, 10],
  ];
  const names = options.names ?? ['red', 'green', 'blue'];
  const nc = weights.length;
  const batch: number | string = options.dynamicBatch === false ? 1 : 'batch';
  // MatMul weights are [3, nc]: column k is class k's weights.
  const matrix = new Float32Array(3 * nc);
  weights.forEach((row, k) => row.forEach((w, c) => (matrix[c * nc + k] = w)));
  const softmax = options.softmax ?? true;
  return encodeModel(
    {
      name: 'colour_classifier',
      input: [shapedValueInfo('images', [batch, 3, size, size])],
      output: [shapedValueInfo('output0', [batch, nc])],
      initializer: [floatTensor('class_weights', [3, nc], matrix)],
      node: [
        {
          name: 'mean_colour',
          opType: 'ReduceMean',
          input: ['images'],
          output: ['mean_rgb'],
          attribute: [
            { name: 'axes', type: INTS, ints: [2, 3] },
            { name: 'keepdims', type: INT, i: 0 },
          ],
        },
        {
          name: 'score',
          opType: 'MatMul',
          input: ['mean_rgb', 'class_weights'],
          output: [softmax ? 'logits' : 'output0'],
        },
        ...(softmax
          ? [
              {
                name: 'probabilities',
                opType: 'Softmax',
                input: ['logits'],
                output: ['output0'],
                attribute: [{ name: 'axis', type: INT, i: 1 }],
              },
            ]
          : []),
      ],
    },
    options.metadata ?? stageMetadata('classify', names, size),
  );
}

export interface DarkMaskModelOptions {
  /** Input side S (the mask is S×S too); default 32. */
  size?: number;
  dynamicBatch?: boolean;
  /** Mean RGB (0..1) below which a pixel is defect; default 0.3. */
  threshold?: number;
  /** Emit probabilities (Sigmoid in the graph) instead of logits. Default true. */
  sigmoid?: boolean;
  metadata?: Record<string, string>;
}

/**
 * A real per-crop mask model: defect probability = sigmoid((threshold − mean RGB) × 50) per
 * pixel, output `mask` `[N, 1, S, S]`. Dark pixels are defect.
 */
export function buildDarkMaskModel(options: DarkMaskModelOptions = {}): Uint8Array {
  const size = options.size ?? 32;
  const batch: number | string = options.dynamicBatch === false ? 1 : 'batch';
  const sigmoid = options.sigmoid ?? true;
  return encodeModel(
    {
      name: 'dark_mask',
      input: [shapedValueInfo('images', [batch, 3, size, size])],
      output: [shapedValueInfo('mask', [batch, 1, size, size])],
      initializer: [
        floatTensor('threshold', [], new Float32Array([options.threshold ?? 0.3])),
        floatTensor('gain', [], new Float32Array([50])),
      ],
      node: [
        {
          name: 'brightness',
          opType: 'ReduceMean',
          input: ['images'],
          output: ['mean'],
          attribute: [
            { name: 'axes', type: INTS, ints: [1] },
            { name: 'keepdims', type: INT, i: 1 },
          ],
        },
        { name: 'darkness', opType: 'Sub', input: ['threshold', 'mean'], output: ['below'] },
        {
          name: 'sharpen',
          opType: 'Mul',
          input: ['below', 'gain'],
          output: [sigmoid ? 'logits' : 'mask'],
        },
        ...(sigmoid
          ? [{ name: 'probability', opType: 'Sigmoid', input: ['logits'], output: ['mask'] }]
          : []),
      ],
    },
    options.metadata ?? stageMetadata('segment', ['defect'], size),
  );
}

export interface YoloSegFixtureOptions {
  /** Input side S; prototypes are S/4 × S/4. Default 32. */
  size?: number;
  names?: string[];
  /** Anchors K; default 8. */
  anchors?: number;
  /** The one scored box, in input pixels (cx, cy, w, h), its class and score. */
  box: { cx: number; cy: number; w: number; h: number; classId: number; score: number };
  /** Prototype pixels (x, y ranges, prototype resolution, end exclusive) that are defect. */
  defect: { x1: number; y1: number; x2: number; y2: number };
}

/**
 * A constant YOLO-seg export: output0 `[1, 4+nc+32, K]` with one scored box at anchor 0 whose
 * first mask coefficient is 1, output1 `[1, 32, S/4, S/4]` whose prototype 0 is +8 on `defect`
 * and −8 elsewhere. Its mask is `defect` cut to the box, whatever the input.
 */
export function buildYoloSegConstantModel(options: YoloSegFixtureOptions): Uint8Array {
  const size = options.size ?? 32;
  const names = options.names ?? ['defect'];
  const nc = names.length;
  const anchors = options.anchors ?? 8;
  const channels = 4 + nc + 32;
  const prediction = new Float32Array(channels * anchors);
  const { box } = options;
  [box.cx, box.cy, box.w, box.h].forEach((v, c) => (prediction[c * anchors] = v));
  prediction[(4 + box.classId) * anchors] = box.score;
  prediction[(4 + nc) * anchors] = 1;
  const side = size / 4;
  const protos = new Float32Array(32 * side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const inside =
        x >= options.defect.x1 &&
        x < options.defect.x2 &&
        y >= options.defect.y1 &&
        y < options.defect.y2;
      protos[y * side + x] = inside ? 8 : -8;
    }
  }
  const sumThenZero = (output: string, constant: string): OnnxTypes.INodeProto[] => [
    { name: `zero_${output}`, opType: 'Add', input: [constant, 'zero'], output: [output] },
  ];
  return encodeModel(
    {
      name: 'yolo_seg_constant',
      input: [shapedValueInfo('images', [1, 3, size, size])],
      output: [
        shapedValueInfo('output0', [1, channels, anchors]),
        shapedValueInfo('output1', [1, 32, side, side]),
      ],
      initializer: [
        floatTensor('prediction', [1, channels, anchors], prediction),
        floatTensor('protos', [1, 32, side, side], protos),
        floatTensor('fixture_zero', [], new Float32Array([0])),
      ],
      node: [
        {
          name: 'sum_input',
          opType: 'ReduceSum',
          input: ['images'],
          output: ['input_sum'],
          attribute: [{ name: 'keepdims', type: INT, i: 0 }],
        },
        { name: 'zero_it', opType: 'Mul', input: ['input_sum', 'fixture_zero'], output: ['zero'] },
        ...sumThenZero('output0', 'prediction'),
        ...sumThenZero('output1', 'protos'),
      ],
    },
    stageMetadata('segment', names, size),
  );
}
