/**
 * Crop data sets for the chain's later stages (docs/training-stages.md): from independent
 * synthetic frames (renderDatasetSample), crops around each labelled defect — its ground-truth
 * box jittered like a detector's box, padded 15 %, cut from the frame and resized to S × S with
 * the runtime's bilinear resize — and "not a defect" crops (random surface, part edges, real
 * defect boxes moved off their defect). Each crop carries its classifier class (severity order:
 * `not_defect, minor, major, critical`, class id = severity) and the exact binary mask of its
 * defect at S × S, measured on the patch the renderer drew (never on pixels).
 *
 * Layout of `outDir` (raw files, so the trainer reads them with one numpy call):
 * - `crops.json`: size, class names, severity thresholds, options, per-split counts;
 * - `{train,val}.images.u8`: N × S × S × 3 uint8 RGB, crop after crop;
 * - `{train,val}.masks.u8`: N × S × S uint8, 1 = defect;
 * - `{train,val}.jsonl`: one line per crop (class, kind, areaPx, crop box, frame, preset).
 * The split is by frame, so no frame contributes to both. Pure rendering; this module owns only
 * the writes into `outDir`, and never deletes anything there but its own files.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Box } from '../shared/domain.js';
import { messageOf } from '../shared/errors.js';
import type { RgbImage } from '../vision/image.js';
import { resizeBilinear } from '../vision/resize.js';
import type { PresetName } from './conditions.js';
import { SIGNIFICANT_CHANGE } from './defects.js';
import { MIN_VISIBLE_FRACTION } from './render.js';
import { Rng, hashSeed } from './rng.js';
import {
  invalidExportOption,
  prepareExportDirectory,
  validateSplitOptions,
} from './export-setup.js';
import { parsePresetList, renderDatasetSample } from './samples.js';
import { lineGeometry, sampleScene, type Scene } from './scene.js';

/** The classifier's classes, in severity order: class id = severity (0 = not a defect). */
export const CROP_CLASSES = ['not_defect', 'minor', 'major', 'critical'] as const;
export type CropClass = (typeof CROP_CLASSES)[number];

/** Side of the square crops, px (the stage models' input size). */
export const DEFAULT_CROP_SIZE = 64;

/** Context around a box before cropping, as a fraction of its side (the demo chain's padding). */
export const CROP_PADDING = 0.15;

/**
 * Severity from the defect's area: its significant pixels (reflectance change ≥
 * SIGNIFICANT_CHANGE) visible in the 640 × 480 frame. `minor` below `major`, `critical` from
 * `critical` on. The values are the terciles (278, 778 px) of the 2,772 labelled defects of
 * frames 0..1499 of seed 0, so the three defect classes are about equally frequent; by kind the
 * medians are crack 219, scratch 236, dent 954, stain 1,552 px (docs/training-stages.md).
 */
export const SEVERITY_AREA_PX = { major: 280, critical: 780 } as const;

/** Share of "not a defect" crops among all crops (one per three defects). */
const NEGATIVE_PER_DEFECT = 1 / 3;
/** A detector's box error the defect crops imitate: each side moves by up to this × its size. */
const BOX_JITTER = 0.08;
/** Points sampled per mask pixel side (the mask pixel is defect when ≥ half of them are). */
const MASK_SUPERSAMPLING = 4;

export interface CropExportOptions {
  outDir: string;
  /** Number of crops to write (defects and "not a defect" together). */
  count: number;
  seed?: number;
  /** Presets the frames alternate between; default nominal, night, blur, glare. */
  presets?: string | readonly string[];
  /** Share of frames whose crops go to the val split, 0 ≤ f < 1 (default 0.2). */
  valFraction?: number;
  /** Crop side S in px, 16..256 (default 64). */
  size?: number;
  /** Replace crop files already in outDir. */
  overwrite?: boolean;
}

export interface CropRecord {
  classId: number;
  className: CropClass;
  /** Synthetic defect kind, or `background` / `edge` / `moved` for "not a defect" crops. */
  kind: string;
  /** The defect's significant pixels visible in the frame (0 for "not a defect"). */
  areaPx: number;
  /** Defect pixels of the S × S mask. */
  maskPx: number;
  /** The crop in frame pixels (padded, clipped, integer; x2/y2 exclusive). */
  box: Box;
  frame: number;
  preset: PresetName;
}

export interface CropSplitSummary {
  count: number;
  perClass: Record<CropClass, number>;
}

export interface CropExportSummary {
  outDir: string;
  size: number;
  frames: number;
  train: CropSplitSummary;
  val: CropSplitSummary;
}

export interface CropExportProgress {
  done: number;
  total: number;
}

