import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import {
  boxToCocoBbox,
  cocoBboxToBox,
  cocoGroundTruth,
  cocoPredictions,
  parseCocoAnnotations,
  parseCocoResults,
  yoloPredictions,
} from './coco.js';
import { evaluateDetections } from './map.js';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../test/fixtures/eval/${name}`, import.meta.url), 'utf8'));

const annotations = (extra: Record<string, unknown> = {}) => ({
  images: [
    { id: 7, file_name: 'a.png', width: 640, height: 480 },
    { id: 3, file_name: 'b.png' },
  ],
  annotations: [
    { id: 1, image_id: 7, category_id: 5, bbox: [10, 20, 30, 40], area: 1000, iscrowd: 0 },
    { id: 2, image_id: 3, category_id: 2, bbox: [0, 0, 5, 5], segmentation: [[0, 0, 5, 0, 5, 5]] },
  ],
  categories: [
    { id: 5, name: 'crack' },
    { id: 2, name: 'scratch' },
  ],
  ...extra,
});

function errorOf(run: () => unknown): VisionLoopError {
  try {
    run();
  } catch (error) {
    if (error instanceof VisionLoopError) return error;
    throw error;
  }
  throw new Error('expected a VisionLoopError');
}

describe('COCO boxes', () => {
  it('converts [x, y, w, h] to corners and back', () => {
    expect(cocoBboxToBox([10, 20, 30, 40])).toEqual({ x1: 10, y1: 20, x2: 40, y2: 60 });
    expect(boxToCocoBbox({ x1: 10, y1: 20, x2: 40, y2: 60 })).toEqual([10, 20, 30, 40]);
  });
});

describe('COCO annotations', () => {
  it('turns categories sorted by id into classes and keeps the COCO box and area', () => {
    const truth = cocoGroundTruth(parseCocoAnnotations(annotations()));
    expect(truth.classNames).toEqual(['scratch', 'crack']);
    expect(truth.categoryIds).toEqual([2, 5]);
    expect(truth.images).toEqual([
      {
        imageId: 7,
        width: 640,
        height: 480,
        objects: [
          {
            classId: 1,
            box: { x1: 10, y1: 20, x2: 40, y2: 60 },
            cocoBbox: [10, 20, 30, 40],
            area: 1000,
          },
        ],
      },
      {
        imageId: 3,
        objects: [{ classId: 0, box: { x1: 0, y1: 0, x2: 5, y2: 5 }, cocoBbox: [0, 0, 5, 5] }],
      },
    ]);
    expect(truth.warnings).toEqual([]);
  });

  it('names the entry and field of a malformed annotation', () => {
    const bad = annotations();
    (bad.annotations[1] as { bbox: unknown }).bbox = [0, 0, 5];
    const error = errorOf(() => parseCocoAnnotations(bad, 'gt.json'));
    expect(error.code).toBe('DATASET_INVALID');
    expect(error.message).toMatch(/^gt\.json: annotations\[1\]\.bbox/);

    const negative = annotations();
    (negative.annotations[0] as { bbox: unknown }).bbox = [0, 0, -5, 5];
    expect(() => parseCocoAnnotations(negative)).toThrow(
      /annotations\[0\]\.bbox: width and height must be ≥ 0/,
    );
    expect(() => parseCocoAnnotations({ images: [], annotations: [], categories: [] })).toThrow(
      /categories: at least one category/,
    );
  });

  it('rejects what pycocotools would silently mis-score', () => {
    const convert = (value: unknown) => () => cocoGroundTruth(parseCocoAnnotations(value));
    const withAnnotation = (patch: Record<string, unknown>) => {
      const value = annotations();
      Object.assign(value.annotations[1] ?? {}, patch);
      return value;
    };
    expect(convert(withAnnotation({ image_id: 99 }))).toThrow(
      /annotations\[1\]: image_id 99 is not in images/,
    );
    expect(convert(withAnnotation({ category_id: 9 }))).toThrow(
      /annotations\[1\]: category_id 9 is not in categories/,
    );
    expect(convert(withAnnotation({ iscrowd: 1 }))).toThrow(/iscrowd=1 .* is not supported/);
    expect(convert(withAnnotation({ id: 1 }))).toThrow(/annotation id 1 appears twice/);
    const zero = cocoGroundTruth(parseCocoAnnotations(withAnnotation({ id: 0 })));
    expect(zero.warnings[0]).toMatch(/annotations\[1\] has id 0; pycocotools counts/);
  });
});

describe('COCO results', () => {
  const truth = cocoGroundTruth(parseCocoAnnotations(annotations()));

  it('maps category ids to classes and keeps the COCO box', () => {
    const results = parseCocoResults([
      { image_id: 7, category_id: 5, bbox: [10, 20, 30, 40], score: 0.9 },
    ]);
    expect(cocoPredictions(results, truth)).toEqual([
      {
        imageId: 7,
        classId: 1,
        score: 0.9,
        box: { x1: 10, y1: 20, x2: 40, y2: 60 },
        cocoBbox: [10, 20, 30, 40],
      },
    ]);
  });

  it('names the entry and field of a malformed or unplaceable result', () => {
    const error = errorOf(() =>
      parseCocoResults(
        [{ image_id: 7, category_id: 5, bbox: [1, 2, 3, 4], score: 'high' }],
        'p.json',
      ),
    );
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toMatch(/^p\.json: \[0\]\.score/);
    expect(() => parseCocoResults({ image_id: 1 })).toThrow(/expected array/);
    const place = (result: Record<string, unknown>) => () =>
      cocoPredictions(
        parseCocoResults([
          { image_id: 7, category_id: 5, bbox: [0, 0, 1, 1], score: 1, ...result },
        ]),
        truth,
      );
    expect(place({ category_id: 3 })).toThrow(
      /\[0\]\.category_id 3 is not a category of the annotations \(2, 5\)/,
    );
    expect(place({ image_id: 8 })).toThrow(/\[0\]\.image_id 8 is not an image of the annotations/);
    expect(place({ image_id: '7' })).toThrow(/image_id "7" is not an image/);
  });

  it('matches results to a YOLO dataset by stem, or by number for all-digit stems', () => {
    const images = ['000123', 'part-a', '0042', '42'].map((stem) => ({
      imageId: stem,
      objects: [],
    }));
    const results = parseCocoResults([
      { image_id: 'part-a', category_id: 0, bbox: [0, 0, 1, 1], score: 0.5 },
      { image_id: 123, category_id: 1, bbox: [0, 0, 1, 1], score: 0.5 },
    ]);
    expect(yoloPredictions(results, images, 2).map((p) => [p.imageId, p.classId])).toEqual([
      ['part-a', 0],
      ['000123', 1],
    ]);
    const one = (result: Record<string, unknown>) => () =>
      yoloPredictions(
        parseCocoResults([
          { image_id: 'part-a', category_id: 0, bbox: [0, 0, 1, 1], score: 1, ...result },
        ]),
        images,
        2,
      );
    expect(one({ image_id: 42 })).toThrow(/image_id 42 matches several images \(0042, 42\)/);
    expect(one({ image_id: 7 })).toThrow(/image_id 7 matches no image stem/);
    expect(one({ image_id: 'nope' })).toThrow(/image_id "nope" is not an image stem/);
    expect(one({ category_id: 2 })).toThrow(/category_id 2 is not a class index 0..1/);
  });
});

describe('COCO fixture scored as pycocotools scores it', () => {
  it('reproduces COCOeval.stats[0..5] and the per-class AP', () => {
    // Expected values: COCOeval (cocodataset/cocoapi cocoeval.py, bbox path, run under numpy
    // 1.24 with a Python port of maskApi.c's bbIou in place of the C extension) on
    // test/fixtures/eval/coco-{annotations,results}.json. See docs/evaluation.md.
    const truth = cocoGroundTruth(parseCocoAnnotations(fixture('coco-annotations.json')));
    const predictions = cocoPredictions(parseCocoResults(fixture('coco-results.json')), truth);
    const report = evaluateDetections(truth.images, predictions, { classNames: truth.classNames });
    expect([
      report.map50_95,
      report.map50,
      report.map75,
      report.mapSmall,
      report.mapMedium,
      report.mapLarge,
    ]).toEqual([
      0.27486248624862486, 0.5544554455445545, 0.1727172717271727, 0.45924092409240924,
      0.32871287128712867, 0.14999999999999997,
    ]);
    expect(report.perClass.map((c) => [c.className, c.ap50_95, c.ap50])).toEqual([
      ['scratch', 0.4153465346534653, 0.8514851485148518],
      ['crack', 0.16567656765676567, 0.3696369636963696],
      ['dent', 0.24356435643564356, 0.4422442244224422],
      ['stain', -1, -1],
    ]);
  });
});
