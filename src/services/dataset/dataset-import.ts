/**
 * Importing an existing YOLO data set (a directory, or a .tar/.tar.gz unpacked into a
 * temporary directory) as a snapshot, and by default as reviewed labels too.
 *
 * Import validates everything before writing anything: data.yaml, every label row (a bad row
 * is reported with its file and line), every image, the class names. Then the image blobs are
 * written (content-addressed: harmless if the rest fails), and the reviewed labels and the
 * snapshot row in one transaction. An archive import refuses a data.yaml whose splits point
 * outside the archive. `importFrom` reads as its steps: read the config, list the images,
 * check the classes, read the candidates, drop duplicates, write.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { NewReviewedLabel } from '../../db/schema.js';
import { extractArchive } from '../../repositories/dataset-archive.js';
import type { BlobStore } from '../../repositories/blob-store.js';
import type {
  DatasetSplit,
  YoloDataset,
  YoloDatasetRepository,
  YoloImage,
} from '../../repositories/yolo-dataset.repository.js';
import { buildManifest, manifestImage, manifestText, sha256Hex } from '../dataset-manifest.js';
import type { Actor } from '../labeling.service.js';
import type {
  ClassCatalogue,
  DatasetServiceOptions,
  ImportOptions,
  ImportResult,
} from './dataset-types.js';
import {
  dropDataYamlPath,
  invalid,
  locateDataYaml,
  readCandidate,
  within,
  type ImportCandidate,
} from './import-files.js';
import { mapLimited } from './map-limited.js';
import { datasetInfo, type SnapshotStore } from './snapshot-store.js';

/** Most warnings kept in a snapshot's provenance. */
const MAX_WARNINGS = 20;

interface ImageExtract {
  image: YoloImage;
  relative: string;
}

/** One import in progress: where it reads from and what it has to say. */
interface ImportRun {
  root: string;
  options: ImportOptions;
  actor: Actor | null;
  /** An unpacked archive's directory: nothing may point outside it. */
  confine: string | null;
  warnings: string[];
}

/** DATASET_INVALID when an image or the data.yaml points outside `confine`. */
function checkConfined(dataset: YoloDataset, confine: string): void {
  const outside = [dataset.root, ...Object.values(dataset.splits).flat()].find(
    (entry) => !within(confine, entry),
  );
  if (outside !== undefined) {
    invalid(`data.yaml points outside the archive (${path.relative(confine, outside)})`);
  }
}

/**
 * The unique candidates by image hash: the same image twice with the same rows is imported
 * once (a warning), with different rows it is DATASET_INVALID.
 */
