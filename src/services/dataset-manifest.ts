/**
 * Dataset manifests: the pure rules that make a snapshot immutable and content-named.
 *
 * A manifest lists the class names and, per image, its id (the sha256 of the image file, so
 * the id is the file hash), file format, size, split and YOLO label rows. Rows are canonical
 * (`class cx cy w h`, normalized, 6 decimals, sorted), so the same boxes always give the same
 * text whatever order a reviewer drew them in, and a row read back from an exported label file
 * is byte-identical to the one written. The dataset id is the sha256 of the manifest's
 * canonical JSON: export → import gives the same id.
 *
 * The split is a function of the image id alone (sha256("split:" + id) mod 10 = 0 → val,
 * about 10%), so an image is on the same side in every snapshot that contains it and a
 * validation image never becomes a training image after a replay.
 *
 * Pure: no I/O, no clock.
 */
import { createHash } from 'node:crypto';
import YAML from 'yaml';
import { z } from 'zod';
import type { DatasetCounts } from '../shared/api/datasets.js';
import type { Box } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';

export const MANIFEST_FORMAT = 'visionloop-dataset/1';
export const IMAGE_EXTENSIONS = ['jpg', 'png', 'webp', 'bmp'] as const;
export type ImageExt = (typeof IMAGE_EXTENSIONS)[number];
export type ManifestSplit = 'train' | 'val';

/** One in VAL_BUCKETS images goes to val. */
export const VAL_BUCKETS = 10;

export interface ManifestImage {
  /** sha256 (hex) of the image file: its blob key and its file stem. */
  id: string;
  ext: ImageExt;
  width: number;
  height: number;
  split: ManifestSplit;
  /** Canonical YOLO rows, sorted; empty for an image without objects. */
  labels: string[];
  /**
   * YOLO-seg rows (`class x0 y0 x1 y1 …`, normalized, 6 decimals), sorted: the mask outlines
   * of the boxes that have one. Absent when none has (and then not part of the hash).
   */
  segments?: string[];
  /**
   * The crop classifier's class of boxes that have one: `box` is the box's canonical row in
   * `labels`. Sorted by box, then class. Absent when no box has one (not part of the hash).
   */
  crops?: ManifestCrop[];
}

export interface ManifestCrop {
  box: string;
  cropClass: string;
}

export interface DatasetManifest {
  format: typeof MANIFEST_FORMAT;
  classNames: string[];
  /** Sorted by id. */
  images: ManifestImage[];
}

/** An image with its boxes in pixels, named by class. */
export interface LabeledImage {
  id: string;
  ext: ImageExt;
  width: number;
  height: number;
  boxes: readonly {
    className: string;
    box: Box;
    /** Mask outline, flat frame pixels. */
    polygon?: readonly number[];
    cropClass?: string;
  }[];
}

const SHA256 = /^[0-9a-f]{64}$/;
const ROW = /^\d+ (?:0|1)\.\d{6} (?:0|1)\.\d{6} (?:0|1)\.\d{6} (?:0|1)\.\d{6}$/;
const SEGMENT_ROW = /^\d+(?: (?:0|1)\.\d{6} (?:0|1)\.\d{6}){3,64}$/;

const manifestSchema = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  classNames: z.array(z.string().min(1)).min(1),
  images: z.array(
    z.strictObject({
      id: z.string().regex(SHA256),
      ext: z.enum(IMAGE_EXTENSIONS),
      width: z.number().int().min(1),
      height: z.number().int().min(1),
      split: z.enum(['train', 'val']),
      labels: z.array(z.string().regex(ROW)),
      segments: z.array(z.string().regex(SEGMENT_ROW)).optional(),
      crops: z
        .array(z.strictObject({ box: z.string().regex(ROW), cropClass: z.string().min(1) }))
        .optional(),
    }),
  ),
});

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The split of an image, from its id alone. */
export function splitOf(imageId: string): ManifestSplit {
  const digest = createHash('sha256').update(`split:${imageId}`).digest();
  return digest.readUInt32BE(0) % VAL_BUCKETS === 0 ? 'val' : 'train';
}

