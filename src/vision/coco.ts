/**
 * COCO files for evaluation: schemas for an annotations file (images, annotations with
 * bbox [x, y, w, h], categories) and for a results file (an array of {image_id, category_id,
 * bbox, score}), and converters to the inputs of map.ts.
 *
 * Classes: a COCO file's categories, sorted by id, become class 0, 1, … (COCOeval sorts them
 * the same way). Against a YOLO dataset a results file uses the class index as category_id and
 * the image file's stem as image_id — or, when image_id is a number, the image whose stem is
 * that number in digits ("000123.jpg" ↔ 123), the rule Ultralytics' save_json follows.
 *
 * Pure: parses values already read from disk; never reads files. Malformed input is rejected
 * with a message naming the entry and field, never repaired silently.
 */
import { z } from 'zod';
import type { Box } from '../shared/domain.js';
import { VisionLoopError, type ErrorCode } from '../shared/errors.js';
import type { CocoBbox, GroundTruthImage, ImageId, PredictedObject } from './map.js';

const imageIdSchema = z.union([z.number().int(), z.string().min(1)]);
const bboxSchema = z
  .tuple([z.number(), z.number(), z.number(), z.number()])
  .refine((b) => b[2] >= 0 && b[3] >= 0, { message: 'width and height must be ≥ 0' });

export const cocoAnnotationsSchema = z.object({
  images: z.array(
    z.object({
      id: imageIdSchema,
      file_name: z.string().optional(),
      width: z.number().positive().optional(),
      height: z.number().positive().optional(),
    }),
  ),
  annotations: z.array(
    z.object({
      id: z.number().int().optional(),
      image_id: imageIdSchema,
      category_id: z.number().int(),
      bbox: bboxSchema,
      area: z.number().nonnegative().optional(),
      iscrowd: z.union([z.literal(0), z.literal(1), z.boolean()]).optional(),
    }),
  ),
  categories: z
    .array(
      z.object({ id: z.number().int(), name: z.string(), supercategory: z.string().optional() }),
    )
    .min(1, { message: 'at least one category is needed' }),
});
export type CocoAnnotations = z.infer<typeof cocoAnnotationsSchema>;

export const cocoResultsSchema = z.array(
  z.object({
    image_id: imageIdSchema,
    category_id: z.number().int(),
    bbox: bboxSchema,
    score: z.number(),
  }),
);
export type CocoResult = z.infer<typeof cocoResultsSchema>[number];

/** Ground truth read from a COCO annotations file, ready for evaluateDetections. */
export interface CocoGroundTruth {
  images: GroundTruthImage[];
  /** Category names in class order (categories sorted by id). */
  classNames: string[];
  /** categoryIds[classId] is the COCO category id of that class. */
  categoryIds: number[];
  /** Things pycocotools would score differently (see docs/evaluation.md), for people to read. */
  warnings: string[];
}

export function cocoBboxToBox([x, y, w, h]: CocoBbox): Box {
  return { x1: x, y1: y, x2: x + w, y2: y + h };
}

export function boxToCocoBbox(box: Box): [number, number, number, number] {
  return [box.x1, box.y1, box.x2 - box.x1, box.y2 - box.y1];
}

function formatPath(path: readonly PropertyKey[], root: string): string {
  return path.reduce<string>(
    (text, key) =>
      typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key),
    root,
  );
}

