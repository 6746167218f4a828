/**
 * Model metadata as Ultralytics writes it into ONNX `metadata_props`: every value is Python's
 * `str(v)`, so `names` is a dict literal such as `{0: 'scratch', 1: "it's"}`, `imgsz` a list
 * `[320, 320]`, `stride` an int, `end2end` `True`/`False`, `args` a dict.
 *
 * The values come from a file anyone can upload, so they are parsed by python-literal.ts (a
 * small recursive-descent parser with limits on length and nesting), never `eval`.
 *
 * Pure: no I/O, no Node-only imports.
 */
import { VisionLoopError } from '../shared/errors.js';
import {
  LOGIT_BIAS_METADATA_KEY,
  TEMPERATURE_METADATA_KEY,
  type ScoreCalibration,
} from './calibration.js';
import { parsePythonLiteral, pyDictGet, type PyValue } from './python-literal.js';

/** What the runtime needs from a model's metadata. */
export interface ModelMetadata {
  /** Class names in class-id order; empty when the metadata has none. */
  names: string[];
  /** Network input size [height, width] (Ultralytics order), or null when absent. */
  imgsz: [number, number] | null;
  /** The largest stride of the head, or null when absent. */
  stride: number | null;
  /** 'detect', 'segment', … as written, or null. */
  task: string | null;
  /** The output is already suppressed: `end2end: True`, or exported with `args.nms: True`. */
  end2end: boolean;
  /** `visionloop_version` (set by the registry), or null. */
  version: string | null;
  /**
   * Score calibration from `visionloop_temperature` / `visionloop_logit_bias` (either may be
   * absent: temperature 1, bias 0), or null when the model has neither (its scores are used raw).
   */
  calibration: ScoreCalibration | null;
}

function invalid(key: string, reason: string, cause?: unknown): VisionLoopError {
  return new VisionLoopError(
    'MODEL_METADATA_INVALID',
    `model metadata '${key}' ${reason}`,
    cause === undefined ? undefined : { cause },
  );
}

function parseProp(key: string, text: string): PyValue {
  try {
    return parsePythonLiteral(text.trim());
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalid(key, `is not a valid Python literal: ${reason}`, error);
  }
}

function classIndex(key: PyValue): number | null {
  if (typeof key === 'number' && Number.isInteger(key) && key >= 0) return key;
  // Some exporters write JSON-style string keys: {"0": "face"}.
  if (typeof key === 'string' && /^(0|[1-9]\d{0,8})$/.test(key)) return Number(key);
  return null;
}

function parseNames(text: string): string[] {
  const value = parseProp('names', text);
  if (value !== null && typeof value === 'object' && value.kind !== 'dict') {
    return value.items.map((item, i) => {
      if (typeof item !== 'string') throw invalid('names', `item ${i} is not a string`);
      return item;
    });
  }
  if (value === null || typeof value !== 'object') {
    throw invalid('names', 'must be a dict {0: name, …} or a list of names');
  }
  const names: string[] = [];
  for (const [key, name] of value.entries) {
    const index = classIndex(key);
    if (index === null) {
      throw invalid('names', `has key ${JSON.stringify(key)}, not a class index (0, 1, …)`);
    }
    if (typeof name !== 'string') throw invalid('names', `class ${index} is not named by a string`);
    if (index >= value.entries.length || names[index] !== undefined) {
      throw invalid('names', `class ids must be 0..${value.entries.length - 1} without gaps`);
    }
    names[index] = name;
  }
  return names;
}

function positiveInteger(key: string, value: PyValue): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw invalid(key, `must hold positive integers, got ${JSON.stringify(value)}`);
  }
  return value;
}

