import { describe, expect, it } from 'vitest';
import { SynthCamera } from '../../synth/camera.js';
import { parseScenario } from '../../synth/scenario.js';
import { createRgbImage } from '../../vision/image.js';
import { embedFrame, embeddingOfGrid, novelty, noveltyAgainst } from './frame-embedding.js';

describe('frame embedding and novelty', () => {
  const camera = new SynthCamera({
    scenario: parseScenario('nominal:20,night'),
    seed: 2,
    width: 320,
    height: 240,
  });
  const at = (i: number) => embedFrame(camera.frame(i).image);

  it('is 0 for the same frame and grows as the belt moves the parts', () => {
    const first = at(0);
    expect(novelty(first, at(0))).toBe(0);
    const near = novelty(first, at(1));
    const farther = novelty(first, at(15));
    expect(near).toBeLessThan(0.15);
    expect(farther).toBeGreaterThan(0.3);
    expect(farther).toBeGreaterThan(near);
  });

  it('puts night frames far from every nominal one, by their light', () => {
    const night = at(600);
    expect(night.brightness).toBeLessThan(at(0).brightness / 2);
    expect(noveltyAgainst(night, [at(0), at(75), at(150)])).toBe(1);
  });

  it('compares layout independently of brightness', () => {
    const grid = Array.from({ length: 192 }, (_, i) => 100 + (i % 16) * 5);
    const dim = embeddingOfGrid(grid.map((v) => v / 2));
    const bright = embeddingOfGrid(grid);
    // Same layout, half the light: novel only through the light term (a halving counts fully).
    expect(novelty(bright, dim)).toBe(1);
    const sameLight = embeddingOfGrid(grid.map((v) => v + 0.001));
    expect(novelty(bright, sameLight)).toBeLessThan(0.01);
  });

  it('handles flat frames and an empty memory', () => {
    const flat = embedFrame(createRgbImage(64, 48, 120));
    expect(flat.contrast).toBe(0);
    expect(novelty(flat, flat)).toBeCloseTo(0.7071, 3);
    expect(noveltyAgainst(flat, [])).toBe(1);
  });
});
