/**
 * Reads a dataset in the Ultralytics YOLO layout (DESIGN.md §4): `data.yaml` with `path`,
 * `train`/`val`/`test` (an image directory, a .txt list of images, or a list of either) and
 * `names` (a list, or a mapping {0: name, …}); label files `labels/<split>/<stem>.txt` beside
 * `images/<split>/…` (the last `/images/` of the path becomes `/labels/`, as Ultralytics does),
 * one `class cx cy w h` row per object, normalized to 0..1. A missing label file means an image
 * without objects (reported as a warning).
 *
 * `path` in data.yaml, when relative, is taken relative to the data.yaml file. Image sizes
 * come from the file headers with EXIF orientation applied, as the pixels will be.
 *
 * A thin adapter: it reads and validates files, never scores anything. Every problem is a
 * DATASET_INVALID naming the file (relative to the dataset root) and the line, e.g.
 * `labels/val/a.txt line 3: class id 7 out of range 0..3`.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { decodeToRgb } from '../inference/decode-image.js';
import { parse as parseYaml } from 'yaml';
import type { Box } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import type { RgbImage } from '../vision/image.js';

export const DATASET_SPLITS = ['train', 'val', 'test'] as const;
export type DatasetSplit = (typeof DATASET_SPLITS)[number];
export const DATASET_IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.bmp', '.webp'] as const;

/** How far outside 0..1 a normalized label value may stray (rounding in labeling tools). */
export const LABEL_EPSILON = 1e-6;

export interface YoloDataset {
  /** The data.yaml file. */
  configPath: string;
  /** Absolute dataset root (`path`, else the data.yaml directory). */
  root: string;
  /** Class names in class-id order. */
  names: string[];
  /** Each split's entries from data.yaml, as absolute paths (directories or .txt lists). */
  splits: Partial<Record<DatasetSplit, string[]>>;
}

export interface YoloLabeledObject {
  classId: number;
  /** In image pixels, EXIF orientation applied. */
  box: Box;
}

export interface YoloImage {
  /** File name without extension: the image id of this dataset. */
  stem: string;
  imagePath: string;
  labelPath: string;
  width: number;
  height: number;
  objects: YoloLabeledObject[];
}

export interface YoloSplit {
  dataset: YoloDataset;
  split: DatasetSplit;
  images: YoloImage[];
  /** Problems that do not stop an evaluation (e.g. images without a label file). */
  warnings: string[];
}

export interface YoloDatasetRepositoryOptions {
  /**
   * Decodes formats sharp's libvips cannot read (BMP). Wired to ffmpeg by src/main; without it
   * a BMP image's size is still read (from its header) but its pixels are not.
   */
  decodeUnsupported?: (file: string) => Promise<RgbImage>;
}

function invalid(message: string, cause?: unknown): never {
  throw new VisionLoopError('DATASET_INVALID', message, cause === undefined ? {} : { cause });
}

function isImageFile(name: string): boolean {
  const ext = path.extname(name).toLowerCase();
  return !name.startsWith('.') && (DATASET_IMAGE_EXTENSIONS as readonly string[]).includes(ext);
}

/** Ultralytics' img2label_paths: the last /images/ becomes /labels/, the extension .txt. */
export function labelPathFor(imagePath: string): string {
  const marker = `${path.sep}images${path.sep}`;
  const at = imagePath.lastIndexOf(marker);
  const swapped =
    at < 0
      ? imagePath
      : `${imagePath.slice(0, at)}${path.sep}labels${path.sep}${imagePath.slice(at + marker.length)}`;
  return swapped.slice(0, swapped.length - path.extname(swapped).length) + '.txt';
}

/** The labels directory that mirrors an images directory (itself when there is no /images/). */
function labelDirFor(imageDir: string): string {
  return path.dirname(labelPathFor(path.join(imageDir, 'image.jpg')));
}