function dropDuplicates(
  candidates: readonly ImportCandidate[],
  classNames: readonly string[],
  warnings: string[],
): ImportCandidate[] {
  const byId = new Map<string, { candidate: ImportCandidate; rows: string }>();
  let duplicates = 0;
  for (const candidate of candidates) {
    const rows = manifestImage(candidate, classNames).labels.join('\n');
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
  return [...byId.values()].map(({ candidate }) => candidate);
}

export class DatasetImporter {
  private readonly now: () => number;

  constructor(
    private readonly blobs: BlobStore,
    private readonly yolo: YoloDatasetRepository,
    private readonly classes: ClassCatalogue,
    private readonly store: SnapshotStore,
    private readonly options: DatasetServiceOptions,
    private readonly tmpDir: string,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Imports the YOLO data set in `dir` (or in the single folder inside it). */
  async importYolo(
    dir: string,
    options: ImportOptions,
    actor: Actor | null,
  ): Promise<ImportResult> {
    const root = await locateDataYaml(dir);
    return this.importFrom({ root, options, actor, confine: null, warnings: [] });
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
      return await this.importFrom({ root, options, actor, confine: work, warnings });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  private async importFrom(run: ImportRun): Promise<ImportResult> {
    // Validate everything before anything is written.
    const dataset = await this.readConfig(run);
    const images = await this.listImages(run, dataset);
    const { known, unknown } = await this.checkClasses(run, dataset.names);
    const candidates = await this.readCandidates(run, dataset, images);
    const unique = dropDuplicates(candidates, [...known, ...unknown], run.warnings);
    if (unique.length === 0) invalid(`${dataset.configPath}: the data set has no images`);
    // Write: classes, image blobs, then labels and snapshot in one transaction.
    const classNames =
      unknown.length > 0 ? await this.classes.addClasses(unknown, run.actor) : known;
    return this.write(run, unique, classNames);
  }

  /** data.yaml, checked: confined, class names unique, a `train` split. */
  private async readConfig(run: ImportRun): Promise<YoloDataset> {
    const dataset = await this.yolo.readDataset(run.root);
    if (run.confine !== null) checkConfined(dataset, run.confine);
    const duplicateName = dataset.names.find((name, i) => dataset.names.indexOf(name) !== i);
    if (duplicateName !== undefined) invalid(`data.yaml: class '${duplicateName}' is named twice`);
    if (dataset.splits.train === undefined) invalid(`${dataset.configPath}: no 'train' split`);
    if (dataset.splits.test !== undefined) {
      run.warnings.push("the 'test' split was not imported (kept out of training on purpose)");
    }
    return dataset;
  }

  /** The images of the train and val splits, each with its path relative to the data set. */
  private async listImages(run: ImportRun, dataset: YoloDataset): Promise<ImageExtract[]> {
    const images: ImageExtract[] = [];
    for (const split of ['train', 'val'] as const satisfies readonly DatasetSplit[]) {
      if (dataset.splits[split] === undefined) continue;
      const loaded = await this.yolo.loadSplit(run.root, split);
      run.warnings.push(...loaded.warnings);
      for (const image of loaded.images) {
        if (run.confine !== null && !within(run.confine, image.imagePath)) {
          invalid(`${split} lists an image outside the archive (${image.imagePath})`);
        }
        images.push({
          image,
          relative: path.relative(dataset.root, image.imagePath) || image.imagePath,
        });
      }
    }
    return images;
  }

  /** The deployment's classes and the data set's new ones (refused unless `addClasses`). */
  private async checkClasses(
    run: ImportRun,
    names: readonly string[],
  ): Promise<{ known: string[]; unknown: string[] }> {
    const known = await this.classes.classNames();
    const unknown = names.filter((name) => !known.includes(name));
    if (unknown.length > 0 && run.options.addClasses !== true) {
      invalid(
        `the data set's classes ${unknown.map((n) => `'${n}'`).join(', ')} are not classes of this deployment ` +
          `(${known.join(', ')}); import with addClasses to append them`,
      );
    }
    return { known, unknown };
  }

  /** Every image read and checked (four at a time); a warning counts clipped boxes. */
  private async readCandidates(
    run: ImportRun,
    dataset: YoloDataset,
    images: readonly ImageExtract[],
  ): Promise<ImportCandidate[]> {
    let clipped = 0;
    const candidates = await mapLimited(images, 4, async ({ image, relative }) => {
      const read = await readCandidate(image, relative, dataset.root, dataset.names);
      clipped += read.clipped;
      return read.candidate;
    });
    if (clipped > 0) {
      run.warnings.push(`${clipped} box(es) extended past the image edge and were clipped`);
    }
    return candidates;
  }

  /** Writes the image blobs, then the reviewed labels and the snapshot (or finds it). */
  private async write(
    run: ImportRun,
    unique: readonly ImportCandidate[],
    classNames: readonly string[],
  ): Promise<ImportResult> {
    const { warnings, options, actor } = run;
    const manifest = buildManifest(
      classNames,
      unique.map((candidate) => manifestImage(candidate, classNames)),
    );
    const id = sha256Hex(manifestText(manifest));
    const existing = await this.store.findById(id);
    if (existing !== undefined) {
      return { dataset: datasetInfo(existing), created: false, images: 0, warnings };
    }
    await mapLimited(unique, 4, async (candidate) => {
      const bytes = await readFile(candidate.path);
      if (sha256Hex(bytes) !== candidate.id) invalid(`${candidate.file} changed during the import`);
      await this.blobs.put(bytes);
    });
    const asLabels = options.reviewedLabels !== false;
    const labels = asLabels ? this.reviewedLabels(unique, id, actor) : [];
    const name = options.name ?? path.basename(run.root);
    const result = await this.store.store(manifest, {
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

  /** The imported images as reviewed labels of snapshot `datasetId`. */
  private reviewedLabels(
    unique: readonly ImportCandidate[],
    datasetId: string,
    actor: Actor | null,
  ): NewReviewedLabel[] {
    const now = this.now();
    return unique.map((candidate) => ({
      id: `rvl-${randomUUID()}`,
      queue_item_id: null,
      prediction_id: null,
      source: 'import',
      source_dataset_id: datasetId,
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
  }
}
