import { describe, expect, it } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import type { Detector, DetectorOutput, ModelInfo } from '../vision/detector.js';
import type { RgbImage } from '../vision/image.js';
import { SwappableDetector } from './swappable-detector.js';

const IMAGE: RgbImage = { width: 2, height: 2, data: new Uint8Array(12) };

function modelInfo(path: string): ModelInfo {
  const version = path.replace(/\.onnx$/, '');
  return {
    path,
    sha256: `${version}-sha`,
    version,
    inputName: 'images',
    outputName: 'output0',
    inputWidth: 4,
    inputHeight: 4,
    stride: 32,
    classNames: ['scratch'],
    layout: 'yolov8',
    metadata: {},
  };
}

/** A detector whose detect() calls wait until released, so a test controls the timing. */
class FakeDetector implements Detector {
  loaded: ModelInfo | null = null;
  disposed = false;
  detectCalls = 0;
  readonly held: (() => void)[] = [];
  hold = false;

  constructor(private readonly failLoad: string | null = null) {}

  get model(): ModelInfo {
    if (!this.loaded) throw new VisionLoopError('MODEL_NOT_FOUND', 'not loaded');
    return this.loaded;
  }

  load(path: string): Promise<ModelInfo> {
    if (this.failLoad !== null) {
      return Promise.reject(new VisionLoopError('MODEL_LOAD_FAILED', this.failLoad));
    }
    this.loaded = modelInfo(path);
    return Promise.resolve(this.loaded);
  }

  async detect(): Promise<DetectorOutput> {
    if (this.disposed) throw new Error('detect on a disposed detector');
    this.detectCalls++;
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    return {
      detections: [
        {
          classId: 0,
          className: this.model.version,
          confidence: 0.9,
          box: { x1: 0, y1: 0, x2: 1, y2: 1 },
        },
      ],
      timings: { preprocessMs: 0, inferenceMs: 1, postprocessMs: 0 },
    };
  }

  dispose(): Promise<void> {
    this.disposed = true;
    return Promise.resolve();
  }
}

function factory(failures: Record<number, string> = {}) {
  const created: FakeDetector[] = [];
  const create = (): Detector => {
    const detector = new FakeDetector(failures[created.length] ?? null);
    created.push(detector);
    return detector;
  };
  return { created, create };
}

describe('SwappableDetector', () => {
  it('labels each output with the version that produced it, across a swap', async () => {
    const { created, create } = factory();
    const detector = new SwappableDetector(create);
    await detector.load('v1.onnx');
    const before = await detector.detect(IMAGE);
    const result = await detector.swapTo('v2.onnx');
    const after = await detector.detect(IMAGE);
    expect(before.modelVersion).toBe('v1');
    expect(before.detections[0]?.className).toBe('v1');
    expect(after.modelVersion).toBe('v2');
    expect(after.detections[0]?.className).toBe('v2');
    expect(result.previous?.version).toBe('v1');
    expect(detector.model.version).toBe('v2');
    expect(detector.swaps).toBe(1);
    await detector.settled();
    expect(created.map((d) => d.disposed)).toEqual([true, false]);
    // Each new model is warmed up through detect() before it takes traffic.
    expect(created[1]?.detectCalls).toBe(2);
  });

  it('lets calls in flight finish on the old model and disposes it only after them', async () => {
    const { created, create } = factory();
    const detector = new SwappableDetector(create);
    await detector.load('v1.onnx');
    const old = created[0]!;
    old.hold = true;
    const inFlight = [detector.detect(IMAGE), detector.detect(IMAGE)];
    await detector.swapTo('v2.onnx');
    const next = await detector.detect(IMAGE);
    expect(next.modelVersion).toBe('v2');
    expect(old.disposed).toBe(false);
    old.held.shift()?.();
    expect((await inFlight[0])?.modelVersion).toBe('v1');
    expect(old.disposed).toBe(false);
    old.held.shift()?.();
    expect((await inFlight[1])?.modelVersion).toBe('v1');
    await detector.settled();
    expect(old.disposed).toBe(true);
  });

  it('keeps the old model when the new one fails to load or is refused by the check', async () => {
    const { created, create } = factory({ 1: 'corrupt file' });
    const detector = new SwappableDetector(create);
    await detector.load('v1.onnx');
    await expect(detector.swapTo('v2.onnx')).rejects.toMatchObject({
      code: 'MODEL_LOAD_FAILED',
      message: 'corrupt file',
    });
    await expect(
      detector.swapTo('v3.onnx', (model) => {
        throw new VisionLoopError('MODEL_LOAD_FAILED', `refused ${model.version}`);
      }),
    ).rejects.toThrow('refused v3');
    expect((await detector.detect(IMAGE)).modelVersion).toBe('v1');
    expect(detector.swaps).toBe(0);
    expect(created.map((d) => d.disposed)).toEqual([false, true, true]);
  });

  it('runs swaps one at a time, in order', async () => {
    const { create } = factory();
    const detector = new SwappableDetector(create);
    await detector.load('v1.onnx');
    const swaps = await Promise.all([detector.swapTo('v2.onnx'), detector.swapTo('v3.onnx')]);
    expect(swaps.map((s) => [s.previous?.version, s.model.version])).toEqual([
      ['v1', 'v2'],
      ['v2', 'v3'],
    ]);
    expect(detector.model.version).toBe('v3');
  });

  it('refuses swaps after dispose and disposes the last model', async () => {
    const { created, create } = factory();
    const detector = new SwappableDetector(create);
    await detector.load('v1.onnx');
    await detector.dispose();
    expect(created[0]?.disposed).toBe(true);
    await expect(detector.swapTo('v2.onnx')).rejects.toMatchObject({ code: 'MODEL_LOAD_FAILED' });
    expect(() => detector.model).toThrow(expect.objectContaining({ code: 'MODEL_NOT_FOUND' }));
  });
});
