/**
 * The renderer: Scene + Conditions → 8-bit RGB pixels and ground-truth boxes. Pure apart from
 * reusing module-level scratch buffers (single-threaded and synchronous, so safe); the returned
 * image is always a fresh array. Pipeline: surface reflectance (belt, parts, material texture)
 * → defects → defocus blur → light (gain, vignetting, glare, colour cast) → tone curve → sensor
 * noise → JPEG artefacts. Hot loops work on typed arrays without per-pixel allocation.
 */
import { SYNTH_CLASSES } from '../shared/domain.js';
import type { RgbImage } from '../vision/image.js';
import { gaussianBlurRgb } from './blur.js';
import type { Conditions } from './conditions.js';
import { SIGNIFICANT_CHANGE } from './defects.js';
import { applyJpegArtifacts } from './jpeg-artifacts.js';
import type { Rng } from './rng.js';
import { lineGeometry, type GroundTruthObject, type Scene, type ScenePart } from './scene.js';
import {
  TILE_SHIFT,
  TILE_X_MASK,
  TILE_Y_MASK,
  textureTiles,
  type TextureTiles,
} from './textures.js';

export interface RenderResult {
  image: RgbImage;
  objects: GroundTruthObject[];
}

/** A defect is labelled only if at least this share of its significant pixels is inside the frame. */
export const MIN_VISIBLE_FRACTION = 0.5;

const STEEL_COLOUR = [0.6, 0.61, 0.625] as const;
const POWDER_COLOUR = [0.33, 0.5, 0.41] as const;
const BELT_COLOUR = [0.13, 0.13, 0.14] as const;

/**
 * Glare layout in frame-relative units: the lamps' reflections are fixed in the camera's view.
 * Each is a separable Gaussian (centre, radii) whose peak multiplies the light on the surface,
 * so the polished parts flare to white while the matte belt only brightens.
 */
const GLARE_SPOTS = [
  { cx: 0.3, cy: 0.3, rx: 0.09, ry: 0.09, peak: 1.3 },
  { cx: 0.77, cy: 0.66, rx: 0.06, ry: 0.06, peak: 1.5 },
  { cx: 0.58, cy: 0.15, rx: 0.28, ry: 0.022, peak: 0.8 },
  { cx: 0.5, cy: 0.45, rx: 0.5, ry: 0.45, peak: 0.25 },
] as const;

/** Veiling glare: stray light added uniformly, which lowers every contrast (at glare = 1). */
const GLARE_VEIL = 0.06;

const LUT_SCALE = 1024;
const NOISE_TABLE_SIZE = 1024;

/** Standard normal quantiles for the sensor noise, indexed by 10 random bits. */
const GAUSSIAN_TABLE = (() => {
  const table = new Float32Array(NOISE_TABLE_SIZE);
  // Deterministic quantiles of N(0, 1) by bisection on erf (no randomness in the table).
  const erf = (x: number) => {
    const t = 1 / (1 + 0.3275911 * Math.abs(x));
    const y =
      1 -
      ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
        t *
        Math.exp(-x * x);
    return x >= 0 ? y : -y;
  };
  for (let i = 0; i < NOISE_TABLE_SIZE; i++) {
    const p = (i + 0.5) / NOISE_TABLE_SIZE;
    let lo = -6;
    let hi = 6;
    for (let k = 0; k < 40; k++) {
      const mid = (lo + hi) / 2;
      if (0.5 * (1 + erf(mid / Math.SQRT2)) < p) lo = mid;
      else hi = mid;
    }
    table[i] = (lo + hi) / 2;
  }
  return table;
})();

let surface = new Float32Array(0);
let scratch = new Float32Array(0);

function buffersFor(size: number): void {
  if (surface.length !== size) {
    surface = new Float32Array(size);
    scratch = new Float32Array(size);
  }
}

/** Signed distance to a rounded rectangle (negative inside). */
function roundedRectDistance(
  px: number,
  py: number,
  cx: number,
  cy: number,
  hx: number,
  hy: number,
  radius: number,
): number {
  const qx = Math.abs(px - cx) - (hx - radius);
  const qy = Math.abs(py - cy) - (hy - radius);
  const ox = qx > 0 ? qx : 0;
  const oy = qy > 0 ? qy : 0;
  return Math.sqrt(ox * ox + oy * oy) + Math.min(Math.max(qx, qy), 0) - radius;
}

/** Per-part values the fill loops need, computed once per frame. */
interface PartFill {
  part: ScenePart;
  colour: [number, number, number];
  /** Interior rectangle (frame pixels, clipped): plain texture, no edge effects. */
  ix0: number;
  ix1: number;
  iy0: number;
  iy1: number;
}

