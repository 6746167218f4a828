/**
 * Dataset snapshots: immutable YOLO data sets built from reviewed labels (plus, for
 * retraining, a seeded replay sample of earlier snapshots), imported from an existing YOLO
 * data set, materialized on disk for the trainer, and exported as streamed archives.
 *
 * - A snapshot is its manifest (dataset-manifest.ts), stored as a JSON blob whose sha256 is
 *   the dataset id; the `datasets` row adds the parent, counts and provenance. Building the
 *   same content twice finds the existing snapshot and writes nothing.
 * - Reviewed labels: the newest label of each image wins (an image relabelled later, or
 *   imported again, counts once).
 * - Import validates everything before writing anything: data.yaml, every label row (a bad
 *   row is reported with its file and line), every image, the class names. Then the image
 *   blobs are written (content-addressed: harmless if the rest fails), and the reviewed labels
 *   and the snapshot row in one transaction. An archive import unpacks into a temporary
 *   directory and refuses a data.yaml whose splits point outside the archive.
 * - Exports stream: images are piped from the blob store into the archive one at a time.
 *
 * It never decides when to snapshot or train (the retraining policy does).
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import YAML from 'yaml';
import { z } from 'zod';
import type { DatasetRow, NewReviewedLabel, ReviewedLabelRow } from '../db/schema.js';
import type { ArchiveEntry, ExtractLimits } from '../repositories/dataset-archive.js';
import { extractArchive, packTarGz } from '../repositories/dataset-archive.js';
import type { BlobStore } from '../repositories/blob-store.js';
import type { DatasetRepository } from '../repositories/dataset.repository.js';
import type {
  DatasetSplit,
  YoloDatasetRepository,
  YoloImage,
} from '../repositories/yolo-dataset.repository.js';
import type {
  CreateSnapshotRequest,
  DatasetCounts,
  DatasetInfo,
  DatasetListResponse,
  DatasetProvenance,
  SnapshotResult,
} from '../shared/api/datasets.js';
import { datasetCountsSchema, datasetProvenanceSchema } from '../shared/api/datasets.js';
import type { ExportFormat } from '../shared/api/labeling.js';
import { isSimulatedReviewerName, labelBoxSchema } from '../shared/api/labeling.js';
import type { Box } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import type { DatasetManifest, ImageExt, ManifestImage } from './dataset-manifest.js';
import {
  IMAGE_EXTENSIONS,
  buildManifest,
  cocoDocument,
  countsOf,
  dataYamlText,
  imagePath,
  labelPath,
  labelText,
  manifestImage,
  manifestText,
  parseManifest,
  sampleImages,
  sha256Hex,
  sniffImageExt,
  yoloRow,
} from './dataset-manifest.js';
import type { Actor } from './labeling.service.js';

/** Where the deployment's class names come from (the labeling service). */
export interface ClassCatalogue {
  classNames(): Promise<string[]>;
  /** Appends names not known yet; returns the full list. */
  addClasses(names: readonly string[], actor: Actor | null): Promise<string[]>;
}

export interface DatasetServiceOptions {
  now?: () => number;
  /** Where archive imports are unpacked (default: the OS temp directory). */
  tmpDir?: string;
  extractLimits?: ExtractLimits;
}

export interface ImportOptions {
  name?: string;
  /** Append class names the deployment does not know (default: refuse them). */
  addClasses?: boolean;
  /**
   * Store the images as reviewed labels too (default). False registers the snapshot alone:
   * a model's training set that is not new evidence for the retraining policy (the shipped
   * seed's synthetic training set, kept for replay).
   */
  reviewedLabels?: boolean;
}

export interface ImportResult extends SnapshotResult {
  /** Images written as reviewed labels (0 when the snapshot already existed). */
  images: number;
  warnings: string[];
}

export interface MaterializedDataset {
  id: string;
  dir: string;
  dataYaml: string;
  counts: DatasetCounts;
}

export interface DatasetArchive {
  /** The dataset id (the manifest hash), also for an export of the current labels. */
  id: string;
  filename: string;
  stream: Readable;
}