function parseWith<T>(
  schema: z.ZodType<T>,
  value: unknown,
  root: string,
  source: string,
  code: ErrorCode,
): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const shown = issues
    .slice(0, 3)
    .map((issue) => `${formatPath(issue.path, root)}: ${issue.message}`);
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more problems)` : '';
  throw new VisionLoopError(code, `${source}: ${shown.join('; ')}${more}`);
}

/** Validates a parsed COCO annotations file; `source` names it in messages. */
export function parseCocoAnnotations(value: unknown, source = 'annotations'): CocoAnnotations {
  return parseWith(cocoAnnotationsSchema, value, '', source, 'DATASET_INVALID');
}

/** Validates a parsed COCO results file (detections); `source` names it in messages. */
export function parseCocoResults(value: unknown, source = 'predictions'): CocoResult[] {
  return parseWith(cocoResultsSchema, value, '', source, 'VALIDATION_FAILED');
}

function datasetInvalid(source: string, message: string): never {
  throw new VisionLoopError('DATASET_INVALID', `${source}: ${message}`);
}

/**
 * Converts validated annotations to ground truth. Rejects what COCOeval would silently
 * mis-score: duplicate ids, annotations on unknown images or categories, crowd regions.
 */
export function cocoGroundTruth(
  annotations: CocoAnnotations,
  source = 'annotations',
): CocoGroundTruth {
  const categories = [...annotations.categories].sort((a, b) => a.id - b.id);
  const classOf = new Map<number, number>();
  categories.forEach((category, classId) => {
    if (classOf.has(category.id))
      datasetInvalid(source, `category id ${category.id} appears twice`);
    classOf.set(category.id, classId);
  });
  const images = new Map<ImageId, GroundTruthImage>();
  annotations.images.forEach((image, i) => {
    if (images.has(image.id)) datasetInvalid(source, `images[${i}]: id ${image.id} appears twice`);
    images.set(image.id, {
      imageId: image.id,
      ...(image.width !== undefined ? { width: image.width } : {}),
      ...(image.height !== undefined ? { height: image.height } : {}),
      objects: [],
    });
  });
  const warnings: string[] = [];
  const annotationIds = new Set<number>();
  annotations.annotations.forEach((annotation, a) => {
    const where = `annotations[${a}]`;
    const image = images.get(annotation.image_id);
    if (!image)
      datasetInvalid(
        source,
        `${where}: image_id ${JSON.stringify(annotation.image_id)} is not in images`,
      );
    const classId = classOf.get(annotation.category_id);
    if (classId === undefined) {
      datasetInvalid(
        source,
        `${where}: category_id ${annotation.category_id} is not in categories`,
      );
    }
    if (annotation.iscrowd === 1 || annotation.iscrowd === true) {
      datasetInvalid(
        source,
        `${where}: iscrowd=1 (a crowd region) is not supported; remove crowd annotations`,
      );
    }
    if (annotation.id !== undefined) {
      if (annotationIds.has(annotation.id)) {
        datasetInvalid(source, `${where}: annotation id ${annotation.id} appears twice`);
      }
      annotationIds.add(annotation.id);
      if (annotation.id === 0) {
        warnings.push(
          `${source}: ${where} has id 0; pycocotools counts a detection matched to it as a ` +
            'false positive, VisionLoop does not (renumber annotations from 1 to compare)',
        );
      }
    }
    const cocoBbox: CocoBbox = annotation.bbox;
    image.objects.push({
      classId,
      box: cocoBboxToBox(cocoBbox),
      cocoBbox,
      ...(annotation.area !== undefined ? { area: annotation.area } : {}),
    });
  });
  return {
    images: [...images.values()],
    classNames: categories.map((category) => category.name),
    categoryIds: categories.map((category) => category.id),
    warnings,
  };
}

function validationFailed(source: string, message: string): never {
  throw new VisionLoopError('VALIDATION_FAILED', `${source}: ${message}`);
}

/** Converts results scored against a COCO annotations file: category ids → class ids. */
export function cocoPredictions(
  results: readonly CocoResult[],
  groundTruth: CocoGroundTruth,
  source = 'predictions',
): PredictedObject[] {
  const classOf = new Map(groundTruth.categoryIds.map((id, classId) => [id, classId]));
  const imageIds = new Set(groundTruth.images.map((image) => image.imageId));
  const known = groundTruth.categoryIds.join(', ');
  return results.map((result, r) => {
    if (!imageIds.has(result.image_id)) {
      validationFailed(
        source,
        `[${r}].image_id ${JSON.stringify(result.image_id)} is not an image of the annotations`,
      );
    }
    const classId = classOf.get(result.category_id);
    if (classId === undefined) {
      validationFailed(
        source,
        `[${r}].category_id ${result.category_id} is not a category of the annotations (${known})`,
      );
    }
    return toPrediction(result, result.image_id, classId);
  });
}

/**
 * Converts results scored against a YOLO dataset, whose image ids are file stems: category_id
 * is the class index; image_id is the stem, or a number matching an all-digit stem.
 */
export function yoloPredictions(
  results: readonly CocoResult[],
  images: readonly GroundTruthImage[],
  classCount: number,
  source = 'predictions',
): PredictedObject[] {
  const stems = new Set(images.map((image) => String(image.imageId)));
  const byNumber = new Map<number, string[]>();
  for (const stem of stems) {
    if (!/^\d+$/.test(stem)) continue;
    const n = Number.parseInt(stem, 10);
    byNumber.set(n, [...(byNumber.get(n) ?? []), stem]);
  }
  return results.map((result, r) => {
    let stem: string;
    if (typeof result.image_id === 'number') {
      const matches = byNumber.get(result.image_id) ?? [];
      if (matches.length !== 1) {
        validationFailed(
          source,
          matches.length === 0
            ? `[${r}].image_id ${result.image_id} matches no image stem of the dataset`
            : `[${r}].image_id ${result.image_id} matches several images (${matches.join(', ')})`,
        );
      }
      stem = matches[0] ?? '';
    } else {
      if (!stems.has(result.image_id)) {
        validationFailed(
          source,
          `[${r}].image_id "${result.image_id}" is not an image stem of the dataset`,
        );
      }
      stem = result.image_id;
    }
    if (result.category_id < 0 || result.category_id >= classCount) {
      validationFailed(
        source,
        `[${r}].category_id ${result.category_id} is not a class index 0..${classCount - 1}`,
      );
    }
    return toPrediction(result, stem, result.category_id);
  });
}

function toPrediction(result: CocoResult, imageId: ImageId, classId: number): PredictedObject {
  const cocoBbox: CocoBbox = result.bbox;
  return { imageId, classId, score: result.score, box: cocoBboxToBox(cocoBbox), cocoBbox };
}