function writeBelt(row: number, tileRow: number, from: number, to: number, shift: number): void {
  const belt = textureTiles().belt;
  const [r0, g0, b0] = BELT_COLOUR;
  let o = (row + from) * 3;
  for (let x = from; x < to; x++) {
    const f = 1 + belt[tileRow + ((x + shift) & TILE_X_MASK)]!;
    surface[o++] = r0 * f;
    surface[o++] = g0 * f;
    surface[o++] = b0 * f;
  }
}

function writeInterior(
  fill: PartFill,
  y: number,
  row: number,
  material: number,
  textureStrength: number,
  tiles: TextureTiles,
): void {
  const { part, colour, ix0, ix1 } = fill;
  const [cr, cg, cb] = colour;
  const tileRow = ((y - part.top + part.textureV) & TILE_Y_MASK) << TILE_SHIFT;
  const wSteel = textureStrength * (1 - material);
  const wPowder = textureStrength * material;
  const steel = tiles.steel;
  const powder = tiles.powder;
  let o = (row + ix0) * 3;
  let u = ix0 - part.left + part.textureU;
  if (material === 0) {
    for (let x = ix0; x < ix1; x++, u++) {
      const f = 1 + wSteel * steel[tileRow + (u & TILE_X_MASK)]!;
      surface[o++] = cr * f;
      surface[o++] = cg * f;
      surface[o++] = cb * f;
    }
  } else {
    for (let x = ix0; x < ix1; x++, u++) {
      const k = tileRow + (u & TILE_X_MASK);
      const f = 1 + wSteel * steel[k]! + wPowder * powder[k]!;
      surface[o++] = cr * f;
      surface[o++] = cg * f;
      surface[o++] = cb * f;
    }
  }
}

/** Belt everywhere outside the parts' interiors, textured material inside them. */
function fillSurface(scene: Scene, fills: PartFill[], conditions: Conditions, tiles: TextureTiles) {
  const { width, height, beltShift } = scene;
  const material = Math.min(1, Math.max(0, conditions.material));
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const beltRow = (y & TILE_Y_MASK) << TILE_SHIFT;
    let x = 0;
    for (const fill of fills) {
      if (y < fill.iy0 || y >= fill.iy1 || fill.ix1 <= fill.ix0) continue;
      writeBelt(row, beltRow, x, fill.ix0, beltShift);
      writeInterior(fill, y, row, material, conditions.textureStrength, tiles);
      x = fill.ix1;
    }
    writeBelt(row, beltRow, x, width, beltShift);
  }
}

function partFill(scene: Scene, part: ScenePart, conditions: Conditions): PartFill {
  const { width, height } = scene;
  const geometry = lineGeometry(width, height);
  const m = Math.min(1, Math.max(0, conditions.material));
  const channel = (c: 0 | 1 | 2) =>
    (STEEL_COLOUR[c] * (1 - m) + POWDER_COLOUR[c] * m) * part.brightness;
  const edge = Math.ceil(Math.max(geometry.bevel, geometry.cornerRadius)) + 1;
  return {
    part,
    colour: [channel(0), channel(1), channel(2)],
    ix0: Math.max(0, part.left + edge),
    ix1: Math.min(width, part.left + part.length - edge),
    iy0: Math.max(0, part.top + edge),
    iy1: Math.min(height, part.top + part.height - edge),
  };
}

