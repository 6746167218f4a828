import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { PRESETS } from './conditions.js';
import { applyJpegArtifacts } from './jpeg-artifacts.js';
import { renderScene } from './render.js';
import { Rng, hashSeed } from './rng.js';
import { sampleScene } from './scene.js';

function rmse(a: Uint8Array, b: Uint8Array): number {
  let sq = 0;
  for (let i = 0; i < a.length; i++) sq += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sq / a.length);
}

describe('applyJpegArtifacts', () => {
  const { image } = renderScene(sampleScene(hashSeed(4, 1)), PRESETS.nominal, new Rng(1));

  it('loses about as much as a real JPEG round trip at the same quality', async () => {
    for (const quality of [90, 60, 25]) {
      const emulated = new Uint8Array(image.data);
      applyJpegArtifacts(emulated, image.width, image.height, quality);
      const encoded = await sharp(image.data, {
        raw: { width: image.width, height: image.height, channels: 3 },
      })
        .jpeg({ quality })
        .toBuffer();
      const real = new Uint8Array(await sharp(encoded).raw().toBuffer());
      const emulatedLoss = rmse(emulated, image.data);
      const realLoss = rmse(real, image.data);
      expect(emulatedLoss).toBeGreaterThan(0.7 * realLoss);
      expect(emulatedLoss).toBeLessThan(1.3 * realLoss);
      // And it is close to the real decoded pixels, not just equally lossy.
      expect(rmse(emulated, real)).toBeLessThan(0.6 * realLoss);
    }
  });

  it('loses more at lower quality and handles odd frame sizes', () => {
    const losses = [95, 70, 30, 10].map((quality) => {
      const copy = new Uint8Array(image.data);
      applyJpegArtifacts(copy, image.width, image.height, quality);
      return rmse(copy, image.data);
    });
    expect([...losses].sort((a, b) => a - b)).toEqual(losses);
    const odd = new Uint8Array(13 * 9 * 3).fill(120);
    applyJpegArtifacts(odd, 13, 9, 50);
    expect(Math.max(...odd) - Math.min(...odd)).toBeLessThanOrEqual(2);
  });
});
