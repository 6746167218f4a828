import { describe, expect, it } from 'vitest';
import { isVisionLoopError } from '../shared/errors.js';
import { parseModelMetadata } from './metadata.js';
import {
  MAX_LITERAL_DEPTH,
  MAX_LITERAL_LENGTH,
  parsePythonLiteral,
  pyDictGet,
  type PyValue,
} from './python-literal.js';

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (isVisionLoopError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a VisionLoopError');
}

const list = (...items: PyValue[]): PyValue => ({ kind: 'list', items });
const tuple = (...items: PyValue[]): PyValue => ({ kind: 'tuple', items });
const dict = (...entries: [PyValue, PyValue][]): PyValue => ({ kind: 'dict', entries });

/**
 * metadata_props of a real Ultralytics 8.3 ONNX export of a 4-class detector (values are
 * Python's str() of each field, exactly as exporter.py writes them).
 */
const ULTRALYTICS_PROPS: Record<string, string> = {
  description: 'Ultralytics YOLO11n model trained on /data/inspection/data.yaml',
  author: 'Ultralytics',
  date: '2025-03-14T09:26:53.589312',
  version: '8.3.91',
  license: 'AGPL-3.0 License (https://ultralytics.com/license)',
  docs: 'https://docs.ultralytics.com',
  stride: '32',
  task: 'detect',
  batch: '1',
  imgsz: '[320, 320]',
  names: `{0: 'scratch', 1: 'crack', 2: 'dent', 3: 'stain'}`,
  args: `{'batch': 1, 'fraction': 1.0, 'half': False, 'int8': False, 'dynamic': False, 'simplify': True, 'opset': None, 'nms': False}`,
  channels: '3',
  end2end: 'False',
};