/** One crop in memory: its pixels, its mask and its record. */
export interface Crop {
  image: RgbImage;
  /** S × S, 1 = defect. */
  mask: Uint8Array;
  record: CropRecord;
}

/** The severity class of a defect with `areaPx` significant pixels. */
export function severityOf(areaPx: number): Exclude<CropClass, 'not_defect'> {
  if (areaPx >= SEVERITY_AREA_PX.critical) return 'critical';
  if (areaPx >= SEVERITY_AREA_PX.major) return 'major';
  return 'minor';
}

/** A labelled defect of a frame with its significant pixels in frame coordinates. */
export interface FrameDefect {
  kind: string;
  /** As the renderer labels it (frame px, x2/y2 exclusive). */
  box: Box;
  areaPx: number;
  /** Significant pixels, frame-sized (width × height), 1 = defect. */
  mask: Uint8Array;
}

/**
 * The defects of a scene as the renderer labels them (same visibility and size rules as
 * render.ts `applyDefects`), each with its frame-sized mask of significant pixels; `all`
 * also returns the boxes of defects too hidden to be labelled (to keep negatives off them).
 */
export function frameDefects(scene: Scene): { labelled: FrameDefect[]; all: Box[] } {
  const { width, height } = scene;
  const minSide = 6 * lineGeometry(width, height).scale;
  const labelled: FrameDefect[] = [];
  const all: Box[] = [];
  for (const part of scene.parts) {
    for (const defect of part.defects) {
      const patch = defect.patch;
      const ox = part.left + defect.x + patch.left;
      const oy = part.top + defect.y + patch.top;
      all.push({
        x1: ox + patch.box.x1,
        y1: oy + patch.box.y1,
        x2: ox + patch.box.x2,
        y2: oy + patch.box.y2,
      });
      const px0 = Math.max(0, -ox);
      const py0 = Math.max(0, -oy);
      const px1 = Math.min(patch.width, width - ox);
      const py1 = Math.min(patch.height, height - oy);
      if (px1 <= px0 || py1 <= py0) continue;
      const strength = Math.max(
        Math.abs(patch.mul[0]),
        Math.abs(patch.mul[1]),
        Math.abs(patch.mul[2]),
      );
      const threshold = SIGNIFICANT_CHANGE / strength;
      const mask = new Uint8Array(width * height);
      let visible = 0;
      let bx1 = Infinity;
      let by1 = Infinity;
      let bx2 = -Infinity;
      let by2 = -Infinity;
      for (let py = py0; py < py1; py++) {
        for (let px = px0; px < px1; px++) {
          const a = patch.alpha[py * patch.width + px]!;
          if (a >= threshold || a <= -threshold) {
            visible++;
            mask[(oy + py) * width + ox + px] = 1;
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
      labelled.push({ kind: defect.className, box, areaPx: visible, mask });
    }
  }
  return { labelled, all };
}

/**
 * The crop of a (detector) box as the chain cuts it: each side padded by `padding` × the box's
 * side, rounded outwards to whole pixels, clipped to the frame (at least 1 px).
 */
export function paddedCropBox(box: Box, padding: number, width: number, height: number): Box {
  const padX = (box.x2 - box.x1) * padding;
  const padY = (box.y2 - box.y1) * padding;
  const x1 = Math.min(width - 1, Math.max(0, Math.floor(box.x1 - padX)));
  const y1 = Math.min(height - 1, Math.max(0, Math.floor(box.y1 - padY)));
  const x2 = Math.max(x1 + 1, Math.min(width, Math.ceil(box.x2 + padX)));
  const y2 = Math.max(y1 + 1, Math.min(height, Math.ceil(box.y2 + padY)));
  return { x1, y1, x2, y2 };
}

/** The pixels of `box` (integer, inside the image) resized to size × size. */
export function cropImage(image: RgbImage, box: Box, size: number): RgbImage {
  const w = box.x2 - box.x1;
  const h = box.y2 - box.y1;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const from = ((box.y1 + y) * image.width + box.x1) * 3;
    data.set(image.data.subarray(from, from + w * 3), y * w * 3);
  }
  return resizeBilinear({ width: w, height: h, data }, size, size);
}

/**
 * A frame-sized binary mask resampled to the crop's size × size grid: a mask pixel is defect
 * when at least half of its MASK_SUPERSAMPLING² sample points fall on defect pixels.
 */
export function cropMask(mask: Uint8Array, frameWidth: number, box: Box, size: number): Uint8Array {
  const out = new Uint8Array(size * size);
  const sx = (box.x2 - box.x1) / size;
  const sy = (box.y2 - box.y1) / size;
  const n = MASK_SUPERSAMPLING;
  const need = (n * n) / 2;
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      let hits = 0;
      for (let v = 0; v < n; v++) {
        const fy = Math.floor(box.y1 + (j + (v + 0.5) / n) * sy);
        const row = fy * frameWidth;
        for (let u = 0; u < n; u++) {
          const fx = Math.floor(box.x1 + (i + (u + 0.5) / n) * sx);
          hits += mask[row + fx]!;
        }
      }
      if (hits >= need) out[j * size + i] = 1;
    }
  }
  return out;
}

