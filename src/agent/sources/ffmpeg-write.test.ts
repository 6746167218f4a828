import { access, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VisionLoopError } from '../../shared/errors.js';
import { createRgbImage, type RgbImage } from '../../vision/image.js';
import { openFfmpegSource } from './ffmpeg.source.js';
import { defaultCodecFor, writeVideo } from './ffmpeg-write.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visionloop-ffmpeg-write-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function* generated(count: number, width: number, height: number): AsyncGenerator<RgbImage> {
  // One buffer reused for every frame: writeVideo must be done with it before asking for more.
  const image = createRgbImage(width, height);
  for (let k = 0; k < count; k += 1) {
    image.data.fill(k * 40);
    yield image;
    await Promise.resolve();
  }
}

describe('writeVideo', () => {
  it('chooses a codec from the extension', () => {
    expect(defaultCodecFor('/x/a.MKV')).toBe('ffv1');
    expect(defaultCodecFor('/x/a.avi')).toBe('mjpeg');
    expect(defaultCodecFor('/x/a.mp4')).toBe('libx264');
  });

  it('writes frames from an async generator that reuses its buffer, odd sizes included', async () => {
    const out = path.join(dir, 'odd.mp4');
    const written = await writeVideo(generated(4, 17, 9), out, { fps: 10 });
    expect(written).toEqual({ path: out, frames: 4, width: 17, height: 9, codec: 'libx264' });
    const means: number[] = [];
    for await (const frame of (await openFfmpegSource(out)).frames()) {
      means.push(frame.image.data.reduce((sum, value) => sum + value, 0) / frame.image.data.length);
    }
    expect(means.map((mean) => Math.round(mean / 40))).toEqual([0, 1, 2, 3]);
  });

  it('rejects frames of mixed sizes and removes the partial file', async () => {
    const out = path.join(dir, 'mixed.mkv');
    const error: unknown = await writeVideo(
      [createRgbImage(8, 8), createRgbImage(8, 8), createRgbImage(6, 8)],
      out,
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(VisionLoopError);
    expect((error as VisionLoopError).code).toBe('INVALID_ARGUMENT');
    expect((error as VisionLoopError).message).toContain('frame 2 is 6x8');
    await expect(access(out)).rejects.toThrow();
  });

  it('rejects an empty frame list', async () => {
    const error: unknown = await writeVideo([], path.join(dir, 'none.mkv')).catch(
      (caught: unknown) => caught,
    );
    expect((error as VisionLoopError).code).toBe('INVALID_ARGUMENT');
  });
});
