/**
 * Rasterisation of a defect's geometry (defects.ts) into a patch of per-pixel effect strength:
 * strokes for scratches and cracks, a bowl with a raised lip for dents, a mottled blot with
 * droplets for stains. The patch's ground-truth box is measured on it: the extent of the pixels
 * whose change reaches SIGNIFICANT_CHANGE. Pure and deterministic.
 */
import {
  SIGNIFICANT_CHANGE,
  type Stroke,
  type DentSpec,
  type StainSpec,
  type DefectSpec,
  type DefectPatch,
} from './defects.js';
import { TILE_SHIFT, TILE_X_MASK, TILE_Y_MASK, textureTiles } from './textures.js';

function emptyPatch(
  minX: number,
  minY: number,
  maxX: number,
  maxY: number,
  mul: readonly [number, number, number],
): DefectPatch {
  const left = Math.floor(minX) - 1;
  const top = Math.floor(minY) - 1;
  const width = Math.ceil(maxX) + 2 - left;
  const height = Math.ceil(maxY) + 2 - top;
  return {
    left,
    top,
    width,
    height,
    alpha: new Float32Array(width * height),
    mul,
    box: { x1: 0, y1: 0, x2: 0, y2: 0 },
    significantPixels: 0,
  };
}

/** Measures the significant pixels of a drawn patch: its tight box and their count. */
function measure(patch: DefectPatch): DefectPatch {
  const strength = Math.max(Math.abs(patch.mul[0]), Math.abs(patch.mul[1]), Math.abs(patch.mul[2]));
  const threshold = SIGNIFICANT_CHANGE / strength;
  let x1 = patch.width;
  let y1 = patch.height;
  let x2 = -1;
  let y2 = -1;
  let count = 0;
  for (let y = 0; y < patch.height; y++) {
    const row = y * patch.width;
    for (let x = 0; x < patch.width; x++) {
      if (Math.abs(patch.alpha[row + x]!) >= threshold) {
        count++;
        if (x < x1) x1 = x;
        if (x > x2) x2 = x;
        if (y < y1) y1 = y;
        if (y > y2) y2 = y;
      }
    }
  }
  patch.significantPixels = count;
  patch.box = count > 0 ? { x1, y1, x2: x2 + 1, y2: y2 + 1 } : { x1: 0, y1: 0, x2: 0, y2: 0 };
  return patch;
}

function drawStrokes(strokes: Stroke[], mul: readonly [number, number, number]): DefectPatch {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const s of strokes) {
    const pad = Math.max(...s.widths) / 2 + 1;
    for (let i = 0; i < s.xs.length; i++) {
      minX = Math.min(minX, s.xs[i]! - pad);
      maxX = Math.max(maxX, s.xs[i]! + pad);
      minY = Math.min(minY, s.ys[i]! - pad);
      maxY = Math.max(maxY, s.ys[i]! + pad);
    }
  }
  const patch = emptyPatch(minX, minY, maxX, maxY, mul);
  const { alpha, width, height, left, top } = patch;
  for (const s of strokes) {
    for (let i = 0; i + 1 < s.xs.length; i++) {
      const ax = s.xs[i]! - left;
      const ay = s.ys[i]! - top;
      const bx = s.xs[i + 1]! - left;
      const by = s.ys[i + 1]! - top;
      const wa = s.widths[i]! / 2;
      const wb = s.widths[i + 1]! / 2;
      const ia = s.intensities[i]!;
      const ib = s.intensities[i + 1]!;
      const dx = bx - ax;
      const dy = by - ay;
      const lengthSq = dx * dx + dy * dy || 1e-9;
      const reach = Math.max(wa, wb) + 1;
      const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - reach));
      const x1 = Math.min(width - 1, Math.ceil(Math.max(ax, bx) + reach));
      const y0 = Math.max(0, Math.floor(Math.min(ay, by) - reach));
      const y1 = Math.min(height - 1, Math.ceil(Math.max(ay, by) + reach));
      for (let y = y0; y <= y1; y++) {
        const py = y + 0.5;
        for (let x = x0; x <= x1; x++) {
          const px = x + 0.5;
          let t = ((px - ax) * dx + (py - ay) * dy) / lengthSq;
          t = t < 0 ? 0 : t > 1 ? 1 : t;
          const ex = px - (ax + t * dx);
          const ey = py - (ay + t * dy);
          const distance = Math.sqrt(ex * ex + ey * ey);
          const halfWidth = wa + (wb - wa) * t;
          // Anti-aliased coverage of a line of that half width; thin lines fade rather than vanish.
          let coverage = halfWidth + 0.5 - distance;
          if (coverage <= 0) continue;
          if (coverage > 1) coverage = 1;
          if (halfWidth < 0.5) coverage *= halfWidth * 2;
          const value = coverage * (ia + (ib - ia) * t);
          const k = y * width + x;
          if (value > alpha[k]!) alpha[k] = value;
        }
      }
    }
  }
  return measure(patch);
}