/** The part's border: anti-aliased rounded edge, bevel shading and its shadow on the belt. */
function fillPartBorder(
  scene: Scene,
  fill: PartFill,
  conditions: Conditions,
  tiles: TextureTiles,
): void {
  const { width, height } = scene;
  const { part, ix0, ix1, iy0, iy1 } = fill;
  const [cr, cg, cb] = fill.colour;
  const geometry = lineGeometry(width, height);
  const m = Math.min(1, Math.max(0, conditions.material));
  const wSteel = conditions.textureStrength * (1 - m);
  const wPowder = conditions.textureStrength * m;
  const x0 = part.left;
  const y0 = part.top;
  const x1 = part.left + part.length;
  const y1 = part.top + part.height;
  const bevel = geometry.bevel;
  const radius = geometry.cornerRadius;
  const shadowReach = Math.ceil(14 * geometry.scale);
  const shadowDx = 3 * geometry.scale;
  const shadowDy = 4 * geometry.scale;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const hx = (x1 - x0) / 2;
  const hy = (y1 - y0) / 2;
  const bx0 = Math.max(0, x0 - shadowReach);
  const bx1 = Math.min(width, x1 + shadowReach + Math.ceil(shadowDx));
  const by0 = Math.max(0, y0 - shadowReach);
  const by1 = Math.min(height, y1 + shadowReach + Math.ceil(shadowDy));
  const light = Math.SQRT1_2;
  for (let y = by0; y < by1; y++) {
    const inner = y >= iy0 && y < iy1;
    const tileRow = ((y - y0 + part.textureV) & TILE_Y_MASK) << TILE_SHIFT;
    for (let x = bx0; x < bx1; x++) {
      if (inner && x >= ix0 && x < ix1) {
        x = ix1 - 1;
        continue;
      }
      const px = x + 0.5;
      const py = y + 0.5;
      const d = roundedRectDistance(px, py, cx, cy, hx, hy, radius);
      const o = (y * width + x) * 3;
      const coverage = d <= -0.5 ? 1 : d >= 0.5 ? 0 : 0.5 - d;
      let shadow = 0;
      if (coverage < 1) {
        const ds = roundedRectDistance(px - shadowDx, py - shadowDy, cx, cy, hx, hy, radius);
        shadow = ds <= 0 ? 0.55 : 0.55 * Math.exp(-ds / (4 * geometry.scale));
      }
      let f = 0;
      if (coverage > 0) {
        let shade = 1;
        if (d > -bevel) {
          const gx = roundedRectDistance(px + 0.5, py, cx, cy, hx, hy, radius) - d;
          const gy = roundedRectDistance(px, py + 0.5, cx, cy, hx, hy, radius) - d;
          const norm = Math.sqrt(gx * gx + gy * gy) || 1;
          // Edges whose outward normal points towards the lamps (up-left) catch light.
          const facing = -(gx + gy) * light;
          shade = 1 + (0.45 * facing * (1 + d / bevel)) / norm;
        }
        const k = tileRow + ((x - x0 + part.textureU) & TILE_X_MASK);
        f = (1 + wSteel * tiles.steel[k]! + wPowder * tiles.powder[k]!) * shade * coverage;
      }
      const keep = (1 - coverage) * (1 - shadow);
      surface[o] = surface[o]! * keep + cr * f;
      surface[o + 1] = surface[o + 1]! * keep + cg * f;
      surface[o + 2] = surface[o + 2]! * keep + cb * f;
    }
  }
}

/**
 * Multiplies the defect patches of a part into the surface and returns the labelled objects.
 * Boxes come from the patch's significant pixels that fall inside the frame.
 */
function applyDefects(
  scene: Scene,
  part: ScenePart,
  defectContrast: number,
  objects: GroundTruthObject[],
): void {
  const { width, height } = scene;
  const minSide = 6 * lineGeometry(width, height).scale;
  for (const defect of part.defects) {
    const patch = defect.patch;
    const ox = part.left + defect.x + patch.left;
    const oy = part.top + defect.y + patch.top;
    const px0 = Math.max(0, -ox);
    const py0 = Math.max(0, -oy);
    const px1 = Math.min(patch.width, width - ox);
    const py1 = Math.min(patch.height, height - oy);
    if (px1 <= px0 || py1 <= py0) continue;
    const mr = patch.mul[0] * defectContrast;
    const mg = patch.mul[1] * defectContrast;
    const mb = patch.mul[2] * defectContrast;
    const strength = Math.max(
      Math.abs(patch.mul[0]),
      Math.abs(patch.mul[1]),
      Math.abs(patch.mul[2]),
    );
    const threshold = SIGNIFICANT_CHANGE / strength;
    let visible = 0;
    let bx1 = Infinity;
    let by1 = Infinity;
    let bx2 = -Infinity;
    let by2 = -Infinity;
    const alpha = patch.alpha;
    for (let py = py0; py < py1; py++) {
      let k = py * patch.width + px0;
      let o = ((oy + py) * width + ox + px0) * 3;
      for (let px = px0; px < px1; px++, k++, o += 3) {
        const a = alpha[k]!;
        if (a === 0) continue;
        surface[o] = surface[o]! * (1 + a * mr);
        surface[o + 1] = surface[o + 1]! * (1 + a * mg);
        surface[o + 2] = surface[o + 2]! * (1 + a * mb);
        if (a >= threshold || a <= -threshold) {
          visible++;
          if (px < bx1) bx1 = px;
          if (px > bx2) bx2 = px;
          if (py < by1) by1 = py;
          if (py > by2) by2 = py;
        }
      }
    }
    if (visible === 0 || visible < MIN_VISIBLE_FRACTION * patch.significantPixels) continue;
    const box = { x1: ox + bx1, y1: oy + by1, x2: ox + bx2 + 1, y2: oy + by2 + 1 };
    if (Math.max(box.x2 - box.x1, box.y2 - box.y1) < minSide) continue;
    objects.push({ classId: defect.classId, className: SYNTH_CLASSES[defect.classId]!, box });
  }
}

let lutGamma = Number.NaN;
const toneLut = new Float32Array(LUT_SCALE + 1);

function toneCurve(gamma: number): Float32Array {
  if (gamma !== lutGamma) {
    for (let i = 0; i <= LUT_SCALE; i++) toneLut[i] = 255 * Math.pow(i / LUT_SCALE, gamma);
    lutGamma = gamma;
  }
  return toneLut;
}

