/**
 * Decodes one still image with ffmpeg, for the formats sharp's bundled libvips cannot read
 * (BMP, which industrial cameras often save). ffmpeg writes a PPM, whose header carries the
 * size, so no probe is needed.
 */
import { spawn } from 'node:child_process';
import type { RgbImage } from '../../vision/image.js';
import { collectText, terminateChild, TextTail } from './child-process.js';

/** Parses a binary PPM (P6, maxval 255) into an RGB image; null when it is not one. */
export function parsePpm(bytes: Uint8Array): RgbImage | null {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 64)).toString(
    'latin1',
  );
  const match = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(head);
  if (!match) return null;
  const width = Number(match[1]);
  const height = Number(match[2]);
  if (Number(match[3]) !== 255 || width <= 0 || height <= 0) return null;
  const offset = match[0].length;
  const size = width * height * 3;
  if (bytes.length < offset + size) return null;
  // A plain Uint8Array view (not a Buffer) over the pixel bytes, like every other source's frames.
  return { width, height, data: new Uint8Array(bytes.buffer, bytes.byteOffset + offset, size) };
}

/**
 * Decodes the first frame of `file` to RGB with ffmpeg. Rejects with an Error carrying ffmpeg's
 * message when the file cannot be decoded (the caller wraps it with the file name).
 */
export async function decodeImageWithFfmpeg(
  ffmpeg: string,
  file: string,
  timeoutMs = 30_000,
): Promise<RgbImage> {
  const child = spawn(
    ffmpeg,
    [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      '-i',
      file,
      '-frames:v',
      '1',
      '-f',
      'image2pipe',
      '-c:v',
      'ppm',
      '-pix_fmt',
      'rgb24',
      '-',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const chunks: Buffer[] = [];
  const stderr = new TextTail();
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stdout.on('error', () => undefined);
  collectText(child.stderr, stderr);
  const timer = setTimeout(() => void terminateChild(child, 1000), timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (error) => {
      if (child.pid === undefined) reject(error);
    });
    child.on('close', (exitCode) => resolve(exitCode));
  }).finally(() => clearTimeout(timer));
  const image = code === 0 ? parsePpm(Buffer.concat(chunks)) : null;
  if (image) return image;
  throw new Error(
    stderr.summary(2).replace(/\[[^\]@]+ @ 0x[0-9a-f]+\]\s*/gi, '') || 'ffmpeg could not decode it',
  );
}
