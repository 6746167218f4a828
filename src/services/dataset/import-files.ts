/**
 * The file side of a YOLO import: finding data.yaml (in a directory or the single folder
 * inside it), neutralizing an archive's data.yaml `path`, and reading one image with its
 * label rows into an import candidate (hash, format, boxes by class name, clipped to the
 * image within a small tolerance). Every problem is DATASET_INVALID with the file and line.
 *
 * It reads (and, for an unpacked archive's data.yaml, rewrites) files only; it never touches
 * the database or the blob store.
 */
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import type { YoloImage } from '../../repositories/yolo-dataset.repository.js';
import type { Box } from '../../shared/domain.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { ImageExt } from '../dataset-manifest.js';
import { sha256Hex, sniffImageExt, yoloRow } from '../dataset-manifest.js';

/**
 * An imported box may overshoot the image by this share of its side without being clipped:
 * six-decimal rows round up to 5e-7, and clipping a row this library wrote would change it.
 */
const IMPORT_EDGE_TOLERANCE = 1e-5;

/** One image of an import, read and checked, before anything is written. */
export interface ImportCandidate {
  /** Relative to the dataset root, for messages. */
  file: string;
  path: string;
  id: string;
  ext: ImageExt;
  width: number;
  height: number;
  boxes: { className: string; box: Box }[];
}

export function invalid(message: string): never {
  throw new VisionLoopError('DATASET_INVALID', message);
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null))?.isFile() === true;
}

/** `target` is `root` or inside it. */
export function within(root: string, target: string): boolean {
  const relative = path.relative(root, target);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** Line numbers (1-based) of the non-blank lines of a label file, in order. */
function rowLines(text: string): number[] {
  const lines: number[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() !== '') lines.push(index + 1);
  });
  return lines;
}

/** The directory holding data.yaml: `dir` itself, or the single folder inside it. */
export async function locateDataYaml(dir: string): Promise<string> {
  const root = path.resolve(dir);
  const info = await stat(root).catch(() => null);
  if (info === null || !info.isDirectory()) invalid(`no data set directory at ${dir}`);
  const has = async (candidate: string) =>
    (await isFile(path.join(candidate, 'data.yaml'))) ||
    (await isFile(path.join(candidate, 'data.yml')));
  if (await has(root)) return root;
  const folders = (await readdir(root, { withFileTypes: true })).filter(
    (entry) => entry.isDirectory() && !entry.name.startsWith('.'),
  );
  const only = folders[0];
  if (folders.length === 1 && only !== undefined && (await has(path.join(root, only.name)))) {
    return path.join(root, only.name);
  }
  return invalid(`no data.yaml in ${dir} (nor in a single folder inside it)`);
}

/**
 * An archive's data.yaml `path` was the packer's directory and means nothing here: drop it,
 * so the splits resolve against the data.yaml's own directory (inside the archive).
 */
export async function dropDataYamlPath(root: string): Promise<string[]> {
  const file = (await isFile(path.join(root, 'data.yaml')))
    ? path.join(root, 'data.yaml')
    : path.join(root, 'data.yml');
  let document: unknown;
  try {
    document = YAML.parse(await readFile(file, 'utf8'));
  } catch {
    // The dataset reader reports the syntax error with its file.
    return [];
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) return [];
  if (!('path' in document) || document.path === undefined || document.path === null) return [];
  const { path: given, ...rest } = document as Record<string, unknown>;
  await writeFile(file, YAML.stringify(rest));
  return [
    `data.yaml 'path: ${String(given)}' was ignored: splits are read from inside the archive`,
  ];
}

/** A box clipped to the image unless it overshoots by no more than the tolerance. */
function clipToImage(box: Box, width: number, height: number): { box: Box; clipped: boolean } {
  const slackX = IMPORT_EDGE_TOLERANCE * width;
  const slackY = IMPORT_EDGE_TOLERANCE * height;
  const overshoots =
    box.x1 < -slackX || box.y1 < -slackY || box.x2 > width + slackX || box.y2 > height + slackY;
  if (!overshoots) return { box, clipped: false };
  const clipped = {
    x1: Math.max(0, box.x1),
    y1: Math.max(0, box.y1),
    x2: Math.min(width, box.x2),
    y2: Math.min(height, box.y2),
  };
  return { box: clipped, clipped: true };
}

/** Reads one image of an import: its hash, format and boxes by class name (clipped). */
export async function readCandidate(
  image: YoloImage,
  relative: string,
  datasetRoot: string,
  names: readonly string[],
): Promise<{ candidate: ImportCandidate; clipped: number }> {
  const bytes = await readFile(image.imagePath);
  const ext = sniffImageExt(bytes.subarray(0, 16));
  if (ext === null) invalid(`${relative}: not a JPEG, PNG, WebP or BMP image`);
  const labelFile = path.relative(datasetRoot, image.labelPath) || image.labelPath;
  const text = image.objects.length === 0 ? '' : await readFile(image.labelPath, 'utf8');
  const lines = rowLines(text);
  let clipped = 0;
  const { width, height } = image;
  const boxes = image.objects.map((object, index) => {
    const at = `${labelFile} line ${lines[index] ?? '?'}`;
    const className = names[object.classId] ?? invalid(`${at}: unknown class id ${object.classId}`);
    const fitted = clipToImage(object.box, width, height);
    if (fitted.clipped) clipped++;
    const box = fitted.box;
    const row = yoloRow(0, box, width, height).split(' ');
    if (!(box.x2 > box.x1 && box.y2 > box.y1) || row[3] === '0.000000' || row[4] === '0.000000') {
      invalid(`${at}: the box has no area inside the ${width}×${height} image`);
    }
    return { className, box };
  });
  const candidate = {
    file: relative,
    path: image.imagePath,
    id: sha256Hex(bytes),
    ext,
    width,
    height,
    boxes,
  };
  return { candidate, clipped };
}