function parseNames(value: unknown, where: string): string[] {
  if (Array.isArray(value)) {
    return value.map((name, i) => {
      if (typeof name !== 'string' && typeof name !== 'number') {
        invalid(`${where}: names[${i}] must be a string`);
      }
      return String(name);
    });
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    const names: string[] = [];
    for (const [key, name] of entries) {
      const id = Number(key);
      if (!/^\d+$/.test(key) || id >= entries.length || names[id] !== undefined) {
        invalid(`${where}: names must map the ids 0..${entries.length - 1}, found key '${key}'`);
      }
      if (typeof name !== 'string' && typeof name !== 'number') {
        invalid(`${where}: names[${key}] must be a string`);
      }
      names[id] = String(name);
    }
    return names;
  }
  return invalid(`${where}: 'names' must be a list or a mapping of class ids to names`);
}

/**
 * Parses one label file's text. Throws DATASET_INVALID naming `where` (the label file) and the
 * line. Blank lines are skipped; values may stray LABEL_EPSILON outside 0..1.
 */
export function parseLabelText(
  text: string,
  where: string,
  classCount: number,
  width: number,
  height: number,
): YoloLabeledObject[] {
  const objects: YoloLabeledObject[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const fields = line.trim().split(/\s+/);
    if (fields.length === 1 && fields[0] === '') return;
    const at = `${where} line ${index + 1}`;
    if (fields.length !== 5) {
      const hint = fields.length > 5 ? ' (segmentation polygons are not supported)' : '';
      invalid(`${at}: expected 5 values (class cx cy w h), got ${fields.length}${hint}`);
    }
    const values = fields.map((field) => {
      const value = Number(field);
      if (!Number.isFinite(value)) invalid(`${at}: '${field}' is not a number`);
      return value;
    });
    const [classId = 0, cx = 0, cy = 0, w = 0, h = 0] = values;
    if (!Number.isInteger(classId)) invalid(`${at}: class id ${fields[0]} is not an integer`);
    if (classId < 0 || classId >= classCount) {
      invalid(`${at}: class id ${classId} out of range 0..${classCount - 1}`);
    }
    if (w <= 0 || h <= 0) invalid(`${at}: zero or negative size (w ${fields[3]}, h ${fields[4]})`);
    for (const [k, value] of [cx, cy, w, h].entries()) {
      if (value < -LABEL_EPSILON || value > 1 + LABEL_EPSILON) {
        invalid(`${at}: ${fields[k + 1]} is outside 0..1 (coordinates must be normalized)`);
      }
    }
    objects.push({
      classId,
      box: {
        x1: (cx - w / 2) * width,
        y1: (cy - h / 2) * height,
        x2: (cx + w / 2) * width,
        y2: (cy + h / 2) * height,
      },
    });
  });
  return objects;
}

async function exists(file: string): Promise<'file' | 'directory' | null> {
  try {
    const info = await stat(file);
    return info.isDirectory() ? 'directory' : info.isFile() ? 'file' : null;
  } catch {
    return null;
  }
}

async function listFilesRecursively(
  dir: string,
  keep: (name: string) => boolean,
): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFilesRecursively(full, keep)));
    else if ((entry.isFile() || entry.isSymbolicLink()) && keep(entry.name)) out.push(full);
  }
  return out;
}

