/**
 * The four defect classes: random geometry (a DefectSpec; its rasterisation into a patch of
 * per-pixel effect strength is defect-raster.ts). A patch changes the part's reflectance multiplicatively,
 * `surface_c *= 1 + alpha · mul_c`, before lighting, so illumination, blur and noise act on
 * defects exactly as on the surface. The ground-truth box of a defect is measured on its patch:
 * the extent of the pixels whose change reaches SIGNIFICANT_CHANGE. Pure and deterministic.
 */
import type { Box, SynthClass } from '../shared/domain.js';
import type { Rng } from './rng.js';

/** Relative reflectance change from which a pixel counts as part of the defect (≈7 levels at nominal). */
export const SIGNIFICANT_CHANGE = 0.05;

/** A polyline with width (px) and effect intensity (0..1) at each vertex. */
export interface Stroke {
  xs: number[];
  ys: number[];
  widths: number[];
  intensities: number[];
}

export interface ScratchSpec {
  kind: 'scratch';
  strokes: Stroke[];
  /** Signed reflectance change at full intensity: > 0 bright, < 0 dark. */
  contrast: number;
}

export interface CrackSpec {
  kind: 'crack';
  strokes: Stroke[];
  /** Fraction of reflectance lost in the crack's core, 0..1. */
  depth: number;
}

export interface DentSpec {
  kind: 'dent';
  radiusX: number;
  radiusY: number;
  angle: number;
  /** Direction towards the light in the image plane, radians. */
  lightAngle: number;
  /** Reflectance change of the most strongly lit / shadowed slope. */
  contrast: number;
}

export interface StainSpec {
  kind: 'stain';
  radius: number;
  /** Outline harmonics: radius(φ) = radius · (1 + Σ amp_k cos(kφ + phase_k)), k = 2, 3, … */
  harmonics: { amplitude: number; phase: number }[];
  /** Width of the soft edge as a fraction of the radius. */
  softness: number;
  opacity: number;
  /** Per-channel reflectance change at full opacity (all ≤ 0: a stain absorbs). */
  tint: [number, number, number];
  /** Strength of the darker dried rim ("tide line"), 0 = none. */
  tideLine: number;
  mottleU: number;
  mottleV: number;
  /** Small satellite splashes around the blotch, relative to the anchor. */
  droplets: { x: number; y: number; radius: number }[];
}

export type DefectSpec = ScratchSpec | CrackSpec | DentSpec | StainSpec;

/** A rasterised defect, positioned relative to its anchor point. */
export interface DefectPatch {
  left: number;
  top: number;
  width: number;
  height: number;
  alpha: Float32Array;
  mul: readonly [number, number, number];
  /** Tight box of significant pixels, patch coordinates (x2, y2 exclusive). */
  box: Box;
  significantPixels: number;
}

const CLASS_OF_KIND: Record<DefectSpec['kind'], SynthClass> = {
  scratch: 'scratch',
  crack: 'crack',
  dent: 'dent',
  stain: 'stain',
};

export function classOfSpec(spec: DefectSpec): SynthClass {
  return CLASS_OF_KIND[spec.kind];
}

// ---------------------------------------------------------------------------------------------
// sampling

/** A quarter of defects are "faint": drawn from the low end of their class's contrast range. */
const FAINT_PROBABILITY = 0.25;

function sampleScratch(rng: Rng, scale: number): ScratchSpec {
  const length = rng.logUniform(40, 230) * scale;
  const angle = rng.uniform(0, Math.PI);
  const bright = rng.chance(0.7);
  const faint = rng.chance(FAINT_PROBABILITY);
  const magnitude = bright
    ? faint
      ? rng.uniform(0.22, 0.35)
      : rng.uniform(0.35, 0.9)
    : faint
      ? rng.uniform(0.17, 0.25)
      : rng.uniform(0.25, 0.5);
  const width = rng.uniform(1.2, 2.6) * Math.sqrt(scale);
  const bend = length * rng.uniform(-0.07, 0.07);
  const strokes = [curvedStroke(rng, 0, 0, angle, length, bend, width, 1)];
  if (rng.chance(0.35)) {
    const companions = 1 + rng.int(2);
    for (let i = 0; i < companions; i++) {
      const offset = rng.sign() * rng.uniform(3, 7) * scale;
      const subLength = length * rng.uniform(0.35, 0.8);
      const shift = (length - subLength) * rng.uniform(-0.5, 0.5);
      const cx = Math.cos(angle) * shift - Math.sin(angle) * offset;
      const cy = Math.sin(angle) * shift + Math.cos(angle) * offset;
      strokes.push(
        curvedStroke(
          rng,
          cx,
          cy,
          angle + rng.uniform(-0.04, 0.04),
          subLength,
          bend * 0.6,
          width * rng.uniform(0.6, 0.9),
          rng.uniform(0.5, 0.8),
        ),
      );
    }
  }
  return { kind: 'scratch', strokes, contrast: bright ? magnitude : -magnitude };
}

