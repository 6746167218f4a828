import { describe, expect, it } from 'vitest';
import type { Detection, FrameResult } from '../shared/domain.js';
import type { Detector, DetectorOutput, ModelInfo } from '../vision/detector.js';
import type { RgbImage } from '../vision/image.js';
import type { CapturedFrame, FrameSource } from './frame-source.js';
import { DEFAULT_MOTION_GATE } from './motion-gate.js';
import { InspectionPipeline } from './pipeline.js';

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
});