function parseImgsz(text: string): [number, number] {
  const value = parseProp('imgsz', text);
  if (typeof value === 'number') {
    const size = positiveInteger('imgsz', value);
    return [size, size];
  }
  if (value !== null && typeof value === 'object' && value.kind !== 'dict') {
    const sizes = value.items.map((item) => positiveInteger('imgsz', item));
    if (sizes.length === 1) return [sizes[0]!, sizes[0]!];
    if (sizes.length === 2) return [sizes[0]!, sizes[1]!];
  }
  throw invalid('imgsz', 'must be a size (640) or [height, width]');
}

function parseStride(text: string): number {
  const value = parseProp('stride', text);
  if (typeof value === 'number') return positiveInteger('stride', value);
  if (value !== null && typeof value === 'object' && value.kind !== 'dict' && value.items.length) {
    // Ultralytics writes int(max(model.stride)); a list of strides is reduced the same way.
    return Math.max(...value.items.map((item) => positiveInteger('stride', item)));
  }
  throw invalid('stride', 'must be an integer (32) or a list of strides');
}

function parseBoolean(key: string, text: string): boolean {
  const trimmed = text.trim();
  if (trimmed === 'True' || trimmed === 'true') return true;
  if (trimmed === 'False' || trimmed === 'false') return false;
  throw invalid(key, `must be True or False, got ${JSON.stringify(trimmed.slice(0, 40))}`);
}

/** `args.nms`, or false when `args` is absent or not a dict literal (it is informational). */
function exportedWithNms(text: string | undefined): boolean {
  if (text === undefined) return false;
  try {
    const args = parsePythonLiteral(text.trim());
    return args !== null && typeof args === 'object' && args.kind === 'dict'
      ? pyDictGet(args, 'nms') === true
      : false;
  } catch {
    return false;
  }
}

function parseCalibrationNumber(key: string, text: string, positive: boolean): number {
  const trimmed = text.trim();
  const value = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isFinite(value) || (positive && !(value > 0))) {
    throw invalid(
      key,
      `must be a ${positive ? 'positive ' : ''}decimal number, got ${JSON.stringify(trimmed.slice(0, 40))}`,
    );
  }
  return value;
}

function parseCalibration(
  temperature: string | undefined,
  bias: string | undefined,
): ScoreCalibration | null {
  if (temperature === undefined && bias === undefined) return null;
  return {
    temperature:
      temperature === undefined
        ? 1
        : parseCalibrationNumber(TEMPERATURE_METADATA_KEY, temperature, true),
    bias: bias === undefined ? 0 : parseCalibrationNumber(LOGIT_BIAS_METADATA_KEY, bias, false),
  };
}

function nonEmpty(text: string | undefined): string | null {
  const trimmed = text?.trim();
  return trimmed ? trimmed : null;
}

/**
 * Reads the metadata a detector needs from ONNX `metadata_props` (Ultralytics keys plus
 * `visionloop_version`, `visionloop_temperature`, `visionloop_logit_bias`). Absent keys give
 * empty/null values; a present but malformed `names`, `imgsz`, `stride`, `end2end` or calibration
 * value throws MODEL_METADATA_INVALID. `args` only contributes
 * `nms` and is ignored when malformed.
 */
export function parseModelMetadata(props: Readonly<Record<string, string>>): ModelMetadata {
  const get = (key: string): string | undefined =>
    Object.prototype.hasOwnProperty.call(props, key) ? props[key] : undefined;
  const names = get('names');
  const imgsz = get('imgsz');
  const stride = get('stride');
  const end2end = get('end2end');
  return {
    names: names === undefined ? [] : parseNames(names),
    imgsz: imgsz === undefined ? null : parseImgsz(imgsz),
    stride: stride === undefined ? null : parseStride(stride),
    task: nonEmpty(get('task')),
    end2end:
      (end2end !== undefined && parseBoolean('end2end', end2end)) || exportedWithNms(get('args')),
    version: nonEmpty(get('visionloop_version')),
    calibration: parseCalibration(get(TEMPERATURE_METADATA_KEY), get(LOGIT_BIAS_METADATA_KEY)),
  };
}