/** Most warnings kept in a snapshot's provenance. */
const MAX_WARNINGS = 20;
/**
 * An imported box may overshoot the image by this share of its side without being clipped:
 * six-decimal rows round up to 5e-7, and clipping a row this library wrote would change it.
 */
const IMPORT_EDGE_TOLERANCE = 1e-5;

const storedBoxesSchema = z.array(labelBoxSchema);

function invalid(message: string): never {
  throw new VisionLoopError('DATASET_INVALID', message);
}

function isImageExt(value: string): value is ImageExt {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(value);
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null))?.isFile() === true;
}

function within(root: string, target: string): boolean {
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

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      out[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

interface ImportCandidate {
  /** Relative to the dataset root, for messages. */
  file: string;
  path: string;
  id: string;
  ext: ImageExt;
  width: number;
  height: number;
  boxes: { className: string; box: Box }[];
}

export class DatasetService {
  private readonly now: () => number;
  private readonly tmpDir: string;

  constructor(
    private readonly datasets: DatasetRepository,
    private readonly blobs: BlobStore,
    private readonly yolo: YoloDatasetRepository,
    private readonly classes: ClassCatalogue,
    private readonly options: DatasetServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.tmpDir = options.tmpDir ?? tmpdir();
  }

  // -------------------------------------------------------------------------------------------
  // reading

  async list(limit = 200): Promise<DatasetListResponse> {
    const rows = await this.datasets.list(limit);
    return { datasets: rows.map((row) => this.toInfo(row)) };
  }

  async get(id: string): Promise<DatasetInfo> {
    return this.toInfo(await this.requireDataset(id));
  }

  /** The stored manifest of snapshot `id`. */
  async manifest(id: string): Promise<DatasetManifest> {
    const row = await this.requireDataset(id);
    const bytes = await this.blobs.get(row.manifest_blob);
    if (bytes === null) {
      throw new VisionLoopError(
        'INTERNAL',
        `the manifest of dataset ${id} is missing from the blob store`,
      );
    }
    return parseManifest(bytes.toString('utf8'), id);
  }

  /** The manifest of every reviewed label now (newest label per image), not stored. */
  async currentManifest(): Promise<{ id: string; manifest: DatasetManifest }> {
    const classNames = await this.classes.classNames();
    const manifest = buildManifest(
      classNames,
      this.reviewedImages(await this.datasets.reviewedLabels(), classNames),
    );
    return { id: sha256Hex(manifestText(manifest)), manifest };
  }

  // -------------------------------------------------------------------------------------------
  // snapshots

  /**
   * Snapshots the reviewed labels (created at or after `reviewedSince`), plus a replay sample
   * of earlier snapshots when asked. INVALID_ARGUMENT when the result would be empty;
   * NOT_FOUND for an unknown parent or replay source.
   */
  async createSnapshot(
    request: CreateSnapshotRequest,
    actor: Actor | null,
  ): Promise<SnapshotResult> {
    const classNames = await this.classes.classNames();
    if (request.parentId !== undefined) await this.requireDataset(request.parentId);
    const fresh = this.reviewedImages(
      await this.datasets.reviewedLabels(request.reviewedSince),
      classNames,
    );
    let replay: DatasetProvenance['replay'] = null;
    let replayImages: ManifestImage[] = [];
    if (request.replay !== undefined) {
      const sources =
        request.replay.datasetIds ?? (request.parentId === undefined ? [] : [request.parentId]);
      if (sources.length === 0) {
        throw new VisionLoopError(
          'INVALID_ARGUMENT',
          'replay needs datasetIds, or a parentId to sample from',
        );
      }
      const taken = new Set(fresh.map((image) => image.id));
      const candidates = new Map<string, ManifestImage>();
      for (const source of sources) {
        const manifest = await this.manifest(source);
        for (const image of manifest.images) {
          if (taken.has(image.id) || candidates.has(image.id)) continue;
          candidates.set(image.id, remapClasses(image, manifest.classNames, classNames, source));
        }
      }
      const seed = request.replay.seed ?? 0;
      replayImages = sampleImages([...candidates.values()], {
        count: request.replay.count,
        fraction: request.replay.fraction,
        seed,
      });
      replay = {
        datasetIds: sources,
        seed,
        candidates: candidates.size,
        sampled: replayImages.length,
      };
    }
    const manifest = buildManifest(classNames, [...fresh, ...replayImages]);
    const simulatedLabels = await this.simulatedImageCount(manifest);
    if (manifest.images.length === 0) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        request.reviewedSince === undefined
          ? 'nothing to snapshot: there are no reviewed labels yet'
          : `nothing to snapshot: no reviewed labels since ${new Date(request.reviewedSince).toISOString()}`,
      );
    }
    return this.store(manifest, {
      source: 'snapshot',
      parentId: request.parentId ?? null,
      name: request.name ?? null,
      actor,
      provenance: {
        kind: 'snapshot',
        reviewedSince: request.reviewedSince ?? null,
        reviewedImages: fresh.length,
        replay,
        importedFrom: null,
        warnings: [],
      },
      labels: [],
      simulatedLabels,
    });
  }

  /**
   * How many of `manifest`'s images carry a reviewed label by the demo's simulated reviewer
   * (labeled or approved by a token named `simulated-…`): the newest reviewed label of each
   * image decides, as it does for what the snapshot holds.
   */
  private async simulatedImageCount(manifest: DatasetManifest): Promise<number> {
    const ids = new Set(manifest.images.map((image) => image.id));
    const newest = new Map<string, ReviewedLabelRow>();
    for (const row of await this.datasets.reviewedLabels()) {
      if (ids.has(row.image_blob) && !newest.has(row.image_blob)) newest.set(row.image_blob, row);
    }
    const names = await this.datasets.tokenNames(
      [...newest.values()].flatMap((row) =>
        [row.labeled_by, row.approved_by].filter((id): id is string => id !== null),
      ),
    );
    let count = 0;
    for (const row of newest.values()) {
      const by = [row.labeled_by, row.approved_by].map((id) =>
        id === null ? null : names.get(id),
      );
      if (by.some((name) => isSimulatedReviewerName(name ?? null))) count++;
    }
    return count;
  }

  /**
   * Writes snapshot `id` as a YOLO data set in `dir` (created if missing): data.yaml (with
   * `path: dir`), images/{train,val}, labels/{train,val}, manifest.json. CONFLICT when `dir`
   * already holds a data set. What this call wrote is removed again if it fails.
   */
  async materialize(id: string, dir: string): Promise<MaterializedDataset> {
    const manifest = await this.manifest(id);
    const root = path.resolve(dir);
    await mkdir(root, { recursive: true });
    const existing = (await readdir(root)).filter((name) =>
      ['data.yaml', 'images', 'labels', 'manifest.json'].includes(name),
    );
    if (existing.length > 0) {
      throw new VisionLoopError(
        'CONFLICT',
        `${root} already holds a data set (${existing.join(', ')}); choose an empty directory`,
      );
    }
    try {
      for (const part of ['images/train', 'images/val', 'labels/train', 'labels/val']) {
        await mkdir(path.join(root, part), { recursive: true });
      }
      await mapLimited(manifest.images, 4, async (image) => {
        const source = await this.blobs.stream(image.id);
        if (source === null) {
          throw new VisionLoopError(
            'INTERNAL',
            `image ${image.id} of dataset ${id} is missing from the blob store`,
          );
        }
        await pipeline(
          source,
          createWriteStream(path.join(root, imagePath(image)), { flags: 'wx' }),
        );
        await writeFile(path.join(root, labelPath(image)), labelText(image), { flag: 'wx' });
      });
      await writeFile(path.join(root, 'manifest.json'), manifestText(manifest));
      const dataYaml = path.join(root, 'data.yaml');
      await writeFile(dataYaml, dataYamlText(manifest, id, root));
      return { id, dir: root, dataYaml, counts: countsOf(manifest) };
    } catch (error) {
      for (const name of ['data.yaml', 'images', 'labels', 'manifest.json']) {
        await rm(path.join(root, name), { recursive: true, force: true });
      }
      throw error;
    }
  }

  /**
   * A streamed .tar.gz of snapshot `id` (default: every reviewed label now), in the YOLO
   * layout or as COCO instances JSON beside the images. Every image is checked to be in the
   * blob store before the first byte is produced. NOT_FOUND when there is nothing to export.
   */
  async exportArchive(format: ExportFormat, id?: string): Promise<DatasetArchive> {
    const { manifest, datasetId } =
      id === undefined
        ? await this.currentManifest().then(({ id: current, manifest: m }) => ({
            manifest: m,
            datasetId: current,
          }))
        : { manifest: await this.manifest(id), datasetId: id };
    if (manifest.images.length === 0) {
      throw new VisionLoopError('NOT_FOUND', 'no approved labels to export yet');
    }
    const sizes = new Map<string, number>();
    await mapLimited(manifest.images, 8, async (image) => {
      const info = await this.blobs.stat(image.id);
      if (info === null) {
        throw new VisionLoopError('INTERNAL', `image ${image.id} is missing from the blob store`);
      }
      sizes.set(image.id, info.bytes);
    });
    const folder = `visionloop-${datasetId.slice(0, 12)}-${format}`;
    const blobs = this.blobs;
    const entries = function* (): Generator<ArchiveEntry> {
      const at = (name: string) => `${folder}/${name}`;
      yield { name: at('manifest.json'), data: manifestText(manifest) };
      if (format === 'yolo') {
        yield { name: at('data.yaml'), data: dataYamlText(manifest, datasetId) };
      } else {
        for (const split of ['train', 'val'] as const) {
          yield {
            name: at(`annotations/instances_${split}.json`),
            data: JSON.stringify(cocoDocument(manifest, split, datasetId)),
          };
        }
      }
      for (const image of manifest.images) {
        yield {
          name: at(imagePath(image)),
          size: sizes.get(image.id) ?? 0,
          open: async () => {
            const stream = await blobs.stream(image.id);
            if (stream === null) throw new Error(`image ${image.id} vanished from the blob store`);
            return stream;
          },
        };
        if (format === 'yolo') yield { name: at(labelPath(image)), data: labelText(image) };
      }
    };
    return { id: datasetId, filename: `${folder}.tar.gz`, stream: packTarGz(entries()) };
  }

  /** The YOLO archive of snapshot `id` (default: every approved label now). */
  exportYolo(id?: string): Promise<DatasetArchive> {
    return this.exportArchive('yolo', id);
  }

  /** The COCO archive of snapshot `id` (default: every approved label now). */
  exportCoco(id?: string): Promise<DatasetArchive> {
    return this.exportArchive('coco', id);
  }

  // -------------------------------------------------------------------------------------------
  // import

  /** Imports the YOLO data set in `dir` (or in the single folder inside it). */
  async importYolo(
    dir: string,
    options: ImportOptions,
    actor: Actor | null,
  ): Promise<ImportResult> {
    return this.importFrom(await locateDataYaml(dir), options, actor, null);
  }

  /** Imports a .tar or .tar.gz of a YOLO data set, unpacked into a temporary directory. */
  async importArchive(
    archive: NodeJS.ReadableStream,
    options: ImportOptions,
    actor: Actor | null,
  ): Promise<ImportResult> {
    const work = await mkdtemp(path.join(this.tmpDir, 'visionloop-import-'));
    try {
      await extractArchive(archive, work, this.options.extractLimits);
      const root = await locateDataYaml(work);
      const warnings = await dropDataYamlPath(root);
      return await this.importFrom(root, options, actor, work, warnings);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  private async importFrom(
    root: string,
    options: ImportOptions,
    actor: Actor | null,
    confine: string | null,
    initialWarnings: string[] = [],
  ): Promise<ImportResult> {
    const warnings = [...initialWarnings];
    const dataset = await this.yolo.readDataset(root);
    if (confine !== null) {
      const outside = [dataset.root, ...Object.values(dataset.splits).flat()].find(
        (entry) => !within(confine, entry),
      );
      if (outside !== undefined) {
        invalid(`data.yaml points outside the archive (${path.relative(confine, outside)})`);
      }
    }
    const duplicateName = dataset.names.find((name, i) => dataset.names.indexOf(name) !== i);
    if (duplicateName !== undefined) invalid(`data.yaml: class '${duplicateName}' is named twice`);
    if (dataset.splits.train === undefined) invalid(`${dataset.configPath}: no 'train' split`);
    if (dataset.splits.test !== undefined) {
      warnings.push("the 'test' split was not imported (kept out of training on purpose)");
    }

    // Validate everything before anything is written.
    const images: ImageExtract[] = [];
    for (const split of ['train', 'val'] as const satisfies readonly DatasetSplit[]) {
      if (dataset.splits[split] === undefined) continue;
      const loaded = await this.yolo.loadSplit(root, split);
      warnings.push(...loaded.warnings);
      for (const image of loaded.images) {
        if (confine !== null && !within(confine, image.imagePath)) {
          invalid(`${split} lists an image outside the archive (${image.imagePath})`);
        }
        images.push({
          image,
          relative: path.relative(dataset.root, image.imagePath) || image.imagePath,
        });
      }
    }
    const known = await this.classes.classNames();
    const unknown = dataset.names.filter((name) => !known.includes(name));
    if (unknown.length > 0 && options.addClasses !== true) {
      invalid(
        `the data set's classes ${unknown.map((n) => `'${n}'`).join(', ')} are not classes of this deployment ` +
          `(${known.join(', ')}); import with addClasses to append them`,
      );
    }
    const prospective = [...known, ...unknown];
    let clipped = 0;
    const candidates = await mapLimited(images, 4, async ({ image, relative }) => {
      const candidate = await this.readCandidate(image, relative, dataset.root, dataset.names);
      clipped += candidate.clipped;
      return candidate.candidate;
    });
    if (clipped > 0)
      warnings.push(`${clipped} box(es) extended past the image edge and were clipped`);
    const byId = new Map<string, { candidate: ImportCandidate; rows: string }>();
    let duplicates = 0;
    for (const candidate of candidates) {
      const rows = manifestImage(candidate, prospective).labels.join('\n');
      const other = byId.get(candidate.id);
      if (other === undefined) {
        byId.set(candidate.id, { candidate, rows });
      } else if (other.rows === rows) {
        duplicates++;
      } else {
        invalid(
          `${candidate.file} and ${other.candidate.file} are the same image with different labels`,
        );
      }
    }
    if (duplicates > 0) warnings.push(`${duplicates} duplicate image(s) were imported once`);
    if (byId.size === 0) invalid(`${dataset.configPath}: the data set has no images`);

    // Write: classes, image blobs, then labels and snapshot in one transaction.
    const classNames = unknown.length > 0 ? await this.classes.addClasses(unknown, actor) : known;
    const unique = [...byId.values()].map(({ candidate }) => candidate);
    const manifest = buildManifest(
      classNames,
      unique.map((candidate) => manifestImage(candidate, classNames)),
    );
    const id = sha256Hex(manifestText(manifest));
    const existing = await this.datasets.findById(id);
    if (existing !== undefined) {
      return { dataset: this.toInfo(existing), created: false, images: 0, warnings };
    }
    await mapLimited(unique, 4, async (candidate) => {
      const bytes = await readFile(candidate.path);
      if (sha256Hex(bytes) !== candidate.id) invalid(`${candidate.file} changed during the import`);
      await this.blobs.put(bytes);
    });
    const now = this.now();
    const asLabels = options.reviewedLabels !== false;
    const labels: NewReviewedLabel[] = (asLabels ? unique : []).map((candidate) => ({
      id: `rvl-${randomUUID()}`,
      queue_item_id: null,
      prediction_id: null,
      source: 'import',
      source_dataset_id: id,
      camera: null,
      image_blob: candidate.id,
      width: candidate.width,
      height: candidate.height,
      labels: JSON.stringify(candidate.boxes),
      labeled_by: actor?.tokenId ?? null,
      approved_by: actor?.tokenId ?? null,
      created_at: now,
      used_for_training: 0,
      trained_in_model_version: null,
      image_ext: candidate.ext,
    }));
    const name = options.name ?? path.basename(root);
    const result = await this.store(manifest, {
      source: 'import',
      parentId: null,
      name,
      actor,
      provenance: {
        kind: 'import',
        reviewedSince: null,
        reviewedImages: asLabels ? unique.length : 0,
        replay: null,
        importedFrom: name,
        warnings: warnings.slice(0, MAX_WARNINGS),
      },
      labels,
      // Imported labels name no reviewer, so none is the simulated one.
      simulatedLabels: 0,
    });
    return { ...result, images: result.created && asLabels ? unique.length : 0, warnings };
  }

  /** Reads one image of an import: its hash, format and boxes by class name (clipped). */
  private async readCandidate(
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
    const boxes = image.objects.map((object, index) => {
      const at = `${labelFile} line ${lines[index] ?? '?'}`;
      const className =
        names[object.classId] ?? invalid(`${at}: unknown class id ${object.classId}`);
      const { width, height } = image;
      const slackX = IMPORT_EDGE_TOLERANCE * width;
      const slackY = IMPORT_EDGE_TOLERANCE * height;
      let box = object.box;
      if (
        box.x1 < -slackX ||
        box.y1 < -slackY ||
        box.x2 > width + slackX ||
        box.y2 > height + slackY
      ) {
        clipped++;
        box = {
          x1: Math.max(0, box.x1),
          y1: Math.max(0, box.y1),
          x2: Math.min(width, box.x2),
          y2: Math.min(height, box.y2),
        };
      }
      const row = yoloRow(0, box, width, height).split(' ');
      if (!(box.x2 > box.x1 && box.y2 > box.y1) || row[3] === '0.000000' || row[4] === '0.000000') {
        invalid(`${at}: the box has no area inside the ${width}×${height} image`);
      }
      return { className, box };
    });
    return {
      candidate: {
        file: relative,
        path: image.imagePath,
        id: sha256Hex(bytes),
        ext,
        width: image.width,
        height: image.height,
        boxes,
      },
      clipped,
    };
  }

  // -------------------------------------------------------------------------------------------

  private async store(
    manifest: DatasetManifest,
    meta: {
      source: 'snapshot' | 'import';
      parentId: string | null;
      name: string | null;
      actor: Actor | null;
      provenance: DatasetProvenance;
      labels: NewReviewedLabel[];
      /** Snapshots: images labelled by the simulated reviewer (counts.simulatedLabels). */
      simulatedLabels?: number;
    },
  ): Promise<SnapshotResult> {
    const text = manifestText(manifest);
    const id = sha256Hex(text);
    const existing = await this.datasets.findById(id);
    if (existing !== undefined) {
      // The same images again: the manifest (and id) are the same, but who gave the labels may
      // not be (an import taken again as reviewed labels, relabelled by the simulated
      // reviewer). The stored row is immutable; the answer carries the count of the labels now,
      // which is what a retraining records in its history and lineage.
      const info = this.toInfo(existing);
      if (meta.simulatedLabels !== undefined && meta.source === 'snapshot') {
        return {
          dataset: { ...info, counts: { ...info.counts, simulatedLabels: meta.simulatedLabels } },
          created: false,
        };
      }
      return { dataset: info, created: false };
    }
    const stored = await this.blobs.put(Buffer.from(text, 'utf8'));
    const created = await this.datasets.insertDataset(
      {
        id,
        parent_id: meta.parentId,
        source: meta.source,
        name: meta.name,
        manifest_blob: stored.key,
        class_names: JSON.stringify(manifest.classNames),
        counts: JSON.stringify({
          ...countsOf(manifest),
          ...(meta.simulatedLabels === undefined ? {} : { simulatedLabels: meta.simulatedLabels }),
        }),
        created_at: this.now(),
        created_by: meta.actor?.tokenId ?? null,
        provenance: JSON.stringify(meta.provenance),
      },
      meta.labels,
    );
    const row = await this.requireDataset(id);
    return { dataset: this.toInfo(row), created };
  }

  /** Manifest entries of reviewed labels: the newest label of each image. */
  private reviewedImages(
    rows: readonly ReviewedLabelRow[],
    classNames: readonly string[],
  ): ManifestImage[] {
    const seen = new Set<string>();
    const images: ManifestImage[] = [];
    for (const row of rows) {
      if (seen.has(row.image_blob)) continue;
      seen.add(row.image_blob);
      if (!isImageExt(row.image_ext)) {
        throw new VisionLoopError(
          'INTERNAL',
          `reviewed label ${row.id} has an unknown image format '${row.image_ext}'`,
        );
      }
      let value: unknown;
      try {
        value = JSON.parse(row.labels);
      } catch {
        value = null;
      }
      const boxes = storedBoxesSchema.safeParse(value);
      if (!boxes.success) {
        throw new VisionLoopError('INTERNAL', `reviewed label ${row.id} has malformed boxes`);
      }
      images.push(
        manifestImage(
          {
            id: row.image_blob,
            ext: row.image_ext,
            width: row.width,
            height: row.height,
            boxes: boxes.data,
          },
          classNames,
        ),
      );
    }
    return images;
  }

  private async requireDataset(id: string): Promise<DatasetRow> {
    const row = await this.datasets.findById(id);
    if (row === undefined) throw new VisionLoopError('NOT_FOUND', `no dataset with id ${id}`);
    return row;
  }

  private toInfo(row: DatasetRow): DatasetInfo {
    const parse = (text: string): unknown => {
      try {
        return JSON.parse(text);
      } catch {
        return null;
      }
    };
    const classNames = z.array(z.string()).safeParse(parse(row.class_names));
    const countsValue = parse(row.counts);
    const counts = datasetCountsSchema.safeParse({
      images: 0,
      train: 0,
      val: 0,
      boxes: 0,
      empty: 0,
      perClass: {},
      ...(typeof countsValue === 'object' && countsValue !== null ? countsValue : {}),
    });
    const provenance = datasetProvenanceSchema.safeParse(parse(row.provenance));
    return {
      id: row.id,
      parentId: row.parent_id,
      source: row.source,
      name: row.name,
      classNames: classNames.success ? classNames.data : [],
      counts: counts.success
        ? counts.data
        : { images: 0, train: 0, val: 0, boxes: 0, empty: 0, perClass: {} },
      provenance: provenance.success
        ? provenance.data
        : {
            kind: row.source,
            reviewedSince: null,
            reviewedImages: 0,
            replay: null,
            importedFrom: null,
            warnings: [],
          },
      createdAt: row.created_at,
      createdBy: row.created_by,
    };
  }
}

interface ImageExtract {
  image: YoloImage;
  relative: string;
}

/** Rewrites a replayed image's rows for `target` class ids (the names must all exist there). */
function remapClasses(
  image: ManifestImage,
  from: readonly string[],
  target: readonly string[],
  source: string,
): ManifestImage {
  if (from.every((name, i) => target[i] === name)) return image;
  const map = from.map((name) => {
    const index = target.indexOf(name);
    if (index < 0) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        `dataset ${source} has class '${name}', which this deployment no longer has`,
      );
    }
    return index;
  });
  const labels = image.labels
    .map((row) => {
      const space = row.indexOf(' ');
      return `${map[Number(row.slice(0, space))] ?? 0}${row.slice(space)}`;
    })
    .sort();
  return { ...image, labels };
}

/** The directory holding data.yaml: `dir` itself, or the single folder inside it. */
async function locateDataYaml(dir: string): Promise<string> {
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
async function dropDataYamlPath(root: string): Promise<string[]> {
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
