/**
 * The drift monitor's training reference (issue 6): the image-quality features of a model's
 * training images, computed when the model is registered. The seed recipe writes them beside
 * the seed model (`training-features.json`), because its training images are not shipped; the
 * retraining job computes them from the snapshot it trained on.
 *
 * Never reads more than `maxImages` images: an evenly spaced subsample (by sorted file name),
 * so the reference is deterministic for a given data set.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import type { YoloDatasetRepository } from '../repositories/yolo-dataset.repository.js';
import { FEATURE_NAMES, type FrameFeatures } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import { computeFeatures } from '../vision/features.js';

/** Most images a training reference is computed from. */
export const TRAINING_REFERENCE_MAX_IMAGES = 500;

/** The file beside a model that holds its training images' features. */
export const TRAINING_FEATURES_FILE = 'training-features.json';

/** Evenly spaced picks of at most `max` items, first item included, order kept. */
export function evenlySpaced<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  const step = items.length / max;
  return Array.from({ length: max }, (_, i) => items[Math.floor(i * step)] as T);
}

/** Features of (a subsample of) one split of a YOLO data set. */
export async function datasetFeatures(
  datasets: YoloDatasetRepository,
  location: string,
  options: { split?: 'train' | 'val'; maxImages?: number } = {},
): Promise<FrameFeatures[]> {
  const dataset = await datasets.readDataset(location);
  const images = (await datasets.listImages(dataset, options.split ?? 'train')).sort();
  const picked = evenlySpaced(images, options.maxImages ?? TRAINING_REFERENCE_MAX_IMAGES);
  const features: FrameFeatures[] = [];
  for (const file of picked) features.push(computeFeatures(await datasets.loadImage(file)));
  return features;
}

const featureFileSchema = z.object({
  version: z.string().min(1),
  images: z.number().int().positive(),
  features: z
    .array(z.record(z.string(), z.number().nullable()))
    .min(1)
    .refine((rows) => rows.every((row) => FEATURE_NAMES.every((name) => name in row)), {
      message: `every row needs ${FEATURE_NAMES.join(', ')}`,
    }),
});

/** Writes `training-features.json` (the seed recipe). */
export async function writeTrainingFeatures(
  file: string,
  version: string,
  features: readonly FrameFeatures[],
): Promise<void> {
  const rounded = features.map((row) =>
    Object.fromEntries(
      FEATURE_NAMES.map((name) => [name, Number.isFinite(row[name]) ? round6(row[name]) : null]),
    ),
  );
  await writeFile(
    file,
    `${JSON.stringify({ version, images: features.length, features: rounded })}\n`,
  );
}

/**
 * Reads `training-features.json`; null when the file is absent. CONFIG_INVALID, naming the
 * file, when it is not what the recipe writes.
 */
export async function readTrainingFeatures(
  file: string,
): Promise<{ version: string; features: FrameFeatures[] } | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return null;
    throw error;
  }
  let parsed: z.infer<typeof featureFileSchema>;
  try {
    parsed = featureFileSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new VisionLoopError(
      'CONFIG_INVALID',
      `${file}: not a training-features file (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  const features = parsed.features.map(
    (row) =>
      Object.fromEntries(
        FEATURE_NAMES.map((name) => [name, row[name] ?? Number.NaN]),
      ) as unknown as FrameFeatures,
  );
  return { version: parsed.version, features };
}

function round6(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
