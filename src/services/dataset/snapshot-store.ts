/**
 * Stored snapshots. A snapshot is its manifest (dataset-manifest.ts), stored as a JSON blob
 * whose sha256 is the dataset id; the `datasets` row adds the parent, counts and provenance.
 * Storing the same content twice finds the existing snapshot and writes nothing. Also the
 * manifest of the reviewed labels now: the newest label of each image wins (an image
 * relabelled later, or imported again, counts once).
 *
 * It never decides what goes into a snapshot (dataset-snapshots.ts and dataset-import.ts do).
 */
import { z } from 'zod';
import type { DatasetRow, NewReviewedLabel, ReviewedLabelRow } from '../../db/schema.js';
import type { BlobStore } from '../../repositories/blob-store.js';
import type { DatasetRepository } from '../../repositories/dataset.repository.js';
import {
  datasetCountsSchema,
  datasetProvenanceSchema,
  type DatasetInfo,
  type DatasetListResponse,
  type DatasetProvenance,
  type SnapshotResult,
} from '../../shared/api/datasets.js';
import { labelBoxSchema } from '../../shared/api/labeling.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { DatasetManifest, ImageExt, ManifestImage } from '../dataset-manifest.js';
import {
  IMAGE_EXTENSIONS,
  buildManifest,
  countsOf,
  manifestImage,
  manifestText,
  parseManifest,
  sha256Hex,
} from '../dataset-manifest.js';
import type { Actor } from '../labeling.service.js';
import type { ClassCatalogue } from './dataset-types.js';

const storedBoxesSchema = z.array(labelBoxSchema);

/** What a stored snapshot records besides its manifest. */
export interface SnapshotMeta {
  source: 'snapshot' | 'import';
  parentId: string | null;
  name: string | null;
  actor: Actor | null;
  provenance: DatasetProvenance;
  labels: NewReviewedLabel[];
  /** Snapshots: images labelled by the simulated reviewer (counts.simulatedLabels). */
  simulatedLabels?: number;
}

function isImageExt(value: string): value is ImageExt {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(value);
}

function parseOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** A `datasets` row as the API shows it (malformed columns fall back to empty values). */
export function datasetInfo(row: DatasetRow): DatasetInfo {
  const classNames = z.array(z.string()).safeParse(parseOrNull(row.class_names));
  const countsValue = parseOrNull(row.counts);
  const counts = datasetCountsSchema.safeParse({
    images: 0,
    train: 0,
    val: 0,
    boxes: 0,
    empty: 0,
    perClass: {},
    ...(typeof countsValue === 'object' && countsValue !== null ? countsValue : {}),
  });
  const provenance = datasetProvenanceSchema.safeParse(parseOrNull(row.provenance));
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

/** Manifest entries of reviewed labels: the newest label of each image. */
export function reviewedImages(
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
    const boxes = storedBoxesSchema.safeParse(parseOrNull(row.labels));
    if (!boxes.success) {
      throw new VisionLoopError('INTERNAL', `reviewed label ${row.id} has malformed boxes`);
    }
    const image = {
      id: row.image_blob,
      ext: row.image_ext,
      width: row.width,
      height: row.height,
      boxes: boxes.data,
    };
    images.push(manifestImage(image, classNames));
  }
  return images;
}

export class SnapshotStore {
  constructor(
    private readonly datasets: DatasetRepository,
    private readonly blobs: BlobStore,
    private readonly classes: ClassCatalogue,
    private readonly now: () => number,
  ) {}

  async list(limit = 200): Promise<DatasetListResponse> {
    const rows = await this.datasets.list(limit);
    return { datasets: rows.map(datasetInfo) };
  }

  async get(id: string): Promise<DatasetInfo> {
    return datasetInfo(await this.requireDataset(id));
  }

  /** The row of snapshot `id`, if stored. */
  findById(id: string): Promise<DatasetRow | undefined> {
    return this.datasets.findById(id);
  }

  /** The row of snapshot `id`. Throws NOT_FOUND. */
  async requireDataset(id: string): Promise<DatasetRow> {
    const row = await this.datasets.findById(id);
    if (row === undefined) throw new VisionLoopError('NOT_FOUND', `no dataset with id ${id}`);
    return row;
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
      reviewedImages(await this.datasets.reviewedLabels(), classNames),
    );
    return { id: sha256Hex(manifestText(manifest)), manifest };
  }

  /**
   * Stores `manifest` as a snapshot with its row (and `meta.labels` as reviewed labels, in
   * one transaction), or finds the snapshot with the same content.
   */
  async store(manifest: DatasetManifest, meta: SnapshotMeta): Promise<SnapshotResult> {
    const text = manifestText(manifest);
    const id = sha256Hex(text);
    const existing = await this.datasets.findById(id);
    if (existing !== undefined) {
      // The same images again: the manifest (and id) are the same, but who gave the labels may
      // not be (an import taken again as reviewed labels, relabelled by the simulated
      // reviewer). The stored row is immutable; the answer carries the count of the labels now,
      // which is what a retraining records in its history and lineage.
      const info = datasetInfo(existing);
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
    return { dataset: datasetInfo(row), created };
  }
}
