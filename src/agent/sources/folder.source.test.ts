import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VisionLoopError } from '../../shared/errors.js';
import type { RgbImage } from '../../vision/image.js';
import type { CapturedFrame } from '../frame-source.js';
import { naturalCompare, openFolderSource } from './folder.source.js';

/** A small image whose every pixel depends on (x, y, seed), so any reordering or shift shows. */
function patternImage(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i += 1) {
    data[i * 3] = (i * 7 + seed * 31) % 256;
    data[i * 3 + 1] = (i * 13 + seed * 17) % 256;
    data[i * 3 + 2] = (seed * 50 + (i % width) * 3) % 256;
  }
  return { width, height, data };
}

async function writePng(file: string, image: RgbImage): Promise<void> {
  await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png()
    .toFile(file);
}

/** An uncompressed 24-bit BMP (bottom-up rows of BGR, each padded to 4 bytes). */
function encodeBmp(image: RgbImage): Buffer {
  const rowBytes = Math.ceil((image.width * 3) / 4) * 4;
  const size = 54 + rowBytes * image.height;
  const bmp = Buffer.alloc(size);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(size, 2);
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(image.width, 18);
  bmp.writeInt32LE(image.height, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  bmp.writeUInt32LE(rowBytes * image.height, 34);
  for (let y = 0; y < image.height; y += 1) {
    const row = 54 + (image.height - 1 - y) * rowBytes;
    for (let x = 0; x < image.width; x += 1) {
      const i = (y * image.width + x) * 3;
      bmp[row + x * 3] = image.data[i + 2] ?? 0;
      bmp[row + x * 3 + 1] = image.data[i + 1] ?? 0;
      bmp[row + x * 3 + 2] = image.data[i] ?? 0;
    }
  }
  return bmp;
}

async function collect(frames: AsyncIterable<CapturedFrame>): Promise<CapturedFrame[]> {
  const out: CapturedFrame[] = [];
  for await (const frame of frames) out.push(frame);
  return out;
}

async function caught(promise: Promise<unknown>): Promise<VisionLoopError> {
  const error: unknown = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(VisionLoopError);
  return error as VisionLoopError;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'visionloop-folder-source-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('natural filename order', () => {
  it('compares digit runs as numbers', () => {
    expect(['img10.png', 'img2.png', 'img1.png', 'IMG3.png'].sort(naturalCompare)).toEqual([
      'img1.png',
      'img2.png',
      'IMG3.png',
      'img10.png',
    ]);
  });
});

describe('folder source', () => {
  it('delivers the images in natural order with exact pixels, each with its own size', async () => {
    const dir = path.join(root, 'three');
    await mkdir(dir);
    const images = {
      'img2.png': patternImage(8, 6, 2),
      'img10.png': patternImage(5, 9, 10),
      'img1.png': patternImage(4, 4, 1),
    };
    for (const [name, image] of Object.entries(images)) await writePng(path.join(dir, name), image);
    await writeFile(path.join(dir, 'notes.txt'), 'not an image');
    await writeFile(path.join(dir, '.hidden.png'), 'editor junk');

    const source = await openFolderSource(dir);
    expect(source.description).toBe(`folder ${dir} (3 images)`);
    expect(source.fps).toBeNull();
    const frames = await collect(source.frames());
    expect(frames.map((frame) => [frame.index, frame.label])).toEqual([
      [0, 'img1.png'],
      [1, 'img2.png'],
      [2, 'img10.png'],
    ]);
    expect(frames.map((frame) => frame.image)).toEqual([
      images['img1.png'],
      images['img2.png'],
      images['img10.png'],
    ]);
  });

  it('reads BMP (through ffmpeg), grey and RGBA images as 8-bit RGB', async () => {
    const dir = path.join(root, 'formats');
    await mkdir(dir);
    const rgb = patternImage(7, 5, 3);
    await writeFile(path.join(dir, 'a.bmp'), encodeBmp(rgb));
    await sharp(Buffer.alloc(6 * 4, 77), { raw: { width: 6, height: 4, channels: 1 } })
      .png()
      .toFile(path.join(dir, 'b.png'));
    await sharp(Buffer.alloc(3 * 2 * 4, 200), { raw: { width: 3, height: 2, channels: 4 } })
      .png()
      .toFile(path.join(dir, 'c.png'));

    const frames = await collect((await openFolderSource(dir)).frames());
    expect(frames[0]?.image).toEqual(rgb);
    expect(frames[1]?.image).toEqual({
      width: 6,
      height: 4,
      data: new Uint8Array(6 * 4 * 3).fill(77),
    });
    expect(frames[2]?.image).toEqual({
      width: 3,
      height: 2,
      data: new Uint8Array(3 * 2 * 3).fill(200),
    });
  });

  it('honours maxFrames and loops when asked', async () => {
    const dir = path.join(root, 'two');
    await mkdir(dir);
    await writePng(path.join(dir, 'a.png'), patternImage(4, 4, 1));
    await writePng(path.join(dir, 'b.png'), patternImage(4, 4, 2));

    const once = await collect((await openFolderSource(dir, { maxFrames: 1 })).frames());
    expect(once.map((frame) => frame.label)).toEqual(['a.png']);
    const looped = await collect(
      (await openFolderSource(dir, { loop: true, maxFrames: 5 })).frames(),
    );
    expect(looped.map((frame) => `${frame.index}:${frame.label ?? ''}`)).toEqual([
      '0:a.png',
      '1:b.png',
      '2:a.png',
      '3:b.png',
      '4:a.png',
    ]);
  });

  it('fails with SOURCE_EMPTY naming the folder and the extensions it looked for', async () => {
    const dir = path.join(root, 'empty');
    await mkdir(dir);
    await writeFile(path.join(dir, 'readme.txt'), 'no images here');
    const error = await caught(openFolderSource(dir));
    expect(error.code).toBe('SOURCE_EMPTY');
    expect(error.message).toBe(
      `no images in ${dir} (looked for .jpg, .jpeg, .png, .bmp, .webp, .tif, .tiff)`,
    );
  });

  it('fails the iteration with SOURCE_UNREADABLE naming an undecodable image, after the good ones', async () => {
    const dir = path.join(root, 'broken');
    await mkdir(dir);
    await writePng(path.join(dir, 'frame1.png'), patternImage(4, 4, 1));
    await writeFile(path.join(dir, 'frame2.jpg'), 'this is not a jpeg');
    await writePng(path.join(dir, 'frame3.png'), patternImage(4, 4, 3));

    const source = await openFolderSource(dir);
    const delivered: string[] = [];
    const error = await caught(
      (async () => {
        for await (const frame of source.frames()) delivered.push(frame.label ?? '');
      })(),
    );
    expect(delivered).toEqual(['frame1.png']);
    expect(error.code).toBe('SOURCE_UNREADABLE');
    expect(error.message).toContain(path.join(dir, 'frame2.jpg'));
  });
});