/** Width and height of a BMP from its header (sharp cannot read BMP). */
async function bmpSize(file: string): Promise<{ width: number; height: number }> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(26);
    await handle.read(header, 0, 26, 0);
    if (header.toString('latin1', 0, 2) !== 'BM') throw new Error('not a BMP file');
    const headerSize = header.readUInt32LE(14);
    if (headerSize === 12)
      return { width: header.readUInt16LE(18), height: header.readUInt16LE(20) };
    return { width: header.readInt32LE(18), height: Math.abs(header.readInt32LE(22)) };
  } finally {
    await handle.close();
  }
}

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class YoloDatasetRepository {
  constructor(private readonly options: YoloDatasetRepositoryOptions = {}) {}

  /** Reads data.yaml; `location` is the dataset directory or the .yaml file itself. */
  async readDataset(location: string): Promise<YoloDataset> {
    const resolved = path.resolve(location);
    const kind = await exists(resolved);
    if (kind === null) invalid(`no dataset at ${location}`);
    let configPath = resolved;
    if (kind === 'directory') {
      const candidates = ['data.yaml', 'data.yml'].map((name) => path.join(resolved, name));
      const found = [];
      for (const candidate of candidates)
        if ((await exists(candidate)) === 'file') found.push(candidate);
      configPath = found[0] ?? invalid(`no data.yaml in ${location}`);
    }
    let config: unknown;
    try {
      config = parseYaml(await readFile(configPath, 'utf8'));
    } catch (error) {
      invalid(
        `${configPath}: not valid YAML (${error instanceof Error ? error.message : String(error)})`,
        error,
      );
    }
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      invalid(`${configPath}: expected a mapping with path, train, val and names`);
    }
    const fields = config as Record<string, unknown>;
    const base = path.dirname(configPath);
    const rootField = fields.path;
    if (rootField !== undefined && rootField !== null && typeof rootField !== 'string') {
      invalid(`${configPath}: 'path' must be a string`);
    }
    const root =
      typeof rootField === 'string' && rootField !== '' ? path.resolve(base, rootField) : base;
    if (fields.names === undefined) invalid(`${configPath}: 'names' is missing`);
    const names = parseNames(fields.names, configPath);
    if (names.length === 0) invalid(`${configPath}: 'names' is empty`);
    if (fields.nc !== undefined && fields.nc !== names.length) {
      invalid(
        `${configPath}: nc is ${JSON.stringify(fields.nc)} but names has ${names.length} entries`,
      );
    }
    const splits: Partial<Record<DatasetSplit, string[]>> = {};
    for (const split of DATASET_SPLITS) {
      const value = fields[split];
      if (value === undefined || value === null || value === '') continue;
      const entries = Array.isArray(value) ? value : [value];
      splits[split] = entries.map((entry, i) => {
        if (typeof entry !== 'string') invalid(`${configPath}: ${split}[${i}] must be a path`);
        return path.resolve(root, entry);
      });
    }
    return { configPath, root, names, splits };
  }

  /** The image files of a split, sorted. DATASET_INVALID when the split is absent or empty. */
  async listImages(dataset: YoloDataset, split: DatasetSplit): Promise<string[]> {
    const entries = dataset.splits[split];
    if (!entries) invalid(`${dataset.configPath}: no '${split}' split`);
    const images: string[] = [];
    for (const entry of entries) {
      const kind = await exists(entry);
      if (kind === 'directory') {
        images.push(...(await listFilesRecursively(entry, isImageFile)));
      } else if (kind === 'file' && entry.endsWith('.txt')) {
        const listed = (await readFile(entry, 'utf8'))
          .split(/\r?\n/)
          .map((line) => line.trim())
          .filter((line) => line !== '');
        // Ultralytics resolves ./relative entries against the list file's directory.
        images.push(...listed.map((line) => path.resolve(path.dirname(entry), line)));
      } else if (kind === 'file' && isImageFile(path.basename(entry))) {
        images.push(entry);
      } else {
        invalid(
          `${dataset.configPath}: ${split} entry ${path.relative(dataset.root, entry) || entry} does not exist`,
        );
      }
    }
    if (images.length === 0) invalid(`${dataset.configPath}: the '${split}' split has no images`);
    return [...new Set(images)].sort();
  }

  /**
   * Reads a split: images with their sizes and labelled objects in pixels. Rejects label
   * problems, labels without an image, and two images with the same stem (the image id).
   */
  async loadSplit(location: string, split: DatasetSplit): Promise<YoloSplit> {
    const dataset = await this.readDataset(location);
    const files = await this.listImages(dataset, split);
    const relative = (file: string) => path.relative(dataset.root, file) || file;
    const stems = new Map<string, string>();
    for (const file of files) {
      const stem = path.basename(file, path.extname(file));
      const other = stems.get(stem);
      if (other !== undefined) {
        invalid(
          `${relative(file)} and ${relative(other)} share the stem '${stem}' (image ids must be unique)`,
        );
      }
      stems.set(stem, file);
    }
    await this.checkOrphanLabels(dataset, split, files, relative);
    const unlabeled: string[] = [];
    const images = await mapLimited(files, 8, async (imagePath): Promise<YoloImage> => {
      const { width, height } = await this.readImageSize(imagePath, relative(imagePath));
      const labelPath = labelPathFor(imagePath);
      let text: string | null;
      try {
        text = await readFile(labelPath, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          invalid(`${relative(labelPath)}: cannot be read (${String(error)})`, error);
        }
        text = null;
      }
      if (text === null) unlabeled.push(relative(imagePath));
      const objects =
        text === null
          ? []
          : parseLabelText(text, relative(labelPath), dataset.names.length, width, height);
      return {
        stem: path.basename(imagePath, path.extname(imagePath)),
        imagePath,
        labelPath,
        width,
        height,
        objects,
      };
    });
    const warnings: string[] = [];
    if (unlabeled.length > 0) {
      unlabeled.sort();
      const shown = unlabeled.slice(0, 5).join(', ');
      const more = unlabeled.length > 5 ? `, … (${unlabeled.length - 5} more)` : '';
      warnings.push(
        `${unlabeled.length} image(s) of '${split}' have no label file and count as images ` +
          `without objects: ${shown}${more}`,
      );
    }
    return { dataset, split, images, warnings };
  }

  /** Label files under a split's labels directory must each have an image in the split. */
  private async checkOrphanLabels(
    dataset: YoloDataset,
    split: DatasetSplit,
    images: readonly string[],
    relative: (file: string) => string,
  ): Promise<void> {
    const expected = new Set(images.map(labelPathFor));
    for (const entry of dataset.splits[split] ?? []) {
      if ((await exists(entry)) !== 'directory') continue;
      const labelDir = labelDirFor(entry);
      if (labelDir === entry || (await exists(labelDir)) !== 'directory') continue;
      const labels = await listFilesRecursively(labelDir, (name) => name.endsWith('.txt'));
      for (const label of labels.sort()) {
        if (!expected.has(label)) {
          const stem = path.relative(labelDir, label).slice(0, -'.txt'.length);
          invalid(
            `${relative(label)}: no image for this label (looked for ${relative(path.join(entry, stem))}.{${DATASET_IMAGE_EXTENSIONS.map((e) => e.slice(1)).join(',')}})`,
          );
        }
      }
    }
  }

  /** Size with EXIF orientation applied; DATASET_INVALID for a zero-sized or unreadable image. */
  async readImageSize(file: string, name = file): Promise<{ width: number; height: number }> {
    let size: { width: number; height: number };
    try {
      if (path.extname(file).toLowerCase() === '.bmp') {
        size = await bmpSize(file);
      } else {
        const meta = await sharp(file).metadata();
        size = meta.autoOrient ?? { width: meta.width, height: meta.height };
      }
    } catch (error) {
      invalid(
        `${name}: cannot read the image (${error instanceof Error ? error.message : String(error)})`,
        error,
      );
    }
    if (!(size.width > 0 && size.height > 0)) invalid(`${name}: image has no size`);
    return size;
  }

  /** Decodes an image to 8-bit RGB, EXIF orientation applied and alpha dropped. */
  async loadImage(file: string): Promise<RgbImage> {
    try {
      if (path.extname(file).toLowerCase() === '.bmp') {
        if (!this.options.decodeUnsupported) {
          throw new Error('BMP images need ffmpeg, which is not wired here');
        }
        return await this.options.decodeUnsupported(file);
      }
      return await decodeToRgb(file);
    } catch (error) {
      if (error instanceof VisionLoopError) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new VisionLoopError('IMAGE_INVALID', `cannot decode image ${file}: ${reason}`, {
        cause: error,
      });
    }
  }

  /** Reads and parses a JSON file; VALIDATION_FAILED (naming the file) when it is not JSON. */
  async readJsonFile(file: string): Promise<unknown> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new VisionLoopError(
        'NOT_FOUND',
        `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        {
          cause: error,
        },
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new VisionLoopError(
        'VALIDATION_FAILED',
        `${file}: not valid JSON (${error instanceof Error ? error.message : String(error)})`,
        {
          cause: error,
        },
      );
    }
  }
}