function intersects(a: Box, b: Box): boolean {
  return a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;
}

function countOnes(mask: Uint8Array): number {
  let n = 0;
  for (const v of mask) n += v;
  return n;
}

/** A random "not a defect" box of a frame, clear of every defect; null after 30 misses. */
function negativeBox(
  rng: Rng,
  scene: Scene,
  defects: readonly Box[],
  template: readonly FrameDefect[],
): { box: Box; kind: string } | null {
  const { width, height } = scene;
  for (let attempt = 0; attempt < 30; attempt++) {
    const mode = rng.weighted([0.4, 0.3, 0.3]);
    let w = rng.logUniform(10, 120);
    let h = w * rng.logUniform(0.4, 2.5);
    let cx = rng.uniform(0, width);
    let cy = rng.uniform(0, height);
    let kind = 'background';
    if (mode === 1 && scene.parts.length > 0) {
      // On a part's edge: where a detector's false positives gather (bevel, corner, belt).
      const part = scene.parts[rng.int(scene.parts.length)]!;
      kind = 'edge';
      if (rng.chance(0.5)) {
        cx = rng.chance(0.5) ? part.left : part.left + part.length;
        cy = rng.uniform(part.top, part.top + part.height);
      } else {
        cx = rng.uniform(part.left, part.left + part.length);
        cy = rng.chance(0.5) ? part.top : part.top + part.height;
      }
    } else if (mode === 2 && template.length > 0) {
      // A real defect's box shape, moved off it by 1–3 box sizes.
      const source = template[rng.int(template.length)]!.box;
      kind = 'moved';
      w = source.x2 - source.x1;
      h = source.y2 - source.y1;
      const angle = rng.uniform(0, 2 * Math.PI);
      const distance = rng.uniform(1, 3) * Math.max(w, h);
      cx = (source.x1 + source.x2) / 2 + Math.cos(angle) * distance;
      cy = (source.y1 + source.y2) / 2 + Math.sin(angle) * distance;
    }
    const box = {
      x1: Math.round(cx - w / 2),
      y1: Math.round(cy - h / 2),
      x2: Math.round(cx + w / 2),
      y2: Math.round(cy + h / 2),
    };
    if (box.x1 < 0 || box.y1 < 0 || box.x2 > width || box.y2 > height) continue;
    if (box.x2 - box.x1 < 6 || box.y2 - box.y1 < 6) continue;
    const padded = paddedCropBox(box, CROP_PADDING, width, height);
    if (defects.some((d) => intersects(padded, d))) continue;
    return { box, kind };
  }
  return null;
}

/**
 * The crops of frame `index` of (seed, presets): one per labelled defect, then `negatives`
 * "not a defect" crops. Pure: same arguments, same crops.
 */
export function frameCrops(
  seed: number,
  index: number,
  presets: readonly PresetName[],
  negatives: number,
  size = DEFAULT_CROP_SIZE,
): Crop[] {
  const sample = renderDatasetSample(seed, index, presets);
  // The same scene renderDatasetSample drew (samples.ts), for the defects' exact pixels.
  const scene = sampleScene(hashSeed(seed, index, 0xda7a), sample.image.width, sample.image.height);
  const { width, height } = sample.image;
  const { labelled, all } = frameDefects(scene);
  const rng = new Rng(hashSeed(seed, index, 0xc409));
  const crops: Crop[] = [];
  for (const defect of labelled) {
    const { box } = defect;
    const bw = box.x2 - box.x1;
    const bh = box.y2 - box.y1;
    const jittered = {
      x1: box.x1 + rng.uniform(-BOX_JITTER, BOX_JITTER) * bw,
      y1: box.y1 + rng.uniform(-BOX_JITTER, BOX_JITTER) * bh,
      x2: box.x2 + rng.uniform(-BOX_JITTER, BOX_JITTER) * bw,
      y2: box.y2 + rng.uniform(-BOX_JITTER, BOX_JITTER) * bh,
    };
    const cropBox = paddedCropBox(jittered, CROP_PADDING, width, height);
    const className = severityOf(defect.areaPx);
    const mask = cropMask(defect.mask, width, cropBox, size);
    crops.push({
      image: cropImage(sample.image, cropBox, size),
      mask,
      record: {
        classId: CROP_CLASSES.indexOf(className),
        className,
        kind: defect.kind,
        areaPx: defect.areaPx,
        maskPx: countOnes(mask),
        box: cropBox,
        frame: index,
        preset: sample.preset,
      },
    });
  }
  for (let k = 0; k < negatives; k++) {
    const negative = negativeBox(rng, scene, all, labelled);
    if (negative === null) break;
    const cropBox = paddedCropBox(negative.box, CROP_PADDING, width, height);
    crops.push({
      image: cropImage(sample.image, cropBox, size),
      mask: new Uint8Array(size * size),
      record: {
        classId: 0,
        className: 'not_defect',
        kind: negative.kind,
        areaPx: 0,
        maskPx: 0,
        box: cropBox,
        frame: index,
        preset: sample.preset,
      },
    });
  }
  return crops;
}