function fixed6(value: number): string {
  const clamped = Math.min(1, Math.max(0, value));
  // toFixed keeps a minus sign on -0 and on tiny negatives that round to zero.
  const text = clamped.toFixed(6);
  return text === '-0.000000' ? '0.000000' : text;
}

/** The canonical YOLO row of a pixel box in a `width`×`height` image. */
export function yoloRow(classId: number, box: Box, width: number, height: number): string {
  const cx = (box.x1 + box.x2) / 2 / width;
  const cy = (box.y1 + box.y2) / 2 / height;
  const w = (box.x2 - box.x1) / width;
  const h = (box.y2 - box.y1) / height;
  return `${classId} ${fixed6(cx)} ${fixed6(cy)} ${fixed6(w)} ${fixed6(h)}`;
}

/** The YOLO-seg row of a flat pixel polygon in a `width`×`height` image. */
export function segmentRow(
  classId: number,
  polygon: readonly number[],
  width: number,
  height: number,
): string {
  const values: string[] = [String(classId)];
  for (let i = 0; i + 1 < polygon.length; i += 2) {
    values.push(fixed6((polygon[i] ?? 0) / width), fixed6((polygon[i + 1] ?? 0) / height));
  }
  return values.join(' ');
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Parses a canonical row back to a class id and a pixel box. */
export function parseYoloRow(
  row: string,
  width: number,
  height: number,
): { classId: number; box: Box } {
  const [classId = 0, cx = 0, cy = 0, w = 0, h = 0] = row.split(' ').map(Number);
  return {
    classId,
    box: {
      x1: (cx - w / 2) * width,
      y1: (cy - h / 2) * height,
      x2: (cx + w / 2) * width,
      y2: (cy + h / 2) * height,
    },
  };
}

/** The manifest entry of one image; INTERNAL when a box names a class not in `classNames`. */
export function manifestImage(image: LabeledImage, classNames: readonly string[]): ManifestImage {
  const segments: string[] = [];
  const crops: ManifestCrop[] = [];
  const labels = image.boxes
    .map(({ className, box, polygon, cropClass }) => {
      const classId = classNames.indexOf(className);
      if (classId < 0) {
        throw new VisionLoopError(
          'INTERNAL',
          `image ${image.id} has a box of class '${className}', which is not a class of this deployment`,
        );
      }
      const row = yoloRow(classId, box, image.width, image.height);
      if (polygon !== undefined && polygon.length >= 6) {
        segments.push(segmentRow(classId, polygon, image.width, image.height));
      }
      if (cropClass !== undefined) crops.push({ box: row, cropClass });
      return row;
    })
    .sort();
  return {
    id: image.id,
    ext: image.ext,
    width: image.width,
    height: image.height,
    split: splitOf(image.id),
    labels,
    ...(segments.length === 0 ? {} : { segments: segments.sort() }),
    ...(crops.length === 0
      ? {}
      : {
          crops: crops.sort(
            (a, b) => compareText(a.box, b.box) || compareText(a.cropClass, b.cropClass),
          ),
        }),
  };
}

/** A manifest with its images in canonical order. `images` must not repeat an id. */
export function buildManifest(
  classNames: readonly string[],
  images: readonly ManifestImage[],
): DatasetManifest {
  const sorted = [...images].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.id === sorted[i - 1]?.id) {
      throw new VisionLoopError('INTERNAL', `image ${sorted[i]?.id} is listed twice`);
    }
  }
  return { format: MANIFEST_FORMAT, classNames: [...classNames], images: sorted };
}

