import { describe, expect, it } from 'vitest';
import { SYNTH_CLASSES } from '../../shared/domain.js';
import type { CapturedFrame } from '../frame-source.js';
import { openSynthSource } from './synth.source.js';

async function collect(frames: AsyncIterable<CapturedFrame>): Promise<CapturedFrame[]> {
  const out: CapturedFrame[] = [];
  for await (const frame of frames) out.push(frame);
  return out;
}

// Small frames keep rendering cheap; the camera's own tests cover full-size output.
const SIZE = { width: 128, height: 96 };

describe('synthetic source', () => {
  it('delivers maxFrames frames with ground truth inside the frame, deterministic from the seed', async () => {
    // `static` always shows a part with defects on it, so there is ground truth to check.
    const source = await openSynthSource('static', { ...SIZE, seed: 7, maxFrames: 3 });
    expect(source.description).toBe('synth:static (seed 7, 15 fps, unpaced)');
    expect(source.fps).toBeNull();
    const first = await collect(source.frames());
    expect(first.map((frame) => frame.index)).toEqual([0, 1, 2]);
    for (const frame of first) {
      expect([frame.image.width, frame.image.height]).toEqual([128, 96]);
      expect(frame.image.data).toHaveLength(128 * 96 * 3);
      expect(frame.label).toBe('synth:nominal');
      expect(frame.groundTruth?.length).toBeGreaterThan(0);
      for (const truth of frame.groundTruth ?? []) {
        expect(SYNTH_CLASSES[truth.classId]).toBe(truth.className);
        expect(truth.box.x1).toBeGreaterThanOrEqual(0);
        expect(truth.box.y1).toBeGreaterThanOrEqual(0);
        expect(truth.box.x1).toBeLessThan(truth.box.x2);
        expect(truth.box.y1).toBeLessThan(truth.box.y2);
        expect(truth.box.x2).toBeLessThanOrEqual(128);
        expect(truth.box.y2).toBeLessThanOrEqual(96);
      }
    }

    const again = await collect(
      (await openSynthSource('static', { ...SIZE, seed: 7, maxFrames: 3 })).frames(),
    );
    expect(again.map((frame) => frame.image.data)).toEqual(first.map((frame) => frame.image.data));
    expect(again.map((frame) => frame.groundTruth)).toEqual(
      first.map((frame) => frame.groundTruth),
    );

    const otherSeed = await collect(
      (await openSynthSource('static', { ...SIZE, seed: 8, maxFrames: 1 })).frames(),
    );
    expect(otherSeed[0]?.image.data).not.toEqual(first[0]?.image.data);
  });

  it('paces at the requested fps and runs the scenario clock at that rate', async () => {
    const source = await openSynthSource('nominal', { ...SIZE, fps: 50, maxFrames: 4 });
    expect(source.fps).toBe(50);
    expect(source.camera.fps).toBe(50);
    expect(source.description).toBe('synth:nominal (seed 1, 50 fps)');
    const times: number[] = [];
    for await (const _frame of source.frames()) times.push(performance.now());
    // A lower bound (never early), less 5 ms for the consumer's clock read lagging the schedule.
    expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(3 * 20 - 5);
  });

  it('ends the iteration when the signal aborts', async () => {
    const source = await openSynthSource('nominal', { ...SIZE });
    const controller = new AbortController();
    const seen: number[] = [];
    for await (const frame of source.frames(controller.signal)) {
      seen.push(frame.index);
      if (frame.index === 1) controller.abort();
    }
    expect(seen).toEqual([0, 1]);
  });

  it('ends a wait for the next paced frame when the source is closed', async () => {
    // One frame per 1000 s: only close() can end the wait for the second frame.
    const source = await openSynthSource('nominal', { ...SIZE, fps: 0.001 });
    const iterator = source.frames()[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    const second = iterator.next();
    await source.close();
    expect((await second).done).toBe(true);
    await expect(source.frames()[Symbol.asyncIterator]().next()).rejects.toThrow('is closed');
  });

  it('renders a live line on a worker thread: the same pixels and boxes as rendered here', async () => {
    const live = await openSynthSource('drift-demo', {
      ...SIZE,
      fps: 15,
      maxFrames: 4,
      seed: 3,
    });
    const here = await openSynthSource('drift-demo', { ...SIZE, maxFrames: 4, seed: 3 });
    const [a, b] = [await collect(live.frames()), await collect(here.frames())];
    await live.close();
    expect(a.map((f) => f.index)).toEqual([0, 1, 2, 3]);
    for (const [i, frame] of a.entries()) {
      expect(Buffer.from(frame.image.data).equals(Buffer.from(b[i]!.image.data))).toBe(true);
      expect(frame.image.width).toBe(b[i]!.image.width);
      expect(frame.groundTruth).toEqual(b[i]!.groundTruth);
      expect(frame.label).toBe(b[i]!.label);
    }
  });
});