const OWN_FILES = [
  'crops.json',
  'train.images.u8',
  'train.masks.u8',
  'train.jsonl',
  'val.images.u8',
  'val.masks.u8',
  'val.jsonl',
];

function emptySplit(): CropSplitSummary {
  return {
    count: 0,
    perClass: Object.fromEntries(CROP_CLASSES.map((c) => [c, 0])) as Record<CropClass, number>,
  };
}

/**
 * Renders frames until `count` crops are collected and writes them (layout in the module
 * comment). Errors: INVALID_ARGUMENT for bad options or an unwritable directory, CONFLICT when
 * the directory already holds crops and `overwrite` is not set.
 */
export async function exportCrops(
  options: CropExportOptions,
  onProgress?: (progress: CropExportProgress) => void,
): Promise<CropExportSummary> {
  const { count, seed, valFraction } = validateSplitOptions(options);
  const size = options.size ?? DEFAULT_CROP_SIZE;
  if (!Number.isInteger(size) || size < 16 || size > 256) {
    throw invalidExportOption(`crop size must be an integer in 16..256, got ${size}`);
  }
  const presets = parsePresetList(options.presets ?? 'nominal,night,blur,glare');
  if (!options.outDir) throw invalidExportOption('an output directory is required');
  const outDir = resolve(options.outDir);
  await prepareExportDirectory(outDir, options.overwrite ?? false, OWN_FILES, 'a crop data set');

  const splits = { train: [] as Crop[], val: [] as Crop[] };
  let collected = 0;
  let defects = 0;
  let negatives = 0;
  let frame = 0;
  // A frame without defects still yields negatives, so this ends; the bound only guards bugs.
  while (collected < count && frame < count * 20) {
    const wantNegatives = Math.max(0, Math.ceil((defects + 2) * NEGATIVE_PER_DEFECT) - negatives);
    const crops = frameCrops(seed, frame, presets, wantNegatives, size);
    const split = new Rng(hashSeed(seed, frame, 0x5b11)).next() < valFraction ? 'val' : 'train';
    for (const crop of crops) {
      if (collected >= count) break;
      splits[split].push(crop);
      collected++;
      if (crop.record.classId === 0) negatives++;
      else defects++;
    }
    frame++;
    onProgress?.({ done: collected, total: count });
  }

  const summary: CropExportSummary = {
    outDir,
    size,
    frames: frame,
    train: emptySplit(),
    val: emptySplit(),
  };
  for (const name of ['train', 'val'] as const) {
    const crops = splits[name];
    const images = new Uint8Array(crops.length * size * size * 3);
    const masks = new Uint8Array(crops.length * size * size);
    crops.forEach((crop, i) => {
      images.set(crop.image.data, i * size * size * 3);
      masks.set(crop.mask, i * size * size);
      summary[name].perClass[crop.record.className]++;
    });
    summary[name].count = crops.length;
    const lines = crops.map((crop) => `${JSON.stringify(crop.record)}\n`).join('');
    try {
      await writeFile(join(outDir, `${name}.images.u8`), images);
      await writeFile(join(outDir, `${name}.masks.u8`), masks);
      await writeFile(join(outDir, `${name}.jsonl`), lines);
    } catch (error) {
      throw invalidExportOption(`cannot write to ${outDir}: ${messageOf(error)}`);
    }
  }
  const meta = {
    format: 'visionloop-crops-v1',
    size,
    channels: 3,
    padding: CROP_PADDING,
    names: [...CROP_CLASSES],
    severityAreaPx: SEVERITY_AREA_PX,
    seed,
    presets,
    valFraction,
    count,
    frames: frame,
    train: summary.train,
    val: summary.val,
    command: `visionloop synth crops --out ${outDir} --count ${count} --seed ${seed} --preset ${presets.join(',')} --val-fraction ${valFraction}`,
  };
  await writeFile(join(outDir, 'crops.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return summary;
}
