import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { MAX_FRAME_PIXELS } from '../shared/api/ingest.js';
import { inspectJpeg } from './frame.service.js';

function solid(width: number, height: number): sharp.Sharp {
  return sharp({ create: { width, height, channels: 3, background: { r: 90, g: 120, b: 150 } } });
}

/** A valid small JPEG whose frame header (SOF) is rewritten to claim `width`×`height`. */
async function claimingSize(width: number, height: number): Promise<Buffer> {
  const jpeg = Buffer.from(await solid(16, 16).jpeg().toBuffer());
  for (let i = 2; i < jpeg.length - 9; i++) {
    if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) {
      jpeg.writeUInt16BE(height, i + 5);
      jpeg.writeUInt16BE(width, i + 7);
      return jpeg;
    }
  }
  throw new Error('no SOF marker');
}

describe('inspectJpeg', () => {
  it('accepts a complete JPEG and reports its size', async () => {
    const jpeg = await solid(320, 240).jpeg({ quality: 80 }).toBuffer();
    await expect(inspectJpeg(jpeg, MAX_FRAME_PIXELS)).resolves.toEqual({ width: 320, height: 240 });
  });

  it('refuses a truncated JPEG', async () => {
    const jpeg = await solid(320, 240).jpeg({ quality: 80 }).toBuffer();
    await expect(
      inspectJpeg(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), MAX_FRAME_PIXELS),
    ).rejects.toMatchObject({
      code: 'IMAGE_INVALID',
    });
  });

  it('refuses other formats and non-images', async () => {
    const png = await solid(8, 8).png().toBuffer();
    for (const data of [
      png,
      Buffer.from('GIF89a not really'),
      Buffer.alloc(0),
      Buffer.from([0xff, 0xd8, 0xff]),
    ]) {
      await expect(inspectJpeg(data, MAX_FRAME_PIXELS)).rejects.toMatchObject({
        code: 'IMAGE_INVALID',
      });
    }
  });

  it('refuses a header claiming 20000×20000 pixels without decoding it', async () => {
    const bomb = await claimingSize(20_000, 20_000);
    expect(bomb.length).toBeLessThan(2000);
    await expect(inspectJpeg(bomb, MAX_FRAME_PIXELS)).rejects.toMatchObject({
      code: 'IMAGE_INVALID',
      message: expect.stringContaining('pixel') as string,
    });
  });
});