/** The manifest's canonical JSON (fixed key order, no whitespace): what its id hashes. */
export function manifestText(manifest: DatasetManifest): string {
  return JSON.stringify({
    format: manifest.format,
    classNames: manifest.classNames,
    // segments and crops only when present: a manifest without them hashes as before.
    images: manifest.images.map((image) => ({
      id: image.id,
      ext: image.ext,
      width: image.width,
      height: image.height,
      split: image.split,
      labels: image.labels,
      ...(image.segments === undefined || image.segments.length === 0
        ? {}
        : { segments: image.segments }),
      ...(image.crops === undefined || image.crops.length === 0
        ? {}
        : { crops: image.crops.map((crop) => ({ box: crop.box, cropClass: crop.cropClass })) }),
    })),
  });
}

/** The dataset id: sha256 of the canonical manifest text. */
export function manifestId(manifest: DatasetManifest): string {
  return sha256Hex(manifestText(manifest));
}

/** Parses a stored manifest; INTERNAL when it is not one (the blob store is ours). */
export function parseManifest(text: string, id: string): DatasetManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new VisionLoopError('INTERNAL', `the manifest of dataset ${id} is not JSON`, {
      cause: error,
    });
  }
  const parsed = manifestSchema.safeParse(value);
  if (!parsed.success) {
    throw new VisionLoopError('INTERNAL', `the manifest of dataset ${id} is not a manifest`);
  }
  return { ...parsed.data, format: MANIFEST_FORMAT };
}

/** The path of an image's YOLO-seg label file (only images with mask outlines have one). */
export function segmentLabelPath(image: ManifestImage): string {
  return `labels-seg/${image.split}/${image.id}.txt`;
}

/** Whether the manifest holds any mask outline or crop class. */
export function hasStageLabels(manifest: DatasetManifest): { segments: boolean; crops: boolean } {
  let segments = false;
  let crops = false;
  for (const image of manifest.images) {
    if ((image.segments?.length ?? 0) > 0) segments = true;
    if ((image.crops?.length ?? 0) > 0) crops = true;
  }
  return { segments, crops };
}

export const CROPS_CSV_HEADER = 'image,split,class_id,class,x1,y1,x2,y2,crop_class';

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * crops.csv: one line per box with a crop class — the image file (relative to the data set
 * root), its split, the box's detector class and its corners in pixels (from the canonical
 * row, 3 decimals), and the crop class. Images in manifest order, boxes sorted.
 */
