import { describe, expect, it } from 'vitest';
import type { Detector, DetectorOutput, ModelInfo } from '../vision/detector.js';
import { HotSwapSlot } from './hot-swap-slot.js';

/** A detector that only records whether it was disposed. */
class RecordingDetector implements Detector {
  disposed = false;

  constructor(readonly id: number) {}

  get model(): ModelInfo {
    throw new Error('not used');
  }

  load(): Promise<ModelInfo> {
    return Promise.reject(new Error('not used'));
  }

  detect(): Promise<DetectorOutput> {
    return Promise.resolve({
      detections: [],
      timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 },
    });
  }

  dispose(): Promise<void> {
    this.disposed = true;
    return Promise.resolve();
  }
}

function slotWithDetectors() {
  const created: RecordingDetector[] = [];
  const slot = new HotSwapSlot<string>(() => {
    const detector = new RecordingDetector(created.length);
    created.push(detector);
    return detector;
  });
  return { slot, created };
}

describe('HotSwapSlot', () => {
  it('holds a model for a call that started on it and disposes it after that call', async () => {
    const { slot, created } = slotWithDetectors();
    await slot.serialize(() => slot.swapIn(() => Promise.resolve('v1')));
    let finish!: () => void;
    const call = slot.use(
      (_detector, model) => new Promise<string>((resolve) => (finish = () => resolve(model))),
      () => new Error('empty'),
    );
    expect(slot.inFlight).toBe(1);
    const swap = await slot.serialize(() => slot.swapIn(() => Promise.resolve('v2')));
    expect(swap).toEqual({ model: 'v2', previous: 'v1' });
    expect(slot.model).toBe('v2');
    expect(created[0]?.disposed).toBe(false);
    finish();
    await expect(call).resolves.toBe('v1');
    await slot.settled();
    expect(created[0]?.disposed).toBe(true);
    expect(created[1]?.disposed).toBe(false);
  });

  it('disposes a detector whose preparation failed, keeps the current one, and runs the next swap', async () => {
    const { slot, created } = slotWithDetectors();
    await slot.serialize(() => slot.swapIn(() => Promise.resolve('v1')));
    const failed = slot.serialize(() => slot.swapIn(() => Promise.reject(new Error('bad model'))));
    const next = slot.serialize(() => slot.swapIn(() => Promise.resolve('v3')));
    await expect(failed).rejects.toThrow('bad model');
    await expect(next).resolves.toEqual({ model: 'v3', previous: 'v1' });
    await slot.settled();
    expect(created.map((detector) => detector.disposed)).toEqual([true, true, false]);
  });

  it('answers an empty slot with the caller’s error and disposes everything on close', async () => {
    const { slot, created } = slotWithDetectors();
    await expect(
      slot.use(
        () => Promise.resolve(1),
        () => new Error('nothing loaded'),
      ),
    ).rejects.toThrow('nothing loaded');
    await slot.serialize(() => slot.swapIn(() => Promise.resolve('v1')));
    await slot.close();
    expect(slot.closed).toBe(true);
    expect(slot.model).toBeNull();
    expect(created[0]?.disposed).toBe(true);
  });
});