function drawDent(spec: DentSpec): DefectPatch {
  const reach = Math.max(spec.radiusX, spec.radiusY) * 1.35 + 2;
  const patch = emptyPatch(-reach, -reach, reach, reach, [
    spec.contrast,
    spec.contrast,
    spec.contrast,
  ]);
  const { alpha, width, height, left, top } = patch;
  const cos = Math.cos(spec.angle);
  const sin = Math.sin(spec.angle);
  const heightAt = (px: number, py: number): number => {
    const u = (px * cos + py * sin) / spec.radiusX;
    const v = (-px * sin + py * cos) / spec.radiusY;
    const r2 = u * u + v * v;
    const bowl = r2 < 1 ? -(1 - r2) * (1 - r2) : 0;
    const r = Math.sqrt(r2);
    // Raised lip of displaced material just outside the bowl.
    const lip = 0.06 * Math.exp(-((r - 1.1) * (r - 1.1)) / 0.02);
    return bowl + lip;
  };
  const lx = Math.cos(spec.lightAngle);
  const ly = Math.sin(spec.lightAngle);
  let maxAbs = 1e-9;
  for (let y = 0; y < height; y++) {
    const py = y + top + 0.5;
    for (let x = 0; x < width; x++) {
      const px = x + left + 0.5;
      const gx = heightAt(px + 0.5, py) - heightAt(px - 0.5, py);
      const gy = heightAt(px, py + 0.5) - heightAt(px, py - 0.5);
      // Slopes facing the light brighten, slopes facing away darken (Lambert, small slopes).
      const shade = -(gx * lx + gy * ly);
      alpha[y * width + x] = shade;
      if (Math.abs(shade) > maxAbs) maxAbs = Math.abs(shade);
    }
  }
  for (let i = 0; i < alpha.length; i++) {
    const s = alpha[i]! / maxAbs;
    // A small specular glint on the most strongly lit slope.
    alpha[i] = s > 0 ? s + 0.25 * s * s * s * s : s;
  }
  return measure(patch);
}

function smoothstep(edge0: number, edge1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - edge0) / (edge1 - edge0)));
  return t * t * (3 - 2 * t);
}

function drawStain(spec: StainSpec): DefectPatch {
  let amplitude = 0;
  for (const h of spec.harmonics) amplitude += h.amplitude;
  let reach = spec.radius * (1 + amplitude) + 2;
  for (const d of spec.droplets) {
    reach = Math.max(reach, Math.hypot(d.x, d.y) + d.radius + 2);
  }
  const patch = emptyPatch(-reach, -reach, reach, reach, spec.tint);
  const { alpha, width, height, left, top } = patch;
  const mottle = textureTiles().mottle;
  for (let y = 0; y < height; y++) {
    const py = y + top + 0.5;
    for (let x = 0; x < width; x++) {
      const px = x + left + 0.5;
      const r = Math.sqrt(px * px + py * py);
      const phi = Math.atan2(py, px);
      let outline = 1;
      for (let k = 0; k < spec.harmonics.length; k++) {
        const h = spec.harmonics[k]!;
        outline += h.amplitude * Math.cos((k + 2) * phi + h.phase);
      }
      const edge = spec.radius * outline;
      let a = 1 - smoothstep(edge * (1 - spec.softness), edge, r);
      if (spec.tideLine > 0) {
        const d = (r - edge * 0.9) / (edge * 0.08 + 1);
        a += spec.tideLine * Math.exp(-d * d);
      }
      for (const drop of spec.droplets) {
        const dd = Math.hypot(px - drop.x, py - drop.y);
        a = Math.max(a, 0.8 * (1 - smoothstep(drop.radius * 0.5, drop.radius, dd)));
      }
      if (a <= 0.001) continue;
      const m =
        mottle[
          (((y + spec.mottleV) & TILE_Y_MASK) << TILE_SHIFT) + ((x + spec.mottleU) & TILE_X_MASK)
        ]!;
      alpha[y * width + x] = spec.opacity * a * (1 + 0.15 * m);
    }
  }
  return measure(patch);
}

/** Draws a defect into a fresh patch (anchor at 0, 0) and measures its tight box. */
export function rasterizeDefect(spec: DefectSpec): DefectPatch {
  switch (spec.kind) {
    case 'scratch': {
      const c = spec.contrast;
      return drawStrokes(spec.strokes, [c, c, c]);
    }
    case 'crack':
      // Cracks are shadowed gaps: neutral dark with a slightly warm cast from the edges.
      return drawStrokes(spec.strokes, [-spec.depth, -spec.depth, -spec.depth * 0.94]);
    case 'dent':
      return drawDent(spec);
    case 'stain':
      return drawStain(spec);
  }
}