/** Light, tone curve and noise: float reflectance → 8-bit pixels. */
function expose(scene: Scene, conditions: Conditions, rng: Rng): Uint8Array {
  const { width, height } = scene;
  const out = new Uint8Array(width * height * 3);
  const lut = toneCurve(Math.max(0.05, conditions.gamma));
  const gain = conditions.gain;
  const vig = conditions.vignetting;
  const castR = conditions.colorCast[0] * LUT_SCALE;
  const castG = conditions.colorCast[1] * LUT_SCALE;
  const castB = conditions.colorCast[2] * LUT_SCALE;
  const sigma = conditions.noiseSigma;
  const cornerSq = (width / 2) * (width / 2) + (height / 2) * (height / 2);
  const vigX = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const dx = x + 0.5 - width / 2;
    vigX[x] = (gain * vig * dx * dx) / cornerSq;
  }
  const glare = conditions.glare;
  const veil = GLARE_VEIL * glare;
  const spotX = GLARE_SPOTS.map(() => new Float32Array(width));
  const spotY = new Float32Array(GLARE_SPOTS.length);
  if (glare > 0) {
    GLARE_SPOTS.forEach((spot, s) => {
      const column = spotX[s]!;
      for (let x = 0; x < width; x++) {
        const u = ((x + 0.5) / width - spot.cx) / spot.rx;
        column[x] = spot.peak * glare * Math.exp(-0.5 * u * u);
      }
    });
  }
  let state = rng.nextUint32() | 1;
  const table = GAUSSIAN_TABLE;
  const pixels = surface;
  for (let y = 0; y < height; y++) {
    const dy = y + 0.5 - height / 2;
    const rowLight = gain * (1 - (vig * dy * dy) / cornerSq);
    let glareRow = false;
    if (glare > 0) {
      for (let s = 0; s < GLARE_SPOTS.length; s++) {
        const spot = GLARE_SPOTS[s]!;
        const v = ((y + 0.5) / height - spot.cy) / spot.ry;
        const weight = Math.exp(-0.5 * v * v);
        spotY[s] = weight;
        if (weight > 1e-4) glareRow = true;
      }
    }
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      const light = rowLight - vigX[x]!;
      let spec = 0;
      if (glareRow) {
        for (let s = 0; s < spotY.length; s++) spec += spotX[s]![x]! * spotY[s]!;
      }
      const lit = light + spec;
      let ir = ((pixels[o]! * lit + veil) * castR) | 0;
      let ig = ((pixels[o + 1]! * lit + veil) * castG) | 0;
      let ib = ((pixels[o + 2]! * lit + veil) * castB) | 0;
      ir = ir < 0 ? 0 : ir > LUT_SCALE ? LUT_SCALE : ir;
      ig = ig < 0 ? 0 : ig > LUT_SCALE ? LUT_SCALE : ig;
      ib = ib < 0 ? 0 : ib > LUT_SCALE ? LUT_SCALE : ib;
      // One xorshift32 draw gives 10 bits of noise index per channel.
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const vr = lut[ir]! + sigma * table[state & 1023]! + 0.5;
      const vg = lut[ig]! + sigma * table[(state >>> 10) & 1023]! + 0.5;
      const vb = lut[ib]! + sigma * table[(state >>> 20) & 1023]! + 0.5;
      out[o] = vr < 0 ? 0 : vr > 255 ? 255 : vr | 0;
      out[o + 1] = vg < 0 ? 0 : vg > 255 ? 255 : vg | 0;
      out[o + 2] = vb < 0 ? 0 : vb > 255 ? 255 : vb | 0;
    }
  }
  return out;
}

/**
 * Renders a scene under the given conditions. `rng` drives only the sensor noise, so the same
 * scene with a different rng differs by noise alone. Boxes are measured on what was drawn,
 * clipped to the frame; defects mostly outside the frame are not labelled.
 */
export function renderScene(scene: Scene, conditions: Conditions, rng: Rng): RenderResult {
  const { width, height } = scene;
  buffersFor(width * height * 3);
  const tiles = textureTiles();
  const fills = scene.parts
    .map((part) => partFill(scene, part, conditions))
    .sort((a, b) => a.ix0 - b.ix0);
  fillSurface(scene, fills, conditions, tiles);
  const objects: GroundTruthObject[] = [];
  for (const fill of fills) {
    fillPartBorder(scene, fill, conditions, tiles);
    applyDefects(scene, fill.part, conditions.defectContrast, objects);
  }
  const scale = lineGeometry(width, height).scale;
  gaussianBlurRgb(surface, scratch, width, height, conditions.blurSigma * scale);
  const data = expose(scene, conditions, rng);
  if (conditions.jpegQuality < 98) applyJpegArtifacts(data, width, height, conditions.jpegQuality);
  return { image: { width, height, data }, objects };
}