export function cropsCsvText(manifest: DatasetManifest): string {
  const lines = [CROPS_CSV_HEADER];
  for (const image of manifest.images) {
    for (const crop of image.crops ?? []) {
      const { classId, box } = parseYoloRow(crop.box, image.width, image.height);
      lines.push(
        [
          imagePath(image),
          image.split,
          String(classId),
          csvField(manifest.classNames[classId] ?? ''),
          String(round3(box.x1)),
          String(round3(box.y1)),
          String(round3(box.x2)),
          String(round3(box.y2)),
          csvField(crop.cropClass),
        ].join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export function countsOf(manifest: DatasetManifest): DatasetCounts {
  const perClass: Record<string, number> = Object.fromEntries(
    manifest.classNames.map((name) => [name, 0]),
  );
  let train = 0;
  let boxes = 0;
  let empty = 0;
  for (const image of manifest.images) {
    if (image.split === 'train') train++;
    if (image.labels.length === 0) empty++;
    boxes += image.labels.length;
    for (const row of image.labels) {
      const name = manifest.classNames[Number(row.slice(0, row.indexOf(' ')))];
      if (name !== undefined) perClass[name] = (perClass[name] ?? 0) + 1;
    }
  }
  return {
    images: manifest.images.length,
    train,
    val: manifest.images.length - train,
    boxes,
    empty,
    perClass,
  };
}

/**
 * A deterministic sample of `candidates`: ordered by sha256(seed + ":" + id), the first
 * `count` (or `round(fraction · n)`; neither: all). The same seed and ids give the same
 * sample whatever order the candidates come in.
 */
export function sampleImages(
  candidates: readonly ManifestImage[],
  options: { count?: number; fraction?: number; seed: number },
): ManifestImage[] {
  const n =
    options.count !== undefined
      ? Math.min(options.count, candidates.length)
      : options.fraction !== undefined
        ? Math.round(options.fraction * candidates.length)
        : candidates.length;
  return candidates
    .map((image) => ({ image, key: sha256Hex(`${options.seed}:${image.id}`) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, n)
    .map(({ image }) => image);
}

/** The path of an image or label file inside a dataset directory. */
export function imagePath(image: ManifestImage): string {
  return `images/${image.split}/${image.id}.${image.ext}`;
}

export function labelPath(image: ManifestImage): string {
  return `labels/${image.split}/${image.id}.txt`;
}

/** A label file's text: one row per line, empty for an image without objects. */
export function labelText(image: ManifestImage): string {
  return image.labels.length === 0 ? '' : `${image.labels.join('\n')}\n`;
}

/**
 * data.yaml for the manifest. `root` (absolute) is written as `path` for a directory on disk;
 * archives leave it out, so readers resolve the splits against the data.yaml's own directory.
 * `val` is left out when the snapshot has no validation image (the trainer then reports no
 * validation metrics instead of failing on an empty split).
 */
export function dataYamlText(manifest: DatasetManifest, id: string, root?: string): string {
  const hasVal = manifest.images.some((image) => image.split === 'val');
  const document: Record<string, unknown> = {};
  if (root !== undefined) document.path = root;
  document.train = 'images/train';
  if (hasVal) document.val = 'images/val';
  document.nc = manifest.classNames.length;
  document.names = new Map(manifest.classNames.map((name, index) => [index, name]));
  return `# VisionLoop dataset snapshot ${id}\n${YAML.stringify(document)}`;
}

/** COCO category ids start at 1 (0 is "background" in many tools). */
export const COCO_CATEGORY_OFFSET = 1;

/**
 * The COCO instances document of one split (`file_name` relative to `images/<split>/`),
 * with boxes from the canonical rows, so the YOLO and COCO exports of a snapshot agree.
 */
export function cocoDocument(
  manifest: DatasetManifest,
  split: ManifestSplit,
  id: string,
): Record<string, unknown> {
  const images: Record<string, unknown>[] = [];
  const annotations: Record<string, unknown>[] = [];
  let imageNumber = 0;
  let annotationNumber = 0;
  for (const image of manifest.images) {
    if (image.split !== split) continue;
    imageNumber++;
    images.push({
      id: imageNumber,
      file_name: `${image.id}.${image.ext}`,
      width: image.width,
      height: image.height,
    });
    for (const row of image.labels) {
      const { classId, box } = parseYoloRow(row, image.width, image.height);
      const w = box.x2 - box.x1;
      const h = box.y2 - box.y1;
      annotationNumber++;
      annotations.push({
        id: annotationNumber,
        image_id: imageNumber,
        category_id: classId + COCO_CATEGORY_OFFSET,
        bbox: [round3(box.x1), round3(box.y1), round3(w), round3(h)],
        area: round3(w * h),
        iscrowd: 0,
      });
    }
  }
  return {
    info: { description: `VisionLoop dataset snapshot ${id} (${split})`, version: id },
    images,
    annotations,
    categories: manifest.classNames.map((name, index) => ({
      id: index + COCO_CATEGORY_OFFSET,
      name,
      supercategory: 'defect',
    })),
  };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The format of an image file from its first bytes; null when it is none of ours. */
export function sniffImageExt(head: Uint8Array): ImageExt | null {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpg';
  if (
    head.length >= 8 &&
    head[0] === 0x89 &&
    head[1] === 0x50 &&
    head[2] === 0x4e &&
    head[3] === 0x47
  ) {
    return 'png';
  }
  if (
    head.length >= 12 &&
    Buffer.from(head.subarray(0, 4)).toString('latin1') === 'RIFF' &&
    Buffer.from(head.subarray(8, 12)).toString('latin1') === 'WEBP'
  ) {
    return 'webp';
  }
  if (head.length >= 2 && head[0] === 0x42 && head[1] === 0x4d) return 'bmp';
  return null;
}
