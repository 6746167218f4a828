/**
 * Writes a synthetic data set in the Ultralytics YOLO layout (DESIGN.md §4): data.yaml,
 * images/{train,val}/<stem>.jpg|png and labels/{train,val}/<stem>.txt. Frames are independent
 * samples (renderDatasetSample), the train/val split is a seeded permutation, so the same
 * options always produce the same files. Rendering is synchronous and pure; this module owns
 * the file writes, with a few encodes in flight while the next frame renders. It never deletes
 * anything but its own data.yaml, images/ and labels/ (and those only with `overwrite`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import YAML from 'yaml';
import { SYNTH_CLASSES, type SynthClass } from '../shared/domain.js';
import { VisionLoopError, messageOf } from '../shared/errors.js';
import type { PresetName } from './conditions.js';
import { Rng, hashSeed } from './rng.js';
import {
  invalidExportOption,
  prepareExportDirectory,
  validateSplitOptions,
} from './export-setup.js';
import { parsePresetList, renderDatasetSample } from './samples.js';
import type { GroundTruthObject } from './scene.js';
import type { RgbImage } from '../vision/image.js';

export interface ExportOptions {
  outDir: string;
  /** A preset, a comma-separated mix (`nominal,night`) or a list; samples alternate between them. */
  presets: string | readonly string[];
  count: number;
  seed?: number;
  /** Share of frames in the validation split, 0 ≤ f < 1 (default 0.2). */
  valFraction?: number;
  format?: 'jpg' | 'png';
  /** JPEG quality 1..100 (default 95). */
  quality?: number;
  width?: number;
  height?: number;
  /** Replace an existing data set in outDir (its data.yaml, images/ and labels/). */
  overwrite?: boolean;
}

export interface ExportProgress {
  done: number;
  total: number;
}

export interface ExportSummary {
  outDir: string;
  dataYaml: string;
  train: number;
  val: number;
  objects: number;
  perClass: Record<SynthClass, number>;
  perPreset: Partial<Record<PresetName, number>>;
}

const IN_FLIGHT = 4;

/** One YOLO label row per object: `class cx cy w h`, normalised, 6 decimals. */
export function yoloLabelText(
  objects: readonly GroundTruthObject[],
  width: number,
  height: number,
): string {
  return objects
    .map(({ classId, box }) => {
      const cx = (box.x1 + box.x2) / 2 / width;
      const cy = (box.y1 + box.y2) / 2 / height;
      const w = (box.x2 - box.x1) / width;
      const h = (box.y2 - box.y1) / height;
      return `${classId} ${cx.toFixed(6)} ${cy.toFixed(6)} ${w.toFixed(6)} ${h.toFixed(6)}\n`;
    })
    .join('');
}

/**
 * Writes one YOLO sample: `images/<split>/<stem>.<format>` (JPEG at `quality`, or PNG) and its
 * `labels/<split>/<stem>.txt`. The split's directories must exist.
 */
export async function writeYoloSample(
  dir: string,
  split: 'train' | 'val',
  stem: string,
  sample: { image: RgbImage; objects: readonly GroundTruthObject[] },
  encoding: { format: 'jpg' | 'png'; quality: number },
): Promise<void> {
  const { width, height, data } = sample.image;
  const encoder = sharp(data, { raw: { width, height, channels: 3 } });
  const imagePath = join(dir, 'images', split, `${stem}.${encoding.format}`);
  await Promise.all([
    (encoding.format === 'jpg'
      ? encoder.jpeg({ quality: encoding.quality })
      : encoder.png()
    ).toFile(imagePath),
    writeFile(
      join(dir, 'labels', split, `${stem}.txt`),
      yoloLabelText(sample.objects, width, height),
    ),
  ]);
}

/** Indices of the validation frames: exactly round(count·f) of them (≥ 1 when f > 0 and count ≥ 2). */
export function validationIndices(count: number, valFraction: number, seed: number): Set<number> {
  if (valFraction <= 0 || count < 2) return new Set();
  const n = Math.min(count - 1, Math.max(1, Math.round(count * valFraction)));
  const order = Array.from({ length: count }, (_, i) => i);
  const rng = new Rng(hashSeed(seed, 0x5b117));
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return new Set(order.slice(0, n));
}

