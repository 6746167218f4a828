/**
 * Building a snapshot from reviewed labels (created at or after `reviewedSince`), plus, for
 * retraining, a seeded replay sample of earlier snapshots (their images remapped to today's
 * class ids), and counting how many images the demo's simulated reviewer labelled.
 *
 * It never decides when to snapshot or train (the retraining policy does).
 */
import type { ReviewedLabelRow } from '../../db/schema.js';
import type { DatasetRepository } from '../../repositories/dataset.repository.js';
import type {
  CreateSnapshotRequest,
  DatasetProvenance,
  SnapshotResult,
} from '../../shared/api/datasets.js';
import { isSimulatedReviewerName } from '../../shared/api/labeling.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { DatasetManifest, ManifestImage } from '../dataset-manifest.js';
import { buildManifest, sampleImages } from '../dataset-manifest.js';
import type { Actor } from '../labeling.service.js';
import type { ClassCatalogue } from './dataset-types.js';
import { reviewedImages, type SnapshotStore } from './snapshot-store.js';

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
  const remap = (row: string) => {
    const space = row.indexOf(' ');
    return `${map[Number(row.slice(0, space))] ?? 0}${row.slice(space)}`;
  };
  const labels = image.labels.map(remap).sort();
  // Mask outlines and crop classes carry the class id too (segment rows, the crops' box rows).
  const segments = image.segments?.map(remap).sort();
  const crops = image.crops
    ?.map((crop) => ({ box: remap(crop.box), cropClass: crop.cropClass }))
    .sort((a, b) => (a.box < b.box ? -1 : a.box > b.box ? 1 : a.cropClass < b.cropClass ? -1 : 1));
  return {
    ...image,
    labels,
    ...(segments === undefined ? {} : { segments }),
    ...(crops === undefined ? {} : { crops }),
  };
}

export class DatasetSnapshots {
  constructor(
    private readonly datasets: DatasetRepository,
    private readonly classes: ClassCatalogue,
    private readonly store: SnapshotStore,
  ) {}

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
    if (request.parentId !== undefined) await this.store.requireDataset(request.parentId);
    const fresh = reviewedImages(
      await this.datasets.reviewedLabels(request.reviewedSince),
      classNames,
    );
    const { replay, images: replayImages } =
      request.replay === undefined
        ? { replay: null, images: [] }
        : await this.replaySample(request, fresh, classNames);
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
    return this.store.store(manifest, {
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

  /** The seeded replay sample of the request's sources, leaving out images `fresh` has. */
  private async replaySample(
    request: CreateSnapshotRequest,
    fresh: readonly ManifestImage[],
    classNames: readonly string[],
  ): Promise<{ replay: DatasetProvenance['replay']; images: ManifestImage[] }> {
    const asked = request.replay;
    if (asked === undefined) return { replay: null, images: [] };
    const sources = asked.datasetIds ?? (request.parentId === undefined ? [] : [request.parentId]);
    if (sources.length === 0) {
      throw new VisionLoopError(
        'INVALID_ARGUMENT',
        'replay needs datasetIds, or a parentId to sample from',
      );
    }
    const taken = new Set(fresh.map((image) => image.id));
    const candidates = new Map<string, ManifestImage>();
    for (const source of sources) {
      const manifest = await this.store.manifest(source);
      for (const image of manifest.images) {
        if (taken.has(image.id) || candidates.has(image.id)) continue;
        candidates.set(image.id, remapClasses(image, manifest.classNames, classNames, source));
      }
    }
    const seed = asked.seed ?? 0;
    const images = sampleImages([...candidates.values()], {
      count: asked.count,
      fraction: asked.fraction,
      seed,
    });
    const replay = {
      datasetIds: sources,
      seed,
      candidates: candidates.size,
      sampled: images.length,
    };
    return { replay, images };
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
}
