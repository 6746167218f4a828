/**
 * Crop data sets for retraining the chain's later stages from reviewed labels
 * (docs/retraining.md, "Retraining a stage"): for every labelled box of a dataset snapshot
 * that carries a crop class (`classify`) or a mask polygon (`segment`), the crop is cut from
 * the stored frame exactly as the runtime cuts it — the box padded by STAGE_CROP_PADDING of
 * its sides (src/vision/crops.ts `padBox`), rounded outwards to whole pixels and clipped
 * (`cropRectangle`), resized bilinearly to S × S — and the polygon is rasterised into the
 * crop's S × S mask. Written in the crop-export layout the trainer reads
 * (src/synth/crop-export.ts, trainer/visionloop_trainer/crops.py).
 *
 * The split follows the snapshot's (a function of the image hash), so a frame's crops are all
 * trained on or all held out. Boxes without the stage's field are skipped and counted. This
 * module owns only the writes of the crop files into `outDir`; it never changes the snapshot.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeToRgb } from '../../inference/decode-image.js';
import type { Box } from '../../shared/domain.js';
import { VisionLoopError, messageOf } from '../../shared/errors.js';
import { cropRectangle, cutImage, padBox } from '../../vision/crops.js';
import type { RgbImage } from '../../vision/image.js';
import { resizeBilinear } from '../../vision/resize.js';
import type { DatasetManifest, ManifestImage, ManifestSplit } from '../dataset-manifest.js';
import { imagePath, parseYoloRow } from '../dataset-manifest.js';

export type StageTask = 'classify' | 'segment';

/** The demo chain's crop padding and the stage models' input side (src/synth/crop-export.ts). */
export const STAGE_CROP_PADDING = 0.15;
export const STAGE_CROP_SIZE = 64;
/** Fewest labelled crops a stage training starts with (fewer train nothing useful). */
export const MIN_STAGE_CROPS = 20;
/** The crop classes of the shipped classifier, in severity order (class id = severity). */
const SEVERITY_CLASSES = ['not_defect', 'minor', 'major', 'critical'];
/** Sample points per mask pixel side: a mask pixel is defect when ≥ half fall in the polygon. */
const MASK_SUPERSAMPLING = 4;

/** One labelled box of a snapshot that a stage can learn from. */
export interface StageCropSource {
  image: ManifestImage;
  /** The labelled box, frame pixels. */
  box: Box;
  /** The detector class of the box. */
  className: string;
  /** classify: the crop class. */
  cropClass?: string;
  /** segment: the mask outline, flat frame pixels. */
  polygon?: number[];
}

export interface StageCropSelection {
  task: StageTask;
  sources: StageCropSource[];
  /** Labelled boxes without the stage's field (no crop class / no polygon). */
  skipped: number;
  /** segment: polygons that lie in no box of their class (not cut). */
  unmatched: number;
}

function polygonOf(row: string, image: ManifestImage): { classId: number; polygon: number[] } {
  const [classText = '0', ...values] = row.split(' ');
  const polygon = values.map(
    (value, i) => Number(value) * (i % 2 === 0 ? image.width : image.height),
  );
  return { classId: Number(classText), polygon };
}

function boundsOf(polygon: readonly number[]): Box {
  const box = { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity };
  for (let i = 0; i + 1 < polygon.length; i += 2) {
    const x = polygon[i]!;
    const y = polygon[i + 1]!;
    box.x1 = Math.min(box.x1, x);
    box.y1 = Math.min(box.y1, y);
    box.x2 = Math.max(box.x2, x);
    box.y2 = Math.max(box.y2, y);
  }
  return box;
}

function area(box: Box): number {
  return Math.max(0, box.x2 - box.x1) * Math.max(0, box.y2 - box.y1);
}

/**
 * The boxes of `manifest` a `task` stage can learn from. A polygon belongs to the smallest box
 * of its class that holds it (the labeling service keeps polygons inside their box; 1 px of
 * slack covers the manifest's 6-decimal rounding).
 */