describe('parsePythonLiteral', () => {
  it("parses Ultralytics names with both quote styles: {0: 'person', 1: \"it's\"}", () => {
    expect(parsePythonLiteral(`{0: 'person', 1: "it's"}`)).toEqual(
      dict([0, 'person'], [1, "it's"]),
    );
  });

  it('parses nested lists and tuples', () => {
    expect(parsePythonLiteral('[[1, 2], [3, [4, (5, 6)]], []]')).toEqual(
      list(list(1, 2), list(3, list(4, tuple(5, 6))), list()),
    );
    expect(parsePythonLiteral('()')).toEqual(tuple());
    expect(parsePythonLiteral('(1,)')).toEqual(tuple(1));
    expect(parsePythonLiteral('(1)')).toBe(1);
    expect(parsePythonLiteral('(1, 2,)')).toEqual(tuple(1, 2));
    expect(parsePythonLiteral('[1, 2,]')).toEqual(list(1, 2));
    expect(parsePythonLiteral("{'a': 1,}")).toEqual(dict(['a', 1]));
  });

  it('parses numbers, booleans and None', () => {
    const cases: [string, PyValue][] = [
      ['0', 0],
      ['-1', -1],
      ['+2', 2],
      ['- 3', -3],
      ['1.5', 1.5],
      ['-0.25', -0.25],
      ['1e-05', 1e-5],
      ['.5', 0.5],
      ['1.', 1],
      ['2E3', 2000],
      ['1_000', 1000],
      ['0x1F', 31],
      ['0o17', 15],
      ['0b101', 5],
      ['00', 0],
      ['True', true],
      ['False', false],
      ['None', null],
    ];
    for (const [text, value] of cases) expect(parsePythonLiteral(text), text).toEqual(value);
  });

  it('decodes string escapes as Python does', () => {
    const cases: [string, string][] = [
      [String.raw`'a\nb'`, 'a\nb'],
      [String.raw`'tab\there'`, 'tab\there'],
      [String.raw`'\x41\u00e9\U0001F600'`, 'Aé😀'],
      [String.raw`'\101\0'`, 'A\0'],
      [String.raw`'it\'s'`, "it's"],
      [String.raw`"say \"hi\""`, 'say "hi"'],
      [String.raw`'back\\slash'`, 'back\\slash'],
      [String.raw`'\d'`, '\\d'], // unknown escapes are kept
      [String.raw`r'\n\''`, "\\n\\'"],
      [String.raw`u'caf\xe9'`, 'café'],
      ["'傷 und Kratzer (größer)'", '傷 und Kratzer (größer)'],
      [`'a' "b" r'c'`, 'abc'], // adjacent literals concatenate
      ["'line\\\ncontinued'", 'linecontinued'],
    ];
    for (const [text, value] of cases) expect(parsePythonLiteral(text), text).toBe(value);
  });

  it('keeps source order and lets a repeated key keep its last value (1 == True == 1.0)', () => {
    expect(parsePythonLiteral("{1: 'a', 0: 'b', True: 'c', 1.0: 'd'}")).toEqual(
      dict([1, 'd'], [0, 'b']),
    );
    const parsed = parsePythonLiteral("{(1, 'x'): 2, None: 3}");
    expect(parsed).toEqual(dict([tuple(1, 'x'), 2], [null, 3]));
    if (parsed === null || typeof parsed !== 'object' || parsed.kind !== 'dict') throw new Error();
    expect(pyDictGet(parsed, tuple(1, 'x'))).toBe(2);
    expect(pyDictGet(parsed, null)).toBe(3);
    expect(pyDictGet(parsed, 'missing')).toBeUndefined();
  });

  it('accepts whitespace and newlines between tokens', () => {
    expect(parsePythonLiteral("  {\n  0: 'a',\n\t1: 'b'\n}  ")).toEqual(dict([0, 'a'], [1, 'b']));
  });

  it('refuses code and everything outside the literal subset, saying where', () => {
    const hostile: [string, number, string][] = [
      ["__import__('os').system('rm -rf /')", 0, 'is not a literal'],
      ["{0: 'a'", 7, "expected ',' or '}'"],
      ["'abc", 0, 'unterminated string'],
      ["'a\nb'", 0, 'unterminated string'],
      ['[1, 2', 5, "expected ',' or ']'"],
      ['[1 2]', 3, "expected ',' or ']'"],
      ['1 + 2', 2, 'unexpected text after the value'],
      ["{'a': 1}.keys()", 8, 'unexpected text'],
      ['{[1]: 2}', 1, 'dict key'],
      ['{1, 2}', 2, 'set literals'],
      ["b'x'", 0, "prefix 'b'"],
      ["f'{x}'", 0, "prefix 'f'"],
      ['1j', 0, 'complex'],
      ['0777', 0, 'leading zeros'],
      ['1__0', 0, 'malformed number'],
      ['--1', 1, 'malformed number'],
      ['-True', 1, 'malformed number'],
      [String.raw`'\N{EM DASH}'`, 1, '\\N{name}'],
      [String.raw`'\x4'`, 1, 'truncated \\x'],
      ['lambda: 0', 0, 'is not a literal'],
      ['inf', 0, 'is not a literal'],
      ['# comment', 0, 'expected a value'],
      ['', 0, 'expected a value'],
      ['[1,,2]', 3, 'expected a value'],
      ["'''doc'''", 0, 'triple-quoted'],
      ['[*a]', 1, 'expected a value'],
      ['12345678901234567890', 0, 'integer too large'],
    ];
    for (const [text, at, reason] of hostile) {
      const error = errorOf(() => parsePythonLiteral(text));
      expect(error.code, text).toBe('MODEL_METADATA_INVALID');
      expect(error.message, text).toContain(`at character ${at}:`);
      expect(error.message, text).toContain(reason);
    }
  });

  it('limits nesting depth and length', () => {
    const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
    expect(() => parsePythonLiteral(nested(MAX_LITERAL_DEPTH))).not.toThrow();
    expect(errorOf(() => parsePythonLiteral(nested(MAX_LITERAL_DEPTH + 1))).message).toContain(
      'nested deeper',
    );
    expect(errorOf(() => parsePythonLiteral(nested(100_000))).code).toBe('MODEL_METADATA_INVALID');
    const long = `'${'x'.repeat(MAX_LITERAL_LENGTH)}'`;
    expect(errorOf(() => parsePythonLiteral(long)).message).toContain('exceeds the limit');
  });

  it('parses a 20 000-entry dict (no quadratic key handling)', () => {
    const text = `{${Array.from({ length: 20_000 }, (_, i) => `${i}: 'c${i}'`).join(', ')}}`;
    const parsed = parsePythonLiteral(text);
    expect(
      parsed !== null &&
        typeof parsed === 'object' &&
        parsed.kind === 'dict' &&
        parsed.entries.length,
    ).toBe(20_000);
  });
});