/** A gently curved, tapered stroke centred on (cx, cy). */
function curvedStroke(
  rng: Rng,
  cx: number,
  cy: number,
  angle: number,
  length: number,
  bend: number,
  width: number,
  intensity: number,
): Stroke {
  const steps = Math.max(4, Math.ceil(length / 4));
  const dx = Math.cos(angle);
  const dy = Math.sin(angle);
  const stroke: Stroke = { xs: [], ys: [], widths: [], intensities: [] };
  let wobble = 0;
  for (let i = 0; i <= steps; i++) {
    const t = i / steps;
    const along = (t - 0.5) * length;
    const across = bend * 4 * t * (1 - t);
    stroke.xs.push(cx + dx * along - dy * across);
    stroke.ys.push(cy + dy * along + dx * across);
    const taper = Math.pow(Math.sin(Math.PI * Math.min(1, Math.max(0, t * 0.94 + 0.03))), 0.5);
    wobble = 0.7 * wobble + 0.3 * rng.uniform(-1, 1);
    stroke.widths.push(width * (0.55 + 0.45 * taper));
    stroke.intensities.push(intensity * taper * (0.88 + 0.12 * wobble));
  }
  return stroke;
}

/** A jagged random walk from (x, y) with persistent heading; width tapers from `width`. */
function crackPath(
  rng: Rng,
  x: number,
  y: number,
  heading: number,
  length: number,
  width: number,
  scale: number,
): Stroke {
  const stroke: Stroke = { xs: [x], ys: [y], widths: [width], intensities: [1] };
  let travelled = 0;
  let direction = heading;
  while (travelled < length) {
    const step = rng.uniform(2.5, 6) * scale;
    direction = heading + 0.55 * (direction - heading) + rng.normal() * 0.42;
    x += Math.cos(direction) * step;
    y += Math.sin(direction) * step;
    travelled += step;
    const t = Math.min(1, travelled / length);
    stroke.xs.push(x);
    stroke.ys.push(y);
    stroke.widths.push(width * (1 - 0.7 * t));
    stroke.intensities.push(rng.uniform(0.8, 1) * (1 - 0.45 * t * t));
  }
  return stroke;
}

function sampleCrack(rng: Rng, scale: number): CrackSpec {
  const length = rng.logUniform(44, 200) * scale;
  const heading = rng.uniform(0, 2 * Math.PI);
  const width = rng.uniform(1.5, 3.0) * Math.sqrt(scale);
  const faint = rng.chance(FAINT_PROBABILITY);
  const depth = faint ? rng.uniform(0.28, 0.42) : rng.uniform(0.45, 0.82);
  // Grown outwards from the middle in both directions, widest at the origin.
  const forward = crackPath(rng, 0, 0, heading, length * rng.uniform(0.4, 0.6), width, scale);
  const backward = crackPath(rng, 0, 0, heading + Math.PI, length * 0.5, width, scale);
  const strokes = [forward, backward];
  const branches = rng.weighted([0.15, 0.45, 0.3, 0.1]);
  for (let b = 0; b < branches; b++) {
    const parent = rng.chance(0.5) ? forward : backward;
    const at = 1 + rng.int(Math.max(1, parent.xs.length - 3));
    const px = parent.xs[at] ?? 0;
    const py = parent.ys[at] ?? 0;
    const prevX = parent.xs[at - 1] ?? 0;
    const prevY = parent.ys[at - 1] ?? 0;
    const local = Math.atan2(py - prevY, px - prevX);
    const branchHeading = local + rng.sign() * rng.uniform(0.35, 1.1);
    const branch = crackPath(
      rng,
      px,
      py,
      branchHeading,
      length * rng.uniform(0.18, 0.42),
      (parent.widths[at] ?? width) * 0.7,
      scale,
    );
    strokes.push(branch);
    if (rng.chance(0.3) && branch.xs.length > 3) {
      const j = 1 + rng.int(branch.xs.length - 2);
      strokes.push(
        crackPath(
          rng,
          branch.xs[j] ?? 0,
          branch.ys[j] ?? 0,
          branchHeading + rng.sign() * rng.uniform(0.4, 0.9),
          length * rng.uniform(0.1, 0.2),
          (branch.widths[j] ?? width) * 0.7,
          scale,
        ),
      );
    }
  }
  return { kind: 'crack', strokes, depth };
}

