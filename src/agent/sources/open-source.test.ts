import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VisionLoopError } from '../../shared/errors.js';
import { FfmpegSource } from './ffmpeg.source.js';
import { writeVideo } from './ffmpeg-write.js';
import { FolderSource } from './folder.source.js';
import { openSource } from './open-source.js';
import { SynthSource } from './synth.source.js';

async function caught(promise: Promise<unknown>): Promise<VisionLoopError> {
  const error: unknown = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(VisionLoopError);
  return error as VisionLoopError;
}

let root: string;
let video: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'visionloop-open-source-'));
  const frame = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(90) };
  await writeVideo([frame, frame, frame], path.join(root, 'clip.mkv'), { fps: 5 });
  // No video extension on purpose: any existing file goes to ffmpeg.
  video = path.join(root, 'clip.bin');
  await rename(path.join(root, 'clip.mkv'), video);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('openSource', () => {
  it('opens a missing path as SOURCE_NOT_FOUND naming it', async () => {
    const missing = path.join(root, 'nope', 'line3.mp4');
    const error = await caught(openSource(missing));
    expect(error.code).toBe('SOURCE_NOT_FOUND');
    expect(error.message).toContain(missing);
  });

  it('reports a missing camera device as SOURCE_NOT_FOUND', async () => {
    const error = await caught(openSource('/dev/video97'));
    expect(error.code).toBe('SOURCE_NOT_FOUND');
    expect(error.message).toBe('camera device /dev/video97 does not exist');
  });

  it('rejects unknown schemes as SOURCE_UNSUPPORTED, listing what is supported', async () => {
    for (const spec of ['rtmp://camera.local/live', 'webcam:0']) {
      const error = await caught(openSource(spec));
      expect(error.code).toBe('SOURCE_UNSUPPORTED');
      expect(error.message).toContain(spec);
      expect(error.message).toContain('rtsp://');
    }
  });

  it('rejects an empty spec and bad options as INVALID_ARGUMENT', async () => {
    expect((await caught(openSource(''))).code).toBe('INVALID_ARGUMENT');
    expect((await caught(openSource(root, { fps: -1 }))).code).toBe('INVALID_ARGUMENT');
    expect((await caught(openSource('synth:nominal', { maxFrames: 1.5 }))).code).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('rejects an unknown synthetic scenario with INVALID_ARGUMENT', async () => {
    const error = await caught(openSource('synth:moonlight'));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('nominal');
  });

  it('picks the source kind from the spec', async () => {
    const dir = path.join(root, 'empty-dir');
    await mkdir(dir);
    expect((await caught(openSource(dir))).code).toBe('SOURCE_EMPTY');
    expect(await openSource('synth:nominal', { maxFrames: 1 })).toBeInstanceOf(SynthSource);

    const file = await openSource(video);
    expect(file).toBeInstanceOf(FfmpegSource);
    expect(file.description).toBe(`video ${video} (16x16)`);
    const viaUrl = await openSource(pathToFileURL(video).href, { width: 8, height: 8 });
    expect(viaUrl.description).toBe(`video ${video} (8x8)`);

    await writeFile(path.join(dir, 'a.png'), Buffer.alloc(0));
    expect(await openSource(dir)).toBeInstanceOf(FolderSource);
  });
});
