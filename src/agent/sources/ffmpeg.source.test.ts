import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VisionLoopError } from '../../shared/errors.js';
import type { RgbImage } from '../../vision/image.js';
import type { CapturedFrame } from '../frame-source.js';
import { openFfmpegSource, type FfmpegSource } from './ffmpeg.source.js';
import { writeVideo } from './ffmpeg-write.js';

/** A frame with a horizontal red ramp, a vertical green ramp and a blue square that moves with k. */
function testFrame(width: number, height: number, k: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const i = (y * width + x) * 3;
      const inSquare = x >= 4 + 3 * k && x < 20 + 3 * k && y >= 8 && y < 24;
      data[i] = Math.round((x * 255) / (width - 1));
      data[i + 1] = Math.round((y * 255) / (height - 1));
      data[i + 2] = inSquare ? 230 : 30;
    }
  }
  return { width, height, data };
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return sum / a.length;
}

async function collect(frames: AsyncIterable<CapturedFrame>): Promise<CapturedFrame[]> {
  const out: CapturedFrame[] = [];
  for await (const frame of frames) out.push(frame);
  return out;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function expectVisionLoopError(
  promise: Promise<unknown>,
  code: string,
  ...fragments: string[]
): Promise<VisionLoopError> {
  const error: unknown = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(VisionLoopError);
  const visionError = error as VisionLoopError;
  expect(visionError.code).toBe(code);
  for (const fragment of fragments) expect(visionError.message).toContain(fragment);
  return visionError;
}

const W = 64;
const H = 48;
const COUNT = 12;
const frames = Array.from({ length: COUNT }, (_, k) => testFrame(W, H, k));

let dir: string;
let losslessMkv: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visionloop-ffmpeg-source-'));
  losslessMkv = path.join(dir, 'lossless.mkv');
  await writeVideo(frames, losslessMkv, { fps: 25, codec: 'ffv1' });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ffmpeg source: decoding', () => {
  it('decodes a lossless (ffv1) video back to the same frame count, size and pixels', async () => {
    const source = await openFfmpegSource(losslessMkv);
    const decoded = await collect(source.frames());
    expect(decoded).toHaveLength(COUNT);
    expect(decoded.map((frame) => frame.index)).toEqual([...Array(COUNT).keys()]);
    for (const [k, frame] of decoded.entries()) {
      expect([frame.image.width, frame.image.height]).toEqual([W, H]);
      expect(frame.image.data).toEqual(frames[k]?.data);
    }
    expect(source.description).toBe(`video ${losslessMkv} (${W}x${H})`);
    expect(source.fps).toBeNull();
    expect(source.processIds).toEqual([]);
  });

  it('decodes a lossless rawvideo .avi exactly, probing through ffmpeg when there is no ffprobe', async () => {
    const avi = path.join(dir, 'raw.avi');
    await writeVideo(frames.slice(0, 5), avi, { fps: 10, codec: 'rawvideo' });
    const source = await openFfmpegSource(avi, { ffprobePath: null });
    const decoded = await collect(source.frames());
    expect(decoded.map((frame) => frame.image.data)).toEqual(
      frames.slice(0, 5).map((frame) => frame.data),
    );
  });

  it('decodes an H.264 mp4 to the same frame count and size, with pixels close to the originals', async () => {
    const mp4 = path.join(dir, 'lossy.mp4');
    const written = await writeVideo(frames, mp4, { fps: 15 });
    expect(written.codec).toBe('libx264');
    const decoded = await collect((await openFfmpegSource(mp4)).frames());
    expect(decoded).toHaveLength(COUNT);
    expect(decoded[0]?.image.width).toBe(W);
    expect(decoded[0]?.image.height).toBe(H);
    // RGB order matters: a BGR mix-up would differ by ~100 on average here.
    for (const [k, frame] of decoded.entries()) {
      expect(meanAbsDiff(frame.image.data, frames[k]?.data ?? new Uint8Array())).toBeLessThan(6);
    }
  });

  it('scales to a requested width keeping the aspect ratio, and stops after maxFrames', async () => {
    const source = await openFfmpegSource(losslessMkv, { width: 32, maxFrames: 5 });
    const decoded = await collect(source.frames());
    expect(decoded.map((frame) => frame.index)).toEqual([0, 1, 2, 3, 4]);
    for (const frame of decoded) {
      expect([frame.image.width, frame.image.height]).toEqual([32, 24]);
      expect(frame.image.data).toHaveLength(32 * 24 * 3);
    }
    // ffmpeg still had frames to give; stopping early must not leave it running.
    expect(source.processIds).toEqual([]);
  });
});