export function selectStageCrops(manifest: DatasetManifest, task: StageTask): StageCropSelection {
  const sources: StageCropSource[] = [];
  let boxes = 0;
  let unmatched = 0;
  for (const image of manifest.images) {
    boxes += image.labels.length;
    if (task === 'classify') {
      for (const crop of image.crops ?? []) {
        const { classId, box } = parseYoloRow(crop.box, image.width, image.height);
        sources.push({
          image,
          box,
          className: manifest.classNames[classId] ?? String(classId),
          cropClass: crop.cropClass,
        });
      }
      continue;
    }
    const labelled = image.labels.map((row) => parseYoloRow(row, image.width, image.height));
    for (const row of image.segments ?? []) {
      const { classId, polygon } = polygonOf(row, image);
      const bounds = boundsOf(polygon);
      const holder = labelled
        .filter(
          (label) =>
            label.classId === classId &&
            bounds.x1 >= label.box.x1 - 1 &&
            bounds.y1 >= label.box.y1 - 1 &&
            bounds.x2 <= label.box.x2 + 1 &&
            bounds.y2 <= label.box.y2 + 1,
        )
        .sort((a, b) => area(a.box) - area(b.box))[0];
      if (holder === undefined) {
        unmatched++;
        continue;
      }
      sources.push({
        image,
        box: holder.box,
        className: manifest.classNames[classId] ?? String(classId),
        polygon,
      });
    }
  }
  return { task, sources, skipped: boxes - sources.length, unmatched };
}

/** The classifier's class names: the shipped severity order when they fit it, else sorted. */
export function cropClassNames(sources: readonly StageCropSource[]): string[] {
  const used = new Set(sources.map((source) => source.cropClass ?? ''));
  used.delete('');
  if ([...used].every((name) => SEVERITY_CLASSES.includes(name))) return [...SEVERITY_CLASSES];
  return [...used].sort();
}

/** The crop of `box` as the runtime cuts it, with its rectangle in frame pixels. */
export function cutStageCrop(
  frame: RgbImage,
  box: Box,
  size = STAGE_CROP_SIZE,
  padding = STAGE_CROP_PADDING,
): { image: RgbImage; rect: { x: number; y: number; width: number; height: number } } {
  const rect = cropRectangle(
    padBox(box, padding, frame.width, frame.height),
    frame.width,
    frame.height,
  );
  return { image: resizeBilinear(cutImage(frame, rect), size, size), rect };
}

function insidePolygon(polygon: readonly number[], x: number, y: number): boolean {
  let inside = false;
  const n = polygon.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = polygon[2 * i]!;
    const yi = polygon[2 * i + 1]!;
    const xj = polygon[2 * j]!;
    const yj = polygon[2 * j + 1]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * `polygon` (flat frame pixels) rasterised on the size × size grid of a crop of frame
 * rectangle `rect`: a mask pixel is 1 when at least half of its MASK_SUPERSAMPLING² sample
 * points lie inside the polygon (even-odd rule), as src/synth/crop-export.ts `cropMask` does.
 */
export function rasterisePolygon(
  polygon: readonly number[],
  rect: { x: number; y: number; width: number; height: number },
  size = STAGE_CROP_SIZE,
): Uint8Array {
  const out = new Uint8Array(size * size);
  const sx = rect.width / size;
  const sy = rect.height / size;
  const n = MASK_SUPERSAMPLING;
  const need = (n * n) / 2;
  const bounds = boundsOf(polygon);
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      const left = rect.x + i * sx;
      const top = rect.y + j * sy;
      if (left > bounds.x2 || left + sx < bounds.x1 || top > bounds.y2 || top + sy < bounds.y1) {
        continue;
      }
      let hits = 0;
      for (let v = 0; v < n; v++) {
        for (let u = 0; u < n; u++) {
          if (insidePolygon(polygon, left + ((u + 0.5) / n) * sx, top + ((v + 0.5) / n) * sy)) {
            hits++;
          }
        }
      }
      if (hits >= need) out[j * size + i] = 1;
    }
  }
  return out;
}

// A type (not an interface) so it is JSON-assignable (job progress, events).
export type StageCropSplitSummary = {
  count: number;
  perClass: Record<string, number>;
};

