/**
 * Writes RGB frames to a video file by piping them, raw, into ffmpeg's stdin. Used by tests
 * (videos with known content) and by tools that record the synthetic line. Codecs are the ones
 * Debian's ffmpeg ships: `ffv1` (lossless, .mkv), `rawvideo` (lossless, .avi), `libx264`,
 * `mpeg4` and `mjpeg` (lossy). On failure the partial output file is removed.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { VisionLoopError } from '../../shared/errors.js';
import type { RgbImage } from '../../vision/image.js';
import { collectText, terminateChild, TextTail } from './child-process.js';
import { locateFfmpeg } from './ffmpeg-locate.js';

export type VideoCodec = 'ffv1' | 'rawvideo' | 'libx264' | 'mpeg4' | 'mjpeg';

export interface WriteVideoOptions {
  /** Frame rate stored in the file (default 15). */
  fps?: number;
  /** Default from the extension: .mkv → ffv1, .avi → mjpeg, anything else → libx264. */
  codec?: VideoCodec;
  /** Explicit ffmpeg executable (from the configuration). */
  ffmpegPath?: string;
}

export interface WrittenVideo {
  path: string;
  frames: number;
  width: number;
  height: number;
  codec: VideoCodec;
}

export function defaultCodecFor(outPath: string): VideoCodec {
  const ext = path.extname(outPath).toLowerCase();
  if (ext === '.mkv') return 'ffv1';
  if (ext === '.avi') return 'mjpeg';
  return 'libx264';
}

function codecArgs(codec: VideoCodec, width: number, height: number): string[] {
  const even = width % 2 === 0 && height % 2 === 0;
  switch (codec) {
    case 'ffv1':
      // bgr0 keeps RGB exactly (no YUV conversion), so decoding gives back the same pixels.
      return ['-c:v', 'ffv1', '-pix_fmt', 'bgr0'];
    case 'rawvideo':
      return ['-c:v', 'rawvideo', '-pix_fmt', 'bgr24'];
    case 'libx264':
      // 4:2:0 needs even sides; 4:4:4 works for any size (High 4:4:4 profile).
      return [
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-crf',
        '18',
        '-pix_fmt',
        even ? 'yuv420p' : 'yuv444p',
      ];
    case 'mpeg4':
      return ['-c:v', 'mpeg4', '-q:v', '3', '-pix_fmt', 'yuv420p'];
    case 'mjpeg':
      return ['-c:v', 'mjpeg', '-q:v', '3', '-pix_fmt', 'yuvj420p'];
  }
}

function checkFrame(image: RgbImage, index: number, width: number, height: number): void {
  if (image.width !== width || image.height !== height) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `frame ${index} is ${image.width}x${image.height}; every frame of a video must be ${width}x${height}`,
    );
  }
  if (image.data.length !== width * height * 3) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `frame ${index} has ${image.data.length} bytes, expected ${width * height * 3} (RGB ${width}x${height})`,
    );
  }
}

/**
 * Encodes `frames` (all the same size) into `outPath`, overwriting it. Each frame is flushed to
 * ffmpeg before the next is requested, so a producer may reuse its buffer.
 * @throws VisionLoopError INVALID_ARGUMENT (no frames, mixed sizes), FFMPEG_MISSING, INTERNAL
 *   (ffmpeg failed, with its message).
 */
export async function writeVideo(
  frames: AsyncIterable<RgbImage> | Iterable<RgbImage>,
  outPath: string,
  options: WriteVideoOptions = {},
): Promise<WrittenVideo> {
  const fps = options.fps ?? 15;
  if (!Number.isFinite(fps) || fps <= 0) {
    throw new VisionLoopError('INVALID_ARGUMENT', `fps must be > 0, got ${fps}`);
  }
  const codec = options.codec ?? defaultCodecFor(outPath);
  const iterator =
    Symbol.asyncIterator in frames ? frames[Symbol.asyncIterator]() : frames[Symbol.iterator]();
  const first = await iterator.next();
  if (first.done) throw new VisionLoopError('INVALID_ARGUMENT', `no frames to write to ${outPath}`);
  const { width, height } = first.value;
  checkFrame(first.value, 0, width, height);

  const tools = await locateFfmpeg(
    options.ffmpegPath !== undefined ? { ffmpegPath: options.ffmpegPath } : {},
  );
  const child = spawn(
    tools.ffmpeg,
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-video_size',
      `${width}x${height}`,
      '-framerate',
      String(fps),
      '-i',
      'pipe:0',
      '-an',
      ...codecArgs(codec, width, height),
      outPath,
    ],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  const stderr = new TextTail();
  collectText(child.stderr, stderr);
  let pipeError: Error | null = null;
  child.stdin.on('error', (error) => {
    pipeError ??= error;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (error) => {
      pipeError ??= error;
      if (child.pid === undefined) resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  const writeFrame = (image: RgbImage): Promise<void> =>
    new Promise((resolve) => {
      child.stdin.write(image.data, () => resolve());
    });
  const fail = async (error: unknown): Promise<never> => {
    child.stdin.destroy();
    await terminateChild(child, 2000);
    await exited;
    await rm(outPath, { force: true });
    throw error;
  };

  let count = 0;
  try {
    let next: IteratorResult<RgbImage> = first;
    while (!next.done) {
      checkFrame(next.value, count, width, height);
      await writeFrame(next.value);
      if (pipeError) break;
      count += 1;
      next = await iterator.next();
    }
  } catch (error) {
    return fail(error);
  }
  child.stdin.end();
  const code = await exited;
  if (code !== 0 || pipeError) {
    const detail =
      stderr.summary(3) || (pipeError ? String(pipeError) : `ffmpeg exited with code ${code}`);
    await rm(outPath, { force: true });
    throw new VisionLoopError(
      'INTERNAL',
      `ffmpeg could not write ${outPath} (${codec}): ${detail}`,
    );
  }
  return { path: outPath, frames: count, width, height, codec };
}
