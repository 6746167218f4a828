import { describe, expect, it } from 'vitest';
import { QuarterSegmenter, WidthClassifier } from '../../test/helpers/fake-stage-models.js';
import { DEFAULT_CHAIN, type ChainConfig } from '../shared/api/inspection-chain.js';
import type { Detection } from '../shared/domain.js';
import { createRgbImage } from '../vision/image.js';
import { InspectionChainRunner, paddedBox, selectCrops } from './inspection-chain.js';

const image = createRgbImage(200, 100, 90);
const det = (confidence: number, x1: number, x2: number): Detection => ({
  classId: 0,
  className: 'scratch',
  confidence,
  box: { x1, y1: 0, x2, y2: 20 },
});
// A: vetoed by width; B: minor; C: below the classify cut; D: major.
const detections = [det(0.9, 0, 10), det(0.6, 20, 40), det(0.3, 50, 90), det(0.8, 100, 140)];

const chain: ChainConfig = {
  stages: [
    { stage: 'classify', alias: 'classify-production', padding: 0.1, minConfidence: 0.5 },
    { stage: 'segment', alias: 'segment-production', padding: 0, minConfidence: 0.25 },
  ],
  vetoClass: 'not_defect',
  mmPerPixel: 0.1,
  maxCrops: 16,
  rules: [],
};

describe('paddedBox and selectCrops', () => {
  it('pads each side by a fraction of the box and clips to the frame', () => {
    expect(paddedBox({ x1: 20, y1: 10, x2: 40, y2: 30 }, 0.25, 200, 100)).toEqual({
      x1: 15,
      y1: 5,
      x2: 45,
      y2: 35,
    });
    expect(paddedBox({ x1: 0, y1: 90, x2: 10, y2: 100 }, 0.5, 200, 100)).toEqual({
      x1: 0,
      y1: 85,
      x2: 15,
      y2: 100,
    });
  });

  it('takes at most maxCrops above the cut, highest confidence first', () => {
    expect(selectCrops(detections, 0.5, 16)).toEqual([0, 3, 1]);
    expect(selectCrops(detections, 0.5, 2)).toEqual([0, 3]);
    expect(selectCrops(detections, 0.25, 16, (i) => i === 0)).toEqual([3, 1, 2]);
  });
});

describe('InspectionChainRunner', () => {
  it('classifies and segments all crops of a frame in one call each, with vetoes and totals', async () => {
    const classifier = new WidthClassifier();
    const segmenter = new QuarterSegmenter();
    const runner = new InspectionChainRunner({ chain, classifier, segmenter });
    const stages = await runner.run(image, detections);
    expect(classifier.calls).toEqual([
      [
        { x1: 0, y1: 0, x2: 11, y2: 22 },
        { x1: 96, y1: 0, x2: 144, y2: 22 },
        { x1: 18, y1: 0, x2: 42, y2: 22 },
      ],
    ]);
    // The vetoed crop (A) is not segmented; C is (its confidence passes the segment cut).
    expect(segmenter.calls).toEqual([
      [
        { x1: 100, y1: 0, x2: 140, y2: 20 },
        { x1: 20, y1: 0, x2: 40, y2: 20 },
        { x1: 50, y1: 0, x2: 90, y2: 20 },
      ],
    ]);
    expect(stages).not.toBeNull();
    expect(stages!.versions).toEqual({ classify: 'cls-v1', segment: 'seg-v1' });
    expect(stages!.detections.map((d) => d.vetoed)).toEqual([true, false, false, false]);
    expect(stages!.detections.map((d) => d.classification?.className)).toEqual([
      'not_defect',
      'minor',
      undefined,
      'major',
    ]);
    expect(stages!.detections.map((d) => d.segmentation?.areaPx)).toEqual([
      undefined,
      100,
      200,
      200,
    ]);
    expect(stages!.totalAreaPx).toBe(500);
    expect(stages!.totalAreaMm2).toBeCloseTo(5, 9);
    expect(stages!.maxSeverity).toBe(2);
    expect(stages!.timings).toEqual({ classifyMs: 3, segmentMs: 5 });
  });

  it('keeps to maxCrops per stage', async () => {
    const classifier = new WidthClassifier();
    const segmenter = new QuarterSegmenter();
    const runner = new InspectionChainRunner({
      chain: { ...chain, maxCrops: 2 },
      classifier,
      segmenter,
    });
    const stages = await runner.run(image, detections);
    expect(classifier.calls[0]).toHaveLength(2);
    expect(segmenter.calls[0]).toEqual([
      { x1: 100, y1: 0, x2: 140, y2: 20 },
      { x1: 20, y1: 0, x2: 40, y2: 20 },
    ]);
    // B was not classified (3rd by confidence), so only D gives a severity.
    expect(stages!.detections[1]).toEqual({
      vetoed: false,
      segmentation: expect.objectContaining({ areaPx: 100 }) as unknown,
    });
    expect(stages!.maxSeverity).toBe(2);
    expect(stages!.totalAreaPx).toBe(300);
  });

  it('is null without stages or stage models, and says once which stage is missing', async () => {
    const logs: string[] = [];
    const none = new InspectionChainRunner({
      chain: DEFAULT_CHAIN,
      classifier: new WidthClassifier(),
    });
    expect(await none.run(image, detections)).toBeNull();
    const missing = new InspectionChainRunner({ chain, log: (_level, m) => logs.push(m) });
    expect(missing.active).toBe(false);
    expect(await missing.run(image, detections)).toBeNull();
    expect(await missing.run(image, detections)).toBeNull();
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatch(/classify stage .*no classify model is loaded/);
  });

  it('runs only the loaded stage: a classifier alone gives no area', async () => {
    const runner = new InspectionChainRunner({ chain, classifier: new WidthClassifier() });
    const stages = await runner.run(image, detections);
    expect(stages!.versions).toEqual({ classify: 'cls-v1' });
    expect(stages!.totalAreaPx).toBeNull();
    expect(stages!.totalAreaMm2).toBeNull();
    expect(stages!.maxSeverity).toBe(2);
    // No detections: the stage ran on nothing.
    const empty = await runner.run(image, []);
    expect(empty).toMatchObject({ detections: [], maxSeverity: null, timings: { classifyMs: 0 } });
  });

  it('segments without calibration: areas in px, mm² null', async () => {
    const runner = new InspectionChainRunner({
      chain: { ...chain, stages: chain.stages.slice(1), mmPerPixel: null },
      segmenter: new QuarterSegmenter(),
    });
    const stages = await runner.run(image, detections);
    expect(stages!.totalAreaPx).toBe(50 + 100 + 200 + 200);
    expect(stages!.totalAreaMm2).toBeNull();
    expect(stages!.maxSeverity).toBeNull();
  });

  it('runs frames one at a time and applies a new chain or model from the next frame', async () => {
    const slow = new WidthClassifier('cls-v1', 20);
    const runner = new InspectionChainRunner({ chain, classifier: slow });
    const first = runner.run(image, detections);
    const second = runner.run(image, detections);
    runner.setChain({ ...chain, vetoClass: null });
    const replaced = runner.setClassifier(new WidthClassifier('cls-v2'));
    expect(replaced).toBe(slow);
    const third = runner.run(image, detections);
    const [a, b, c] = await Promise.all([first, second, third]);
    expect(slow.maxRunning).toBe(1);
    expect(a!.detections[0]!.vetoed).toBe(true);
    expect(b!.versions.classify).toBe('cls-v1');
    expect(c!.versions.classify).toBe('cls-v2');
    expect(c!.detections[0]!.vetoed).toBe(false);
  });
});
