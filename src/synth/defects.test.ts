import { describe, expect, it } from 'vitest';
import { SYNTH_CLASSES, type SynthClass } from '../shared/domain.js';
import { rasterizeDefect } from './defect-raster.js';
import { SIGNIFICANT_CHANGE, sampleDefect, type DefectPatch } from './defects.js';
import { Rng } from './rng.js';

function patches(className: SynthClass, n: number, seed = 11): DefectPatch[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rasterizeDefect(sampleDefect(className, rng)));
}

/** Signed reflectance change of a patch pixel (the strongest channel). */
function change(patch: DefectPatch, x: number, y: number): number {
  const [r, g, b] = patch.mul;
  const m =
    Math.abs(r) >= Math.abs(g) && Math.abs(r) >= Math.abs(b)
      ? r
      : Math.abs(g) >= Math.abs(b)
        ? g
        : b;
  return patch.alpha[y * patch.width + x]! * m;
}

describe('defect patches', () => {
  it.each(SYNTH_CLASSES.map((c) => [c]))(
    '%s: the box is the exact extent of the significant pixels',
    (className) => {
      for (const patch of patches(className, 12)) {
        const { x1, y1, x2, y2 } = patch.box;
        expect(patch.significantPixels).toBeGreaterThan(0);
        let count = 0;
        const rowsHit = new Set<number>();
        const colsHit = new Set<number>();
        for (let y = 0; y < patch.height; y++) {
          for (let x = 0; x < patch.width; x++) {
            if (Math.abs(change(patch, x, y)) < SIGNIFICANT_CHANGE) continue;
            count++;
            rowsHit.add(y);
            colsHit.add(x);
            expect(x >= x1 && x < x2 && y >= y1 && y < y2).toBe(true);
          }
        }
        expect(count).toBe(patch.significantPixels);
        // Every edge of the box touches the defect.
        expect(rowsHit.has(y1) && rowsHit.has(y2 - 1)).toBe(true);
        expect(colsHit.has(x1) && colsHit.has(x2 - 1)).toBe(true);
      }
    },
  );

  it.each(SYNTH_CLASSES.map((c) => [c]))(
    '%s: the smallest still spans ≥ 16 px at 640×480 (8 px after letterboxing to 320)',
    (className) => {
      const sizes = patches(className, 150, 5).map((p) =>
        Math.max(p.box.x2 - p.box.x1, p.box.y2 - p.box.y1),
      );
      expect(Math.min(...sizes)).toBeGreaterThanOrEqual(16);
      // Sizes vary: the largest is several times the smallest.
      expect(Math.max(...sizes)).toBeGreaterThan(3 * Math.min(...sizes));
    },
  );

  it('cracks are thin and dark, with branches', () => {
    for (const patch of patches('crack', 20)) {
      expect(Math.max(...patch.mul)).toBeLessThan(0);
      const boxArea = (patch.box.x2 - patch.box.x1) * (patch.box.y2 - patch.box.y1);
      expect(patch.significantPixels / boxArea).toBeLessThan(0.35);
    }
    const rng = new Rng(2);
    const strokeCounts = Array.from({ length: 40 }, () => {
      const spec = sampleDefect('crack', rng);
      return spec.kind === 'crack' ? spec.strokes.length : 0;
    });
    expect(strokeCounts.filter((n) => n > 2).length).toBeGreaterThan(25);
  });

  it('scratches are thin strokes, bright or dark', () => {
    const rng = new Rng(4);
    const signs = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const spec = sampleDefect('scratch', rng);
      if (spec.kind !== 'scratch') throw new Error('wrong kind');
      signs.add(Math.sign(spec.contrast));
      const patch = rasterizeDefect(spec);
      const length = Math.hypot(patch.box.x2 - patch.box.x1, patch.box.y2 - patch.box.y1);
      // Mean width = area / length stays a few pixels however long the scratch is.
      expect(patch.significantPixels / length).toBeLessThan(6);
    }
    expect([...signs].sort()).toEqual([-1, 1]);
  });

  it('dents are shaded: one side brighter, the other darker', () => {
    for (const patch of patches('dent', 20)) {
      let bright = 0;
      let dark = 0;
      for (let y = 0; y < patch.height; y++) {
        for (let x = 0; x < patch.width; x++) {
          const c = change(patch, x, y);
          if (c >= SIGNIFICANT_CHANGE) bright++;
          if (c <= -SIGNIFICANT_CHANGE) dark++;
        }
      }
      expect(bright).toBeGreaterThan(5);
      expect(dark).toBeGreaterThan(5);
    }
  });

  it('stains are filled blotches that absorb light, tinted', () => {
    for (const patch of patches('stain', 20)) {
      expect(Math.max(...patch.mul)).toBeLessThan(0);
      const boxArea = (patch.box.x2 - patch.box.x1) * (patch.box.y2 - patch.box.y1);
      expect(patch.significantPixels / boxArea).toBeGreaterThan(0.25);
    }
  });
});
