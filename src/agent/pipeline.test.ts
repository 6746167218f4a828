import { describe, expect, it } from 'vitest';
import type { Detection, FrameResult } from '../shared/domain.js';
import type { Detector, DetectorOutput, ModelInfo } from '../vision/detector.js';
import type { RgbImage } from '../vision/image.js';
import type { CapturedFrame, FrameSource } from './frame-source.js';
import { DEFAULT_MOTION_GATE } from './motion-gate.js';
import { QuarterSegmenter, WidthClassifier } from '../../test/helpers/fake-stage-models.js';
import type { ChainConfig } from '../shared/api/inspection-chain.js';
import { InspectionChainRunner } from './inspection-chain.js';
import { InspectionPipeline } from './pipeline.js';
import { ShadowRunner, frameHashUnit } from './shadow-runner.js';

const model: ModelInfo = {
  path: '/m.onnx',
  sha256: '0'.repeat(64),
  version: 'test-v1',
  inputName: 'images',
  outputName: 'output0',
  inputWidth: 64,
  inputHeight: 64,
  stride: 32,
  classNames: ['scratch', 'crack'],
  layout: 'yolov8',
  metadata: {},
};

/** A stand-in detector: the frame's first byte picks the confidence of one crack. */
class ScriptedDetector implements Detector {
  calls = 0;
  constructor(private readonly delayMs = 0) {}
  readonly model = model;
  load(): Promise<ModelInfo> {
    return Promise.resolve(model);
  }
  async detect(image: RgbImage): Promise<DetectorOutput> {
    this.calls++;
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const confidence = (image.data[0] ?? 0) / 100;
    const detections: Detection[] =
      confidence > 0
        ? [{ classId: 1, className: 'crack', confidence, box: { x1: 1, y1: 2, x2: 30, y2: 40 } }]
        : [];
    return { detections, timings: { preprocessMs: 1, inferenceMs: 2, postprocessMs: 0.5 } };
  }
  dispose(): Promise<void> {
    return Promise.resolve();
  }
}

function image(marker: number, shift: number): RgbImage {
  const data = new Uint8Array(64 * 48 * 3).fill(80);
  // A moving bright bar makes consecutive frames differ for the motion gate.
  for (let y = 10; y < 30; y++)
    for (let x = shift; x < shift + 8; x++) data.fill(250, (y * 64 + x) * 3, (y * 64 + x) * 3 + 3);
  data[0] = marker;
  return { width: 64, height: 48, data };
}

function listSource(
  images: RgbImage[],
  options: { live: boolean; intervalMs?: number },
): FrameSource {
  return {
    description: 'list',
    fps: options.live ? 1000 / (options.intervalMs ?? 1) : null,
    live: options.live,
    async *frames(): AsyncIterable<CapturedFrame> {
      for (const [index, img] of images.entries()) {
        if (options.intervalMs)
          await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
        yield { index, capturedAt: Date.now(), image: img };
      }
    },
    close: () => Promise.resolve(),
  };
}

const gateOff = { motion: { ...DEFAULT_MOTION_GATE, enabled: false } };