export interface StageCropSetSummary {
  task: StageTask;
  outDir: string;
  size: number;
  names: string[];
  train: StageCropSplitSummary;
  val: StageCropSplitSummary;
  /** Labelled boxes without the stage's field (not cut). */
  skipped: number;
  /** segment: polygons in no box of their class (not cut). */
  unmatched: number;
}

interface CutCrop {
  image: RgbImage;
  mask: Uint8Array;
  record: Record<string, unknown> & { classId: number; className: string };
}

/**
 * Writes the crop set of `selection` into `outDir`, reading each frame from
 * `<dataDir>/<imagePath>` (a materialized snapshot). Classify crops carry their crop class
 * (mask empty); segment crops carry class `defect` (id ≥ 1, `kind` = the box's detector class)
 * and the polygon's mask. DATASET_INVALID when a frame cannot be read.
 */
export async function writeStageCrops(
  selection: StageCropSelection,
  dataDir: string,
  outDir: string,
  options: { size?: number; padding?: number; datasetId?: string } = {},
): Promise<StageCropSetSummary> {
  const size = options.size ?? STAGE_CROP_SIZE;
  const padding = options.padding ?? STAGE_CROP_PADDING;
  const { task, sources } = selection;
  const names = task === 'classify' ? cropClassNames(sources) : ['not_defect', 'defect'];
  const splits: Record<ManifestSplit, CutCrop[]> = { train: [], val: [] };
  const byImage = new Map<string, StageCropSource[]>();
  for (const source of sources) {
    const list = byImage.get(source.image.id) ?? [];
    list.push(source);
    byImage.set(source.image.id, list);
  }
  for (const list of byImage.values()) {
    const image = list[0]!.image;
    const file = path.join(dataDir, imagePath(image));
    const frame = await decodeToRgb(file).catch((error: unknown) => {
      throw new VisionLoopError(
        'DATASET_INVALID',
        `frame ${imagePath(image)} of the snapshot cannot be read: ${messageOf(error)}`,
      );
    });
    for (const source of list) {
      const { image: crop, rect } = cutStageCrop(frame, source.box, size, padding);
      const mask =
        source.polygon === undefined
          ? new Uint8Array(size * size)
          : rasterisePolygon(source.polygon, rect, size);
      const className = task === 'classify' ? source.cropClass! : 'defect';
      let maskPx = 0;
      for (const value of mask) maskPx += value;
      splits[image.split].push({
        image: crop,
        mask,
        record: {
          classId: names.indexOf(className),
          className,
          kind: source.className,
          maskPx,
          box: { x1: rect.x, y1: rect.y, x2: rect.x + rect.width, y2: rect.y + rect.height },
          image: image.id,
        },
      });
    }
  }
  await mkdir(outDir, { recursive: true });
  const summary: StageCropSetSummary = {
    task,
    outDir,
    size,
    names,
    train: { count: 0, perClass: {} },
    val: { count: 0, perClass: {} },
    skipped: selection.skipped,
    unmatched: selection.unmatched,
  };
  for (const split of ['train', 'val'] as const) {
    const crops = splits[split];
    const images = new Uint8Array(crops.length * size * size * 3);
    const masks = new Uint8Array(crops.length * size * size);
    crops.forEach((crop, i) => {
      images.set(crop.image.data, i * size * size * 3);
      masks.set(crop.mask, i * size * size);
      const perClass = summary[split].perClass;
      perClass[crop.record.className] = (perClass[crop.record.className] ?? 0) + 1;
    });
    summary[split].count = crops.length;
    await writeFile(path.join(outDir, `${split}.images.u8`), images);
    await writeFile(path.join(outDir, `${split}.masks.u8`), masks);
    await writeFile(
      path.join(outDir, `${split}.jsonl`),
      crops.map((crop) => `${JSON.stringify(crop.record)}\n`).join(''),
    );
  }
  const meta = {
    format: 'visionloop-crops-v1',
    size,
    channels: 3,
    padding,
    names,
    source: { task, datasetId: options.datasetId ?? null, from: 'reviewed labels' },
    train: summary.train,
    val: summary.val,
    skipped: summary.skipped,
    unmatched: summary.unmatched,
  };
  await writeFile(path.join(outDir, 'crops.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return summary;
}
