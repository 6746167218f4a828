/**
 * What is in front of the camera: a conveyor belt carrying rectangular parts, one per frame
 * width, each with 0–4 defects. A ConveyorLine is an infinite, seeded sequence of parts; the
 * scene at a belt position is computed directly (random access), so frame i never needs frames
 * before it. Geometry only: no lighting, no pixels except the defect patches.
 */
import { SYNTH_CLASSES, type Box, type SynthClass } from '../shared/domain.js';
import { rasterizeDefect } from './defect-raster.js';
import { classOfSpec, sampleDefect, type DefectPatch, type DefectSpec } from './defects.js';
import { Rng, hashSeed } from './rng.js';

/** One labelled defect in a frame (frame pixels, x2/y2 exclusive). */
export interface GroundTruthObject {
  classId: number;
  className: SynthClass;
  box: Box;
}

/** A defect placed on a part: its anchor in part-local pixels and its rasterised patch. */
export interface PlacedDefect {
  classId: number;
  className: SynthClass;
  spec: DefectSpec;
  patch: DefectPatch;
  x: number;
  y: number;
}

/** A part as it comes off the line, independent of where the belt has carried it. */
export interface PartTemplate {
  index: number;
  length: number;
  height: number;
  /** Frame y of the part's top edge. */
  top: number;
  /** Offset into the material texture tiles, so parts do not look alike. */
  textureU: number;
  textureV: number;
  /** Reflectance multiplier of this part (batch-to-batch variation). */
  brightness: number;
  defects: PlacedDefect[];
}

/** A part in a frame: the template plus where its left edge is (frame pixels, may be < 0). */
export interface ScenePart extends PartTemplate {
  left: number;
}

export interface Scene {
  width: number;
  height: number;
  /** Belt texture shift in pixels (the belt moves with the parts). */
  beltShift: number;
  parts: ScenePart[];
}

/** Geometry of the line for a frame size: all lengths in frame pixels. */
export interface LineGeometry {
  /** Frame scale relative to 640×480. */
  scale: number;
  /** Distance between the left edges of consecutive parts (= frame width). */
  period: number;
  /** Belt visible between consecutive parts. */
  gap: number;
  /** Belt visible above and below a part (before jitter). */
  margin: number;
  cornerRadius: number;
  bevel: number;
}

export function lineGeometry(width: number, height: number): LineGeometry {
  const scale = Math.min(width / 640, height / 480);
  return {
    scale,
    period: width,
    gap: Math.max(4, Math.round(48 * scale)),
    margin: Math.max(2, Math.round(20 * scale)),
    cornerRadius: 10 * scale,
    bevel: 3 * scale,
  };
}

/** Probability of 0, 1, 2, 3, 4 defects on a part. */
const DEFECT_COUNT_WEIGHTS = [0.14, 0.3, 0.26, 0.18, 0.12];

function overlaps(a: Box, b: Box, padding: number): boolean {
  return (
    a.x1 < b.x2 + padding && b.x1 < a.x2 + padding && a.y1 < b.y2 + padding && b.y1 < a.y2 + padding
  );
}

/** Builds part `index` of the line with the given seed. Pure: same arguments, same part. */
export function makePart(seed: number, index: number, geometry: LineGeometry, height: number) {
  const rng = new Rng(hashSeed(seed, index, 0x9a27));
  const jitter = Math.round(rng.uniform(-6, 6) * geometry.scale);
  const part: PartTemplate = {
    index,
    length: geometry.period - geometry.gap,
    height: height - 2 * geometry.margin - Math.abs(jitter),
    top: geometry.margin + Math.max(0, jitter),
    textureU: rng.int(1 << 16),
    textureV: rng.int(1 << 16),
    brightness: rng.uniform(0.93, 1.07),
    defects: [],
  };
  const inset = Math.ceil(geometry.bevel + 6 * geometry.scale);
  const count = rng.weighted(DEFECT_COUNT_WEIGHTS);
  const placedBoxes: Box[] = [];
  for (let i = 0; i < count; i++) {
    const classId = rng.int(SYNTH_CLASSES.length);
    const className = SYNTH_CLASSES[classId]!;
    for (let attempt = 0; attempt < 25; attempt++) {
      const spec = sampleDefect(className, rng, geometry.scale);
      const patch = rasterizeDefect(spec);
      if (patch.significantPixels === 0) continue;
      // The anchor range keeps the whole patch on the part, clear of the bevel.
      const minX = inset - patch.left;
      const maxX = part.length - inset - (patch.left + patch.width);
      const minY = inset - patch.top;
      const maxY = part.height - inset - (patch.top + patch.height);
      if (maxX < minX || maxY < minY) continue;
      const x = minX + rng.int(maxX - minX + 1);
      const y = minY + rng.int(maxY - minY + 1);
      const box: Box = {
        x1: x + patch.left + patch.box.x1,
        y1: y + patch.top + patch.box.y1,
        x2: x + patch.left + patch.box.x2,
        y2: y + patch.top + patch.box.y2,
      };
      if (placedBoxes.some((other) => overlaps(box, other, 6 * geometry.scale))) continue;
      placedBoxes.push(box);
      part.defects.push({ classId, className: classOfSpec(spec), spec, patch, x, y });
      break;
    }
  }
  return part;
}

/**
 * An endless conveyor: part n's left edge is at belt position n·period + gap/2. `sceneAt(p)`
 * is the view when belt position p is at the frame's left edge. Recent parts are cached.
 */
export class ConveyorLine {
  readonly geometry: LineGeometry;
  private readonly cache = new Map<number, PartTemplate>();

  constructor(
    readonly seed: number,
    readonly width: number,
    readonly height: number,
  ) {
    this.geometry = lineGeometry(width, height);
  }

  part(index: number): PartTemplate {
    const hit = this.cache.get(index);
    if (hit) return hit;
    const part = makePart(this.seed, index, this.geometry, this.height);
    if (this.cache.size >= 8) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(index, part);
    return part;
  }

  /** Belt position of part n's left edge. */
  partStart(index: number): number {
    return index * this.geometry.period + Math.floor(this.geometry.gap / 2);
  }

  /** The view with belt position `position` (rounded to whole pixels) at the frame's left edge. */
  sceneAt(position: number): Scene {
    const offset = Math.round(position);
    const { period } = this.geometry;
    const first = Math.floor((offset - period) / period);
    const last = Math.floor((offset + this.width) / period);
    const parts: ScenePart[] = [];
    for (let n = first; n <= last; n++) {
      const template = this.part(n);
      const left = this.partStart(n) - offset;
      if (left + template.length <= 0 || left >= this.width) continue;
      parts.push({ ...template, left });
    }
    return { width: this.width, height: this.height, beltShift: offset, parts };
  }

  /** Index of the first part from `from` on with at least `minDefects` defects. */
  firstPartWith(minDefects: number, from = 0): number {
    for (let n = from; n < from + 1000; n++) {
      if (this.part(n).defects.length >= minDefects) return n;
    }
    return from;
  }
}

/**
 * An independent sample for a data set: a fresh line and a random belt position, so frames do
 * not share parts and parts appear anywhere in the frame, as the camera sees them.
 */
export function sampleScene(seed: number, width = 640, height = 480): Scene {
  const line = new ConveyorLine(seed, width, height);
  const rng = new Rng(hashSeed(seed, 0x5ca1e));
  return line.sceneAt(rng.int(line.geometry.period));
}

/** The same scene with every defect removed (the clean surface, for tests and tooling). */
export function withoutDefects(scene: Scene): Scene {
  return { ...scene, parts: scene.parts.map((part) => ({ ...part, defects: [] })) };
}