describe('InspectionPipeline', () => {
  it('processes every frame of a file source, in order, with flags and decision', async () => {
    const markers = [0, 30, 45, 69, 70, 95];
    const results: FrameResult[] = [];
    const pipeline = new InspectionPipeline(
      listSource(
        markers.map((m, i) => image(m, i * 4)),
        { live: false },
      ),
      new ScriptedDetector(2),
      (result) => {
        results.push(result);
      },
      { ...gateOff, camera: 'line-7' },
    );
    const stats = await pipeline.run();
    expect(results.map((r) => r.frameIndex)).toEqual([0, 1, 2, 3, 4, 5]);
    // Uncertain band is exclusive: 0.4 < c < 0.7. Decision fails at ≥ 0.5.
    expect(results.map((r) => r.uncertain)).toEqual([false, false, true, true, false, false]);
    expect(results.map((r) => r.decision)).toEqual([
      'PASS',
      'PASS',
      'PASS',
      'FAIL',
      'FAIL',
      'FAIL',
    ]);
    expect(
      results.every((r) => r.camera === 'line-7' && r.modelVersion === 'test-v1' && r.inferred),
    ).toBe(true);
    expect(results[3]?.detections[0]?.box).toEqual({ x1: 1, y1: 2, x2: 30, y2: 40 });
    expect(results[0]?.features.brightness).toBeGreaterThan(0);
    expect(stats.processedFrames).toBe(6);
    expect(stats.droppedFrames).toBe(0);
    expect(new Set(results.map((r) => r.id)).size).toBe(6);
    // Without a chain: the default rule names itself on FAIL; no stages, no shadow.
    expect(results.map((r) => r.decidedBy)).toEqual([
      undefined,
      undefined,
      undefined,
      'fail-threshold',
      'fail-threshold',
      'fail-threshold',
    ]);
    expect(
      results.some(
        (r) => 'stages' in r || 'shadow' in r || ('decidedBy' in r && r.decision === 'PASS'),
      ),
    ).toBe(false);
  });

  it('drops the oldest frames of a live source when detection falls behind, and counts them', async () => {
    const results: FrameResult[] = [];
    const images = Array.from({ length: 30 }, (_, i) => image(60, i));
    const pipeline = new InspectionPipeline(
      listSource(images, { live: true, intervalMs: 2 }),
      new ScriptedDetector(25),
      (result) => {
        results.push(result);
      },
      gateOff,
    );
    const stats = await pipeline.run();
    expect(stats.droppedFrames).toBeGreaterThan(0);
    expect(results.length + stats.droppedFrames).toBe(30);
    const indexes = results.map((r) => r.frameIndex);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    expect(indexes.at(-1)).toBe(29);
  });

  it('skips inference on a still scene and carries the last detections forward', async () => {
    const detector = new ScriptedDetector();
    const results: FrameResult[] = [];
    const still = image(80, 5);
    const pipeline = new InspectionPipeline(
      listSource([still, still, still, still], { live: false }),
      detector,
      (result) => {
        results.push(result);
      },
    );
    const stats = await pipeline.run();
    expect(detector.calls).toBe(1);
    expect(results.map((r) => r.inferred)).toEqual([true, false, false, false]);
    expect(results.map((r) => r.decision)).toEqual(['FAIL', 'FAIL', 'FAIL', 'FAIL']);
    expect(stats.skippedFrames).toBe(3);
  });

  it('fails the run with the source error', async () => {
    const broken: FrameSource = {
      description: 'broken',
      fps: null,
      live: false,
      // eslint-disable-next-line require-yield
      async *frames(): AsyncIterable<CapturedFrame> {
        await Promise.resolve();
        throw new Error('disk gone');
      },
      close: () => Promise.resolve(),
    };
    const pipeline = new InspectionPipeline(broken, new ScriptedDetector(), () => undefined);
    await expect(pipeline.run()).rejects.toThrow('disk gone');
  });

  it('reads the thresholds at every frame: a change applies from the next frame on', async () => {
    // Marker m: one crack at confidence m / 100, dropped by a detector below its confThreshold.
    const seen: number[] = [];
    const detector = new ScriptedDetector();
    const thresholdAware: Detector = {
      get model() {
        return detector.model;
      },
      load: () => detector.load(),
      dispose: () => detector.dispose(),
      async detect(img, options) {
        seen.push(options?.confThreshold ?? -1);
        const output = await detector.detect(img);
        const conf = options?.confThreshold ?? 0;
        return { ...output, detections: output.detections.filter((d) => d.confidence >= conf) };
      },
    };
    const thresholds = { confThreshold: 0.25, failThreshold: 0.5 };
    const results: FrameResult[] = [];
    const markers = [30, 60, 80, 30, 60, 80];
    const pipeline = new InspectionPipeline(
      listSource(
        markers.map((m, i) => image(m, i * 4)),
        { live: false },
      ),
      thresholdAware,
      (result) => {
        results.push(result);
        // The operator raises both thresholds after the third frame.
        if (result.frameIndex === 2)
          Object.assign(thresholds, { confThreshold: 0.5, failThreshold: 0.7 });
      },
      { ...gateOff, maxInFlight: 1, thresholds: () => thresholds },
    );
    await pipeline.run();
    expect(seen).toEqual([0.25, 0.25, 0.25, 0.5, 0.5, 0.5]);
    expect(results.map((r) => r.detections.length)).toEqual([1, 1, 1, 0, 1, 1]);
    // 0.6 fails under 0.5, passes under 0.7.
    expect(results.map((r) => r.decision)).toEqual([
      'PASS',
      'FAIL',
      'FAIL',
      'PASS',
      'PASS',
      'FAIL',
    ]);
  });

  it('drops carried-forward boxes of a still frame that the raised threshold would drop', async () => {
    const thresholds = { confThreshold: 0.25, failThreshold: 0.5 };
    const results: FrameResult[] = [];
    // The same image twice: the motion gate carries the first frame's detections forward.
    const still = image(30, 0);
    const pipeline = new InspectionPipeline(
      listSource([still, still], { live: false }),
      new ScriptedDetector(),
      (result) => {
        results.push(result);
        thresholds.confThreshold = 0.4;
      },
      { maxInFlight: 1, thresholds: () => thresholds },
    );
    await pipeline.run();
    expect(results.map((r) => [r.inferred, r.detections.length])).toEqual([
      [true, 1],
      [false, 0],
    ]);
  });

  it('runs the chain after detection and decides by its rules, naming the rule', async () => {
    // The crack box is 29 × 38 px: padded by 0.1 its crop is 34.8 px wide → `major` (2);
    // unpadded, the segmenter measures a quarter of 29 × 38 → 275 px = 11 mm² at 0.2 mm/px.
    const chain: ChainConfig = {
      stages: [
        { stage: 'classify', alias: 'classify-production', padding: 0.1, minConfidence: 0.5 },
        { stage: 'segment', alias: 'segment-production', padding: 0, minConfidence: 0.25 },
      ],
      vetoClass: 'not_defect',
      mmPerPixel: 0.2,
      maxCrops: 4,
      rules: [
        { id: 'large', when: 'area-mm2', gt: 11 },
        { id: 'severe', when: 'severity', gte: 2 },
      ],
    };
    const classifier = new WidthClassifier();
    const segmenter = new QuarterSegmenter();
    const runner = new InspectionChainRunner({ chain, classifier, segmenter });
    const results: FrameResult[] = [];
    const markers = [0, 30, 60, 90, 40];
    const pipeline = new InspectionPipeline(
      listSource(
        markers.map((m, i) => image(m, i * 4)),
        { live: false },
      ),
      new ScriptedDetector(3),
      (result) => {
        results.push(result);
        // From the fourth frame on (dispatched after the third is out), a looser area rule.
        if (result.frameIndex === 2)
          runner.setChain({ ...chain, rules: [{ id: 'large', when: 'area-mm2', gt: 10 }] });
      },
      { ...gateOff, maxInFlight: 1, chain: runner },
    );
    await pipeline.run();
    expect(results.map((r) => r.decision)).toEqual(['PASS', 'PASS', 'FAIL', 'FAIL', 'FAIL']);
    expect(results.map((r) => r.decidedBy)).toEqual([
      undefined,
      undefined,
      'severe',
      'large',
      'large',
    ]);
    expect(results[0]!.stages).toMatchObject({ detections: [], totalAreaPx: 0, maxSeverity: null });
    expect(results[1]!.stages!.detections).toEqual([
      { vetoed: false, segmentation: expect.objectContaining({ areaPx: 275 }) as unknown },
    ]);
    expect(results[2]!.stages).toMatchObject({
      versions: { classify: 'cls-v1', segment: 'seg-v1' },
      totalAreaPx: 275,
      maxSeverity: 2,
      timings: { classifyMs: 3, segmentMs: 5 },
    });
    expect(results[2]!.stages!.totalAreaMm2).toBeCloseTo(11, 9);
    // One batched call per stage per frame that had crops for it.
    expect(classifier.calls.map((c) => c.length)).toEqual([1, 1]);
    expect(segmenter.calls.map((c) => c.length)).toEqual([1, 1, 1, 1]);
  });

  it('carries the stages of the last inferred frame to a still frame', async () => {
    const runner = new InspectionChainRunner({
      chain: {
        stages: [{ stage: 'classify', alias: 'classify-production', padding: 0, minConfidence: 0 }],
        // The unpadded crack crop (29 px) is `minor`: vetoed, so the frame passes.
        vetoClass: 'minor',
        mmPerPixel: null,
        maxCrops: 4,
        rules: [],
      },
      classifier: new WidthClassifier(),
    });
    const results: FrameResult[] = [];
    const still = image(90, 3);
    const pipeline = new InspectionPipeline(
      listSource([still, still, still], { live: false }),
      new ScriptedDetector(),
      (result) => {
        results.push(result);
      },
      { chain: runner },
    );
    await pipeline.run();
    expect(results.map((r) => [r.inferred, r.decision, r.stages?.detections[0]?.vetoed])).toEqual([
      [true, 'PASS', true],
      [false, 'PASS', true],
      [false, 'PASS', true],
    ]);
  });

  it('runs a shadow on its share of frames, compares it, and never lets it decide', async () => {
    // The shadow sees the same crack at half the confidence: below 0.5 it passes the part.
    const shadowDetector = new ScriptedDetector(15);
    const halfConfidence: Detector = {
      model: { ...model, version: 'shadow-v2' },
      load: () => shadowDetector.load(),
      dispose: () => shadowDetector.dispose(),
      async detect(img) {
        const output = await shadowDetector.detect(img);
        return {
          ...output,
          detections: output.detections.map((d) => ({ ...d, confidence: d.confidence / 2 })),
        };
      },
    };
    const shadow = new ShadowRunner();
    shadow.set({ detector: halfConfidence, model: halfConfidence.model }, 0.5);
    const markers = Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? 0 : 80));
    const results: FrameResult[] = [];
    const pipeline = new InspectionPipeline(
      listSource(
        markers.map((m, i) => image(m, i * 2)),
        { live: false },
      ),
      new ScriptedDetector(1),
      (result) => {
        results.push(result);
      },
      { ...gateOff, shadow },
    );
    await pipeline.run();
    const chosen = markers.map((_, i) => frameHashUnit(i) < 0.5);
    expect(chosen.filter(Boolean).length).toBeGreaterThan(4);
    expect(chosen.filter(Boolean).length).toBeLessThan(20);
    expect(results.map((r) => r.shadow !== undefined)).toEqual(chosen);
    expect(results.map((r) => r.frameIndex)).toEqual(markers.map((_, i) => i));
    for (const result of results) {
      // The serving model decides: a crack at 0.8 fails whatever the shadow says.
      expect(result.decision).toBe(result.frameIndex % 2 === 0 ? 'PASS' : 'FAIL');
      if (result.shadow === undefined) continue;
      expect(result.shadow.version).toBe('shadow-v2');
      expect(result.shadow.inferenceMs).toBe(2);
      if (result.frameIndex % 2 === 0) {
        expect(result.shadow).toMatchObject({
          decision: 'PASS',
          disagreement: 0,
          disagrees: false,
        });
      } else {
        // Same box, same class: the boxes agree, the decisions do not.
        expect(result.shadow).toMatchObject({ decision: 'PASS', disagreement: 0, disagrees: true });
        expect(result.shadow.detections[0]!.confidence).toBeCloseTo(0.4, 9);
      }
    }
    expect(shadow.stats()).toMatchObject({
      frames: chosen.filter(Boolean).length,
      disagreements: chosen.filter((c, i) => c && i % 2 === 1).length,
      failures: 0,
    });
  });

  it('emits every result without a shadow field when the shadow fails', async () => {
    const logs: string[] = [];
    const shadow = new ShadowRunner({ log: (_level, message) => logs.push(message) });
    const broken: Detector = {
      model: { ...model, version: 'broken' },
      load: () => Promise.resolve(model),
      dispose: () => Promise.resolve(),
      detect: () => Promise.reject(new Error('worker died')),
    };
    shadow.set({ detector: broken, model: broken.model }, 1);
    const results: FrameResult[] = [];
    const pipeline = new InspectionPipeline(
      listSource(
        [10, 80, 20, 90].map((m, i) => image(m, i * 4)),
        { live: false },
      ),
      new ScriptedDetector(),
      (result) => {
        results.push(result);
      },
      { ...gateOff, shadow },
    );
    await pipeline.run();
    expect(results.map((r) => [r.decision, r.shadow])).toEqual([
      ['PASS', undefined],
      ['FAIL', undefined],
      ['PASS', undefined],
      ['FAIL', undefined],
    ]);
    expect(shadow.stats().failures).toBe(4);
    expect(logs).toEqual([
      expect.stringMatching(/shadow model broken failed on frame 0 .*worker died/),
    ]);
  });
});
