import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeResult } from '../../test/helpers/frame-results.js';
import type { AgentSettings } from '../shared/api/agents.js';
import { createRgbImage } from '../vision/image.js';
import type { CapturedFrame } from './frame-source.js';
import { OutboxWriter, encodeJpeg, shouldUploadFrame } from './outbox-writer.js';
import { Outbox, type AppendOutcome } from './outbox.js';

let dir: string;
let outbox: Outbox;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'visionloop-writer-'));
  outbox = Outbox.open(join(dir, 'outbox.db'));
});

afterEach(() => {
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
});

function frame(index: number): CapturedFrame {
  const image = createRgbImage(32, 24, 0);
  // A gradient, so the JPEG is not trivially small.
  for (let p = 0; p < 32 * 24; p++) image.data.fill(p % 256, p * 3, p * 3 + 3);
  return { index, capturedAt: 0, image };
}

describe('shouldUploadFrame', () => {
  it('follows the server policy', () => {
    const sure = makeResult(1, { uncertain: false });
    const unsure = makeResult(2, { uncertain: true });
    expect([sure, unsure].map((r) => shouldUploadFrame('none', r))).toEqual([false, false]);
    expect([sure, unsure].map((r) => shouldUploadFrame('uncertain', r))).toEqual([false, true]);
    expect([sure, unsure].map((r) => shouldUploadFrame('all', r))).toEqual([true, true]);
  });
});

describe('OutboxWriter', () => {
  it('commits in batches of flushEveryResults, with the JPEGs of sampled frames', async () => {
    const commits: AppendOutcome[] = [];
    const settings: AgentSettings = { revision: 1, uploadFrames: 'uncertain', jpegQuality: 80 };
    const writer = new OutboxWriter(outbox, {
      settings: () => settings,
      flushEveryResults: 4,
      flushIntervalMs: 60_000,
      onCommitted: (outcome) => commits.push(outcome),
    });
    for (let i = 0; i < 4; i++) writer.add(makeResult(i, { uncertain: i === 0 }), frame(i));
    // The fourth result triggers a commit (the timer is a minute away).
    while (outbox.stats().pendingResults < 4)
      await new Promise((resolve) => setTimeout(resolve, 5));
    for (let i = 4; i < 10; i++) writer.add(makeResult(i, { uncertain: i === 5 }), frame(i));
    await writer.close();
    expect(outbox.stats().pendingResults).toBe(10);
    expect(commits[0]).toEqual({ appended: 4, framesAppended: 1, shedResults: 0, shedFrames: 0 });
    expect(commits.reduce((sum, c) => sum + c.appended, 0)).toBe(10);
    expect(outbox.stats().pendingFrames).toBe(2);
    outbox.acknowledgeResults(outbox.peekResults(10).map((r) => r.seq));
    const frames = outbox.peekFrames(10);
    expect(frames.map((f) => f.resultId)).toEqual(['r-000', 'r-005']);
    const decoded = await sharp(frames[0]!.jpeg).metadata();
    expect([decoded.format, decoded.width, decoded.height]).toEqual(['jpeg', 32, 24]);
    expect(writer.produced).toBe(10);
  });

  it('commits on its timer when results trickle in', async () => {
    const writer = new OutboxWriter(outbox, {
      settings: () => ({ revision: 0, uploadFrames: 'none', jpegQuality: 85 }),
      flushIntervalMs: 10,
    });
    writer.add(makeResult(1), frame(1));
    expect(outbox.stats().pendingResults).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(outbox.stats().pendingResults).toBe(1);
    await writer.close();
  });

  it('encodes at the quality the settings ask for', async () => {
    const image = frame(0).image;
    const small = await encodeJpeg(image, 30);
    const large = await encodeJpeg(image, 100);
    expect(small.length).toBeLessThan(large.length);
    expect([...small.subarray(0, 2)]).toEqual([0xff, 0xd8]);
  });
});
