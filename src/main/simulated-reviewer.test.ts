import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { LabelingItem } from '../shared/api/labeling.js';
import { SynthCamera } from '../synth/camera.js';
import { parseScenario } from '../synth/scenario.js';
import type { RgbImage } from '../vision/image.js';
import { SynthGroundTruth, frameIndexOf, type SynthLineSpec } from './simulated-reviewer.js';

const LINE: SynthLineSpec = { scenario: 'nominal:20,night', seed: 4, fps: 15 };
const camera = new SynthCamera({ scenario: parseScenario(LINE.scenario), seed: 4, fps: 15 });

async function jpeg(image: RgbImage, quality = 80, width?: number): Promise<Buffer> {
  let pipeline = sharp(Buffer.from(image.data), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
  if (width !== undefined) pipeline = pipeline.resize(width);
  return pipeline.jpeg({ quality }).toBuffer();
}

function item(index: number, overrides: Partial<LabelingItem> = {}): LabelingItem {
  return {
    id: `lq-${index}`,
    predictionId: `0c8d30d3-${index}`,
    camera: 'synth-line-1',
    capturedAt: 1_700_000_000_000,
    frameUrl: `/api/frames/0c8d30d3-${index}`,
    width: 640,
    height: 480,
    status: 'claimed',
    priority: 1.5,
    reason: 'novelty',
    strategy: null,
    strategyScore: null,
    modelVersion: 'seed-v1',
    preLabels: [],
    claim: null,
    labels: null,
    labeledBy: null,
    labeledAt: null,
    leadTimeMs: null,
    notes: null,
    flaggedReason: null,
    reviewedBy: null,
    reviewedAt: null,
    reviewNotes: null,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

describe('frameIndexOf', () => {
  it('reads the frame index at the end of a result id', () => {
    expect(frameIndexOf('0c8d30d3-211')).toBe(211);
    expect(frameIndexOf('run-a-0')).toBe(0);
    expect(frameIndexOf('0c8d30d3')).toBeNull();
    expect(frameIndexOf('0c8d30d3-x1')).toBeNull();
    expect(frameIndexOf(null)).toBeNull();
  });
});

describe('the simulated reviewer’s ground truth', () => {
  it('labels a queued frame with the boxes the line rendered into it, night frames too', async () => {
    for (const index of [30, 450]) {
      const frame = camera.frame(index);
      expect(frame.preset).toBe(index === 30 ? 'nominal' : 'night');
      const bytes = await jpeg(frame.image, 70);
      const truth = new SynthGroundTruth({ 'synth-line-1': LINE }, () => Promise.resolve(bytes));
      const answer = await truth.truthFor(item(index));
      expect(answer).toEqual({
        kind: 'boxes',
        boxes: frame.objects.map((o) => ({
          className: o.className,
          box: {
            x1: Math.round(o.box.x1 * 100) / 100,
            y1: Math.round(o.box.y1 * 100) / 100,
            x2: Math.round(o.box.x2 * 100) / 100,
            y2: Math.round(o.box.y2 * 100) / 100,
          },
        })),
      });
    }
  });

  it('answers "no defects" with an empty list for a frame without any', async () => {
    let index = 0;
    while (camera.frame(index).objects.length > 0) index += 7;
    const bytes = await jpeg(camera.frame(index).image);
    const truth = new SynthGroundTruth({ 'synth-line-1': LINE }, () => Promise.resolve(bytes));
    expect(await truth.truthFor(item(index))).toEqual({ kind: 'boxes', boxes: [] });
  });

  it("labels a faster belt's frames (`?belt=`) with that line's boxes, on a render worker too", async () => {
    const fast: SynthLineSpec = { scenario: 'nominal?belt=192', seed: 4, fps: 15 };
    const line = new SynthCamera({ scenario: parseScenario(fast.scenario), seed: 4, fps: 15 });
    const frame = line.frame(300);
    expect(frame.objects.map((o) => o.box)).not.toEqual(
      camera.frame(300).objects.map((o) => o.box),
    );
    const bytes = await jpeg(frame.image, 85);
    for (const inWorker of [false, true]) {
      const truth = new SynthGroundTruth(
        { 'synth-line-1': fast },
        () => Promise.resolve(bytes),
        inWorker,
      );
      const answer = await truth.truthFor(item(300));
      await truth.close();
      expect(answer.kind === 'boxes' ? answer.boxes.map((b) => b.className) : answer).toEqual(
        frame.objects.map((o) => o.className),
      );
    }
  });

  it('scales the boxes to the size the frame was stored at', async () => {
    const frame = camera.frame(90);
    expect(frame.objects.length).toBeGreaterThan(0);
    const bytes = await jpeg(frame.image, 80, 320);
    const truth = new SynthGroundTruth({ 'synth-line-1': LINE }, () => Promise.resolve(bytes));
    const answer = await truth.truthFor(item(90, { width: 320, height: 240 }));
    expect(answer.kind).toBe('boxes');
    if (answer.kind !== 'boxes') return;
    const first = frame.objects[0]!;
    expect(answer.boxes[0]?.box.x1).toBeCloseTo(first.box.x1 / 2, 2);
    expect(answer.boxes[0]?.box.y2).toBeCloseTo(first.box.y2 / 2, 2);
  });

  it('refuses a frame that is not the one its id names, and cameras it does not know', async () => {
    // Another frame of the line (the part moved on), or another seed's line: no label.
    const moved = await jpeg(camera.frame(130).image);
    const truth = new SynthGroundTruth({ 'synth-line-1': LINE }, () => Promise.resolve(moved));
    const answer = await truth.truthFor(item(30));
    expect(answer.kind).toBe('unknown');
    if (answer.kind === 'unknown') expect(answer.why).toMatch(/does not match frame 30/);

    const other = new SynthCamera({ scenario: parseScenario(LINE.scenario), seed: 5, fps: 15 });
    const otherSeed = await jpeg(other.frame(30).image);
    const seeded = new SynthGroundTruth({ 'synth-line-1': LINE }, () => Promise.resolve(otherSeed));
    expect((await seeded.truthFor(item(30))).kind).toBe('unknown');

    expect(await truth.truthFor(item(30, { camera: 'dock-camera' }))).toEqual({
      kind: 'unknown',
      why: 'camera dock-camera is not a synthetic line',
    });
    expect((await truth.truthFor(item(30, { predictionId: 'imported' }))).kind).toBe('unknown');
  });
});