describe('parseModelMetadata', () => {
  it('reads a real Ultralytics export', () => {
    expect(parseModelMetadata(ULTRALYTICS_PROPS)).toEqual({
      names: ['scratch', 'crack', 'dent', 'stain'],
      imgsz: [320, 320],
      stride: 32,
      task: 'detect',
      end2end: false,
      version: null,
      calibration: null,
    });
  });

  it('reads the COCO names of a stock yolo11n export, quotes and all', () => {
    const names = `{0: 'person', 1: 'bicycle', 2: 'car', 3: 'motorcycle', 4: 'airplane', 5: 'bus', 6: 'train', 7: 'truck', 8: 'boat', 9: 'traffic light', 10: 'fire hydrant', 11: 'stop sign', 12: 'parking meter', 13: 'bench', 14: 'bird', 15: 'cat', 16: 'dog', 17: 'horse', 18: 'sheep', 19: 'cow', 20: 'elephant', 21: 'bear', 22: 'zebra', 23: 'giraffe', 24: 'backpack', 25: 'umbrella', 26: 'handbag', 27: 'tie', 28: 'suitcase', 29: 'frisbee', 30: 'skis', 31: 'snowboard', 32: 'sports ball', 33: 'kite', 34: 'baseball bat', 35: 'baseball glove', 36: 'skateboard', 37: 'surfboard', 38: 'tennis racket', 39: 'bottle', 40: 'wine glass', 41: 'cup', 42: 'fork', 43: 'knife', 44: 'spoon', 45: 'bowl', 46: 'banana', 47: 'apple', 48: 'sandwich', 49: 'orange', 50: 'broccoli', 51: 'carrot', 52: 'hot dog', 53: 'pizza', 54: 'donut', 55: 'cake', 56: 'chair', 57: 'couch', 58: 'potted plant', 59: 'bed', 60: 'dining table', 61: 'toilet', 62: 'tv', 63: 'laptop', 64: 'mouse', 65: 'remote', 66: 'keyboard', 67: 'cell phone', 68: 'microwave', 69: 'oven', 70: 'toaster', 71: 'sink', 72: 'refrigerator', 73: 'book', 74: 'clock', 75: 'vase', 76: 'scissors', 77: 'teddy bear', 78: 'hair drier', 79: 'toothbrush'}`;
    const meta = parseModelMetadata({ ...ULTRALYTICS_PROPS, names, imgsz: '[640, 640]' });
    expect(meta.names).toHaveLength(80);
    expect(meta.names[9]).toBe('traffic light');
    expect(meta.names[79]).toBe('toothbrush');
    expect(meta.imgsz).toEqual([640, 640]);
  });

  it('reads names with quotes, escapes and non-ASCII text', () => {
    const meta = parseModelMetadata({
      names: String.raw`{0: "it's", 1: 'say "hi"', 2: 'both \' and "', 3: 'größer Kratzer', 4: 'a\\b'}`,
    });
    expect(meta.names).toEqual(["it's", 'say "hi"', `both ' and "`, 'größer Kratzer', 'a\\b']);
  });

  it('reads YOLOv5-style list names and JSON-style string keys', () => {
    expect(parseModelMetadata({ stride: '32', names: "['scratch', 'crack']" }).names).toEqual([
      'scratch',
      'crack',
    ]);
    expect(parseModelMetadata({ names: '{"1": "b", "0": "a"}' }).names).toEqual(['a', 'b']);
    expect(parseModelMetadata({ names: "{1: 'b', 0: 'a'}" }).names).toEqual(['a', 'b']);
  });

  it('refuses names that are not contiguous class ids 0..n−1 or not strings', () => {
    for (const names of [
      "{0: 'a', 2: 'b'}",
      "{1: 'a'}",
      "{-1: 'a'}",
      "{0: 'a', '0': 'b'}",
      "{0.5: 'a'}",
      "{'scratch': 0}",
      '{0: 1}',
      "['a', None]",
      "'scratch'",
      "__import__('os')",
      "{999999999: 'a'}",
    ]) {
      const error = errorOf(() => parseModelMetadata({ names }));
      expect(error.code, names).toBe('MODEL_METADATA_INVALID');
      expect(error.message, names).toContain("'names'");
    }
  });

  it('reads imgsz as [h, w] from a list, a tuple or one number', () => {
    expect(parseModelMetadata({ imgsz: '[320, 480]' }).imgsz).toEqual([320, 480]);
    expect(parseModelMetadata({ imgsz: '(640, 640)' }).imgsz).toEqual([640, 640]);
    expect(parseModelMetadata({ imgsz: '640' }).imgsz).toEqual([640, 640]);
    expect(parseModelMetadata({ imgsz: '[416]' }).imgsz).toEqual([416, 416]);
    for (const imgsz of ['[0, 640]', '[640, 640, 3]', '640.5', "'big'", '[]', '{0: 1}']) {
      expect(errorOf(() => parseModelMetadata({ imgsz })).code, imgsz).toBe(
        'MODEL_METADATA_INVALID',
      );
    }
  });

  it('reads stride as an int, or the largest of a list', () => {
    expect(parseModelMetadata({ stride: '32' }).stride).toBe(32);
    expect(parseModelMetadata({ stride: '[8, 16, 32]' }).stride).toBe(32);
    for (const stride of ['0', '-32', '32.5', '[]', 'None']) {
      expect(errorOf(() => parseModelMetadata({ stride })).code, stride).toBe(
        'MODEL_METADATA_INVALID',
      );
    }
  });

  it('is end-to-end when end2end is True or the export ran NMS (args.nms)', () => {
    expect(parseModelMetadata({ ...ULTRALYTICS_PROPS, end2end: 'True' }).end2end).toBe(true);
    const nmsArgs = ULTRALYTICS_PROPS.args!.replace("'nms': False", "'nms': True");
    expect(parseModelMetadata({ ...ULTRALYTICS_PROPS, args: nmsArgs }).end2end).toBe(true);
    expect(parseModelMetadata({ end2end: 'false' }).end2end).toBe(false);
    // args is informational: a malformed one is ignored.
    expect(parseModelMetadata({ args: '{broken' }).end2end).toBe(false);
    expect(errorOf(() => parseModelMetadata({ end2end: 'maybe' })).code).toBe(
      'MODEL_METADATA_INVALID',
    );
  });

  it('takes the version from visionloop_version, not the Ultralytics version', () => {
    expect(parseModelMetadata(ULTRALYTICS_PROPS).version).toBeNull();
    expect(parseModelMetadata({ ...ULTRALYTICS_PROPS, visionloop_version: ' v7 ' }).version).toBe(
      'v7',
    );
  });

  it('gives empty values for a model without metadata', () => {
    expect(parseModelMetadata({})).toEqual({
      names: [],
      imgsz: null,
      stride: null,
      task: null,
      end2end: false,
      version: null,
      calibration: null,
    });
  });

  it('reads the score calibration; either key alone defaults the other', () => {
    expect(
      parseModelMetadata({
        ...ULTRALYTICS_PROPS,
        visionloop_temperature: '0.660372',
        visionloop_logit_bias: ' 0.900471 ',
      }).calibration,
    ).toEqual({ temperature: 0.660372, bias: 0.900471 });
    expect(parseModelMetadata({ visionloop_temperature: '2' }).calibration).toEqual({
      temperature: 2,
      bias: 0,
    });
    expect(parseModelMetadata({ visionloop_logit_bias: '-1.5e-1' }).calibration).toEqual({
      temperature: 1,
      bias: -0.15,
    });
  });

  it('refuses a temperature that is not a positive number, and a bias that is not a number', () => {
    const bad: Record<string, string>[] = [
      { visionloop_temperature: '0' },
      { visionloop_temperature: '-1' },
      { visionloop_temperature: 'abc' },
      { visionloop_temperature: '' },
      { visionloop_logit_bias: 'inf' },
      { visionloop_logit_bias: '1,5' },
    ];
    for (const props of bad) {
      expect(() => parseModelMetadata(props), JSON.stringify(props)).toThrow(
        expect.objectContaining({ code: 'MODEL_METADATA_INVALID' }),
      );
    }
  });
});