function sampleDent(rng: Rng, scale: number): DentSpec {
  const radiusX = rng.logUniform(9, 40) * scale;
  const faint = rng.chance(FAINT_PROBABILITY);
  return {
    kind: 'dent',
    radiusX,
    radiusY: radiusX * rng.uniform(0.55, 1),
    angle: rng.uniform(0, Math.PI),
    // The line's lamps sit above-left of the camera.
    lightAngle: (-3 * Math.PI) / 4 + rng.uniform(-0.3, 0.3),
    contrast: faint ? rng.uniform(0.2, 0.3) : rng.uniform(0.3, 0.7),
  };
}

const STAIN_TINTS: readonly (readonly [number, number, number])[] = [
  [-0.28, -0.58, -0.85], // rust
  [-0.58, -0.6, -0.64], // oil
  [-0.4, -0.44, -0.52], // grime
  [-0.35, -0.5, -0.68], // dried coolant, yellowish
];

function sampleStain(rng: Rng, scale: number): StainSpec {
  const radius = rng.logUniform(11, 52) * scale;
  const harmonics: StainSpec['harmonics'] = [];
  for (let k = 2; k <= 6; k++) {
    harmonics.push({
      amplitude: rng.uniform(0, 0.24) / Math.pow(k - 1, 0.8),
      phase: rng.uniform(0, 2 * Math.PI),
    });
  }
  const faint = rng.chance(FAINT_PROBABILITY);
  const tint = STAIN_TINTS[rng.int(STAIN_TINTS.length)] ?? STAIN_TINTS[0]!;
  const jitter = rng.uniform(0.85, 1.15);
  const droplets: StainSpec['droplets'] = [];
  if (rng.chance(0.4)) {
    const n = 1 + rng.int(3);
    for (let i = 0; i < n; i++) {
      const phi = rng.uniform(0, 2 * Math.PI);
      const distance = radius * rng.uniform(1.15, 1.5);
      droplets.push({
        x: Math.cos(phi) * distance,
        y: Math.sin(phi) * distance,
        radius: Math.max(2, radius * rng.uniform(0.1, 0.22)),
      });
    }
  }
  return {
    kind: 'stain',
    radius,
    harmonics,
    softness: rng.uniform(0.25, 0.6),
    opacity: faint ? rng.uniform(0.25, 0.4) : rng.uniform(0.4, 0.85),
    tint: [tint[0] * jitter, tint[1] * jitter, tint[2] * jitter],
    tideLine: rng.chance(0.5) ? rng.uniform(0.25, 0.7) : 0,
    mottleU: rng.int(1 << 16),
    mottleV: rng.int(1 << 16),
    droplets,
  };
}

/**
 * Random defect geometry of a class. `scale` is the frame scale (1 at 640×480); sizes are chosen
 * so the smallest defect still spans ≥ 8 px when the frame is letterboxed to 320×240.
 */
export function sampleDefect(className: SynthClass, rng: Rng, scale = 1): DefectSpec {
  switch (className) {
    case 'scratch':
      return sampleScratch(rng, scale);
    case 'crack':
      return sampleCrack(rng, scale);
    case 'dent':
      return sampleDent(rng, scale);
    case 'stain':
      return sampleStain(rng, scale);
  }
}