describe('ffmpeg source: bad input', () => {
  it('reports a corrupt video as SOURCE_UNREADABLE with ffmpeg’s reason', async () => {
    const corrupt = path.join(dir, 'corrupt.mp4');
    // Seeded pseudo-random bytes (LCG), not a video.
    const bytes = Buffer.alloc(4096);
    let state = 12345;
    for (let i = 0; i < bytes.length; i += 1) {
      state = (state * 1103515245 + 12345) >>> 0;
      bytes[i] = state >>> 24;
    }
    await writeFile(corrupt, bytes);
    await expectVisionLoopError(
      openFfmpegSource(corrupt),
      'SOURCE_UNREADABLE',
      corrupt,
      'Invalid data found when processing input',
    );
    await expectVisionLoopError(
      openFfmpegSource(corrupt, { ffprobePath: null }),
      'SOURCE_UNREADABLE',
      'Invalid data found when processing input',
    );
  });

  it('reports a corrupt video with an explicit size when decoding starts', async () => {
    const corrupt = path.join(dir, 'text.mkv');
    await writeFile(corrupt, 'not a video at all\n'.repeat(50));
    const source = await openFfmpegSource(corrupt, { width: 16, height: 16 });
    await expectVisionLoopError(collect(source.frames()), 'SOURCE_UNREADABLE', corrupt);
    expect(source.processIds).toEqual([]);
  });

  it('names the configured ffmpeg path and the install command when ffmpeg is missing', async () => {
    await expectVisionLoopError(
      openFfmpegSource(losslessMkv, { ffmpegPath: path.join(dir, 'no-ffmpeg-here') }),
      'FFMPEG_MISSING',
      'no-ffmpeg-here',
      'apt-get install ffmpeg',
    );
  });
});

describe('ffmpeg source: lifecycle', () => {
  // Frames large enough that ffmpeg fills the pipe and blocks: it is still running mid-stream.
  let bigVideo: string;
  beforeAll(async () => {
    bigVideo = path.join(dir, 'big.mkv');
    const frame = testFrame(320, 240, 0);
    await writeVideo(
      Array.from({ length: 30 }, () => frame),
      bigVideo,
      { fps: 30, codec: 'ffv1' },
    );
  });

  it('kills ffmpeg when the signal aborts mid-stream, and ends the iteration', async () => {
    // An explicit size skips the probe (fewer processes, faster test).
    const source: FfmpegSource = await openFfmpegSource(bigVideo, { width: 320, height: 240 });
    const controller = new AbortController();
    const iterator = source.frames(controller.signal)[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    const [pid] = source.processIds;
    expect(pid).toBeTypeOf('number');
    expect(isRunning(pid ?? -1)).toBe(true);

    controller.abort();
    expect((await iterator.next()).done).toBe(true);
    expect(isRunning(pid ?? -1)).toBe(false);
    expect(source.processIds).toEqual([]);
  });

  it('kills ffmpeg when the consumer stops early, and on close()', async () => {
    const source = await openFfmpegSource(bigVideo, { width: 320, height: 240 });
    let pid = -1;
    for await (const frame of source.frames()) {
      pid = source.processIds[0] ?? -1;
      if (frame.index === 2) break;
    }
    expect(isRunning(pid)).toBe(false);

    const iterator = source.frames()[Symbol.asyncIterator]();
    await iterator.next();
    const second = source.processIds[0] ?? -1;
    expect(isRunning(second)).toBe(true);
    await source.close();
    expect(isRunning(second)).toBe(false);
    await source.close();
    expect((await iterator.next()).done).toBe(true);
  });

  it('loops a file when asked, continuing the frame numbers', async () => {
    const source = await openFfmpegSource(losslessMkv, {
      width: W,
      height: H,
      loop: true,
      maxFrames: COUNT + 3,
    });
    const decoded = await collect(source.frames());
    expect(decoded).toHaveLength(COUNT + 3);
    expect(decoded[COUNT]?.index).toBe(COUNT);
    expect(decoded[COUNT]?.image.data).toEqual(frames[0]?.data);
  });

  it('delivers no faster than the requested fps', async () => {
    const fps = 50;
    const count = 8;
    const source = await openFfmpegSource(losslessMkv, {
      width: W,
      height: H,
      fps,
      maxFrames: count,
    });
    expect(source.fps).toBe(fps);
    const times: number[] = [];
    for await (const _frame of source.frames()) times.push(performance.now());
    expect(times).toHaveLength(count);
    // A lower bound only (the schedule never runs early, however slow the machine is), less
    // 5 ms for the consumer's clock read lagging the schedule's anchor. Unpaced takes ~1 ms.
    expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(
      ((count - 1) * 1000) / fps - 5,
    );
  });
});

describe('ffmpeg source: live streams', () => {
  let server: Server;
  let requests = 0;
  let baseUrl: string;
  let video: Buffer;

  beforeAll(async () => {
    const { readFile } = await import('node:fs/promises');
    video = await readFile(losslessMkv);
    server = createServer((request, response) => {
      requests += 1;
      // The probe and two sessions get the stream; then the "camera" is gone.
      if (requests <= 3) {
        response.writeHead(200, { 'content-type': 'video/x-matroska' });
        response.end(video);
      } else {
        response.writeHead(404);
        response.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('reconnects when a live stream ends, then fails after the configured attempts', async () => {
    const source = await openFfmpegSource(`${baseUrl}/camera`, {
      reconnect: { maxAttempts: 1, initialDelayMs: 10 },
    });
    expect(source.input.live).toBe(true);
    expect(source.fps).toBe(25);
    const delivered: CapturedFrame[] = [];
    const error = await (async () => {
      for await (const frame of source.frames()) delivered.push(frame);
    })().then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(delivered).toHaveLength(2 * COUNT);
    expect(delivered.at(-1)?.index).toBe(2 * COUNT - 1);
    expect(error).toBeInstanceOf(VisionLoopError);
    expect((error as VisionLoopError).code).toBe('SOURCE_UNREADABLE');
    expect((error as VisionLoopError).message).toContain('1 reconnection attempt failed');
    expect((error as VisionLoopError).message).toContain('404');
    // Probe, first session, one successful reconnection, one failed.
    expect(requests).toBe(4);
  });
});
