/**
 * Dataset snapshots: immutable YOLO data sets built from reviewed labels (plus, for
 * retraining, a seeded replay sample of earlier snapshots), imported from an existing YOLO
 * data set, materialized on disk for the trainer, and exported as streamed archives. It never
 * decides when to snapshot or train (the retraining policy does).
 *
 * The folder, one module per job:
 * - snapshot-store.ts     stored snapshots (manifest blob + row), reading them, the manifest of
 *                         the reviewed labels now
 * - dataset-snapshots.ts  a snapshot of reviewed labels plus a seeded replay sample
 * - dataset-import.ts     importing a YOLO directory or archive, in named steps
 * - import-files.ts       the file side of an import: data.yaml, images, label rows
 * - dataset-files.ts      materializing a snapshot for the trainer; streamed archive exports
 * - dataset-types.ts      the class-catalogue port, options, inputs and results
 * - map-limited.ts        bounded concurrency for file and blob work
 * The manifest format itself (ids, splits, YOLO/COCO text) is ../dataset-manifest.ts.
 *
 * Why a facade. Routes, the CLI's composition, the training run and the tests hold one
 * `DatasetService` built from the same dependencies as before, so it stays the one object
 * callers get; it builds the parts once and each method is one delegation.
 */
import { tmpdir } from 'node:os';
import type { BlobStore } from '../../repositories/blob-store.js';
import type { DatasetRepository } from '../../repositories/dataset.repository.js';
import type { YoloDatasetRepository } from '../../repositories/yolo-dataset.repository.js';
import type {
  CreateSnapshotRequest,
  DatasetInfo,
  DatasetListResponse,
  SnapshotResult,
} from '../../shared/api/datasets.js';
import type { ExportFormat } from '../../shared/api/labeling.js';
import type { DatasetManifest } from '../dataset-manifest.js';
import type { Actor } from '../labeling.service.js';
import { exportDatasetArchive, materializeDataset } from './dataset-files.js';
import { DatasetImporter } from './dataset-import.js';
import { DatasetSnapshots } from './dataset-snapshots.js';
import type {
  ClassCatalogue,
  DatasetArchive,
  DatasetServiceOptions,
  ImportOptions,
  ImportResult,
  MaterializedDataset,
} from './dataset-types.js';
import { SnapshotStore } from './snapshot-store.js';

export type {
  ClassCatalogue,
  DatasetArchive,
  DatasetServiceOptions,
  ImportOptions,
  ImportResult,
  MaterializedDataset,
} from './dataset-types.js';

export class DatasetService {
  private readonly store: SnapshotStore;
  private readonly snapshots: DatasetSnapshots;
  private readonly importer: DatasetImporter;

  constructor(
    datasets: DatasetRepository,
    private readonly blobs: BlobStore,
    yolo: YoloDatasetRepository,
    classes: ClassCatalogue,
    options: DatasetServiceOptions = {},
  ) {
    const now = options.now ?? Date.now;
    const tmpDir = options.tmpDir ?? tmpdir();
    this.store = new SnapshotStore(datasets, blobs, classes, now);
    this.snapshots = new DatasetSnapshots(datasets, classes, this.store);
    this.importer = new DatasetImporter(blobs, yolo, classes, this.store, options, tmpDir);
  }

  // --- reading (snapshot-store.ts) --------------------------------------------------------

  list(limit = 200): Promise<DatasetListResponse> {
    return this.store.list(limit);
  }

  get(id: string): Promise<DatasetInfo> {
    return this.store.get(id);
  }

  /** The stored manifest of snapshot `id`. */
  manifest(id: string): Promise<DatasetManifest> {
    return this.store.manifest(id);
  }

  /** The manifest of every reviewed label now (newest label per image), not stored. */
  currentManifest(): Promise<{ id: string; manifest: DatasetManifest }> {
    return this.store.currentManifest();
  }

  // --- snapshots (dataset-snapshots.ts) ---------------------------------------------------

  /**
   * Snapshots the reviewed labels (created at or after `reviewedSince`), plus a replay sample
   * of earlier snapshots when asked. INVALID_ARGUMENT when the result would be empty;
   * NOT_FOUND for an unknown parent or replay source.
   */
  createSnapshot(request: CreateSnapshotRequest, actor: Actor | null): Promise<SnapshotResult> {
    return this.snapshots.createSnapshot(request, actor);
  }

  // --- files (dataset-files.ts) -----------------------------------------------------------

  /** Writes snapshot `id` as a YOLO data set in `dir`; CONFLICT when `dir` holds one. */
  materialize(id: string, dir: string): Promise<MaterializedDataset> {
    return materializeDataset(this.store, this.blobs, id, dir);
  }

  /** A streamed .tar.gz of snapshot `id` (default: every reviewed label now). */
  exportArchive(format: ExportFormat, id?: string): Promise<DatasetArchive> {
    return exportDatasetArchive(this.store, this.blobs, format, id);
  }

  /** The YOLO archive of snapshot `id` (default: every approved label now). */
  exportYolo(id?: string): Promise<DatasetArchive> {
    return this.exportArchive('yolo', id);
  }

  /** The COCO archive of snapshot `id` (default: every approved label now). */
  exportCoco(id?: string): Promise<DatasetArchive> {
    return this.exportArchive('coco', id);
  }

  // --- import (dataset-import.ts) ---------------------------------------------------------

  /** Imports the YOLO data set in `dir` (or in the single folder inside it). */
  importYolo(dir: string, options: ImportOptions, actor: Actor | null): Promise<ImportResult> {
    return this.importer.importYolo(dir, options, actor);
  }

  /** Imports a .tar or .tar.gz of a YOLO data set, unpacked into a temporary directory. */
  importArchive(
    archive: NodeJS.ReadableStream,
    options: ImportOptions,
    actor: Actor | null,
  ): Promise<ImportResult> {
    return this.importer.importArchive(archive, options, actor);
  }
}