function validate(options: ExportOptions): Required<Omit<ExportOptions, 'presets'>> & {
  presets: PresetName[];
} {
  const presets = parsePresetList(options.presets);
  const { count, seed, valFraction } = validateSplitOptions(options);
  const format = options.format ?? 'jpg';
  if (format !== 'jpg' && format !== 'png') {
    throw invalidExportOption(`format must be jpg or png, got ${String(format)}`);
  }
  const quality = options.quality ?? 95;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw invalidExportOption(`quality must be an integer in 1..100, got ${quality}`);
  }
  if (!options.outDir) throw invalidExportOption('an output directory is required');
  return {
    outDir: resolve(options.outDir),
    presets,
    count,
    seed,
    valFraction,
    format,
    quality,
    width: options.width ?? 640,
    height: options.height ?? 480,
    overwrite: options.overwrite ?? false,
  };
}

async function prepareDatasetDirectory(outDir: string, overwrite: boolean): Promise<void> {
  await prepareExportDirectory(outDir, overwrite, ['data.yaml', 'images', 'labels'], 'a data set');
  for (const split of ['train', 'val']) {
    await mkdir(join(outDir, 'images', split), { recursive: true });
    await mkdir(join(outDir, 'labels', split), { recursive: true });
  }
}

/** The data.yaml text: paths relative to `path`, class names as an id → name mapping. */
export function dataYamlText(outDir: string, comment: string): string {
  const body = YAML.stringify({
    path: outDir,
    train: 'images/train',
    val: 'images/val',
    nc: SYNTH_CLASSES.length,
    names: new Map(SYNTH_CLASSES.map((name, id) => [id, name])),
  });
  return `# ${comment}\n${body}`;
}

/**
 * Renders and writes `count` samples. `onProgress` is called after each frame is on disk.
 * Errors: INVALID_ARGUMENT for bad options or an unwritable directory, CONFLICT when the
 * directory already holds a data set and `overwrite` is not set.
 */
export async function exportDataset(
  options: ExportOptions,
  onProgress?: (progress: ExportProgress) => void,
): Promise<ExportSummary> {
  const o = validate(options);
  await prepareDatasetDirectory(o.outDir, o.overwrite);
  const val = validationIndices(o.count, o.valFraction, o.seed);
  const perClass = Object.fromEntries(SYNTH_CLASSES.map((c) => [c, 0])) as Record<
    SynthClass,
    number
  >;
  const perPreset: Partial<Record<PresetName, number>> = {};
  let objects = 0;
  let done = 0;
  let failure: unknown;
  const pending = new Set<Promise<void>>();
  const digits = Math.max(6, String(o.count - 1).length);
  for (let index = 0; index < o.count && failure === undefined; index++) {
    const sample = renderDatasetSample(o.seed, index, o.presets, o.width, o.height);
    const split = val.has(index) ? 'val' : 'train';
    const stem = `synth-s${o.seed}-${String(index).padStart(digits, '0')}-${sample.preset}`;
    objects += sample.objects.length;
    for (const object of sample.objects) perClass[object.className]++;
    perPreset[sample.preset] = (perPreset[sample.preset] ?? 0) + 1;
    const write = writeYoloSample(o.outDir, split, stem, sample, o).then(
      () => {
        done++;
        onProgress?.({ done, total: o.count });
      },
      (error: unknown) => {
        failure ??= error;
      },
    );
    const tracked = write.finally(() => pending.delete(tracked));
    pending.add(tracked);
    if (pending.size >= IN_FLIGHT) await Promise.race(pending);
  }
  await Promise.all(pending);
  if (failure !== undefined) {
    throw new VisionLoopError(
      'INVALID_ARGUMENT',
      `cannot write to ${o.outDir}: ${messageOf(failure)}`,
      {
        cause: failure,
      },
    );
  }
  const dataYaml = join(o.outDir, 'data.yaml');
  const presetText = o.presets.join(',');
  await writeFile(
    dataYaml,
    dataYamlText(
      o.outDir,
      `Synthetic inspection line: visionloop synth export --preset ${presetText} --count ${o.count} --seed ${o.seed} --val-fraction ${o.valFraction}`,
    ),
  );
  return {
    outDir: o.outDir,
    dataYaml,
    train: o.count - val.size,
    val: val.size,
    objects,
    perClass,
    perPreset,
  };
}
