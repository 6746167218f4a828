/**
 * Snapshots leaving the registry as files: `materializeDataset` writes a YOLO data set into a
 * directory for the trainer; `exportDatasetArchive` streams a .tar.gz (YOLO layout or COCO
 * instances JSON beside the images), piping images from the blob store one at a time.
 *
 * It never changes what is stored.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ArchiveEntry } from '../../repositories/dataset-archive.js';
import { packTarGz } from '../../repositories/dataset-archive.js';
import type { BlobStore } from '../../repositories/blob-store.js';
import type { ExportFormat } from '../../shared/api/labeling.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { DatasetManifest, ManifestImage } from '../dataset-manifest.js';
import {
  cocoDocument,
  countsOf,
  cropsCsvText,
  dataYamlText,
  hasStageLabels,
  imagePath,
  labelPath,
  labelText,
  manifestText,
  segmentLabelPath,
} from '../dataset-manifest.js';
import type { DatasetArchive, MaterializedDataset } from './dataset-types.js';
import { mapLimited } from './map-limited.js';
import type { SnapshotStore } from './snapshot-store.js';

const DATA_SET_ENTRIES = [
  'data.yaml',
  'images',
  'labels',
  'labels-seg',
  'crops.csv',
  'manifest.json',
];

/** The YOLO-seg label file text of an image: one row per mask outline. */
function segmentText(image: ManifestImage): string {
  const rows = image.segments ?? [];
  return rows.length === 0 ? '' : `${rows.join('\n')}\n`;
}

/**
 * Writes snapshot `id` as a YOLO data set in `dir` (created if missing): data.yaml (with
 * `path: dir`), images/{train,val}, labels/{train,val}, manifest.json; when labels carry them,
 * labels-seg/{train,val} (YOLO-seg rows of the images with mask outlines) and crops.csv (box →
 * crop class). CONFLICT when `dir` already holds a data set. What this call wrote is removed again if it fails.
 */
export async function materializeDataset(
  store: SnapshotStore,
  blobs: BlobStore,
  id: string,
  dir: string,
): Promise<MaterializedDataset> {
  const manifest = await store.manifest(id);
  const root = path.resolve(dir);
  await mkdir(root, { recursive: true });
  const existing = (await readdir(root)).filter((name) => DATA_SET_ENTRIES.includes(name));
  if (existing.length > 0) {
    throw new VisionLoopError(
      'CONFLICT',
      `${root} already holds a data set (${existing.join(', ')}); choose an empty directory`,
    );
  }
  const stage = hasStageLabels(manifest);
  try {
    const parts = ['images/train', 'images/val', 'labels/train', 'labels/val'];
    if (stage.segments) parts.push('labels-seg/train', 'labels-seg/val');
    for (const part of parts) {
      await mkdir(path.join(root, part), { recursive: true });
    }
    await mapLimited(manifest.images, 4, async (image) => {
      const source = await blobs.stream(image.id);
      if (source === null) {
        throw new VisionLoopError(
          'INTERNAL',
          `image ${image.id} of dataset ${id} is missing from the blob store`,
        );
      }
      await pipeline(source, createWriteStream(path.join(root, imagePath(image)), { flags: 'wx' }));
      await writeFile(path.join(root, labelPath(image)), labelText(image), { flag: 'wx' });
      if ((image.segments?.length ?? 0) > 0) {
        await writeFile(path.join(root, segmentLabelPath(image)), segmentText(image), {
          flag: 'wx',
        });
      }
    });
    if (stage.crops) await writeFile(path.join(root, 'crops.csv'), cropsCsvText(manifest));
    await writeFile(path.join(root, 'manifest.json'), manifestText(manifest));
    const dataYaml = path.join(root, 'data.yaml');
    await writeFile(dataYaml, dataYamlText(manifest, id, root));
    return { id, dir: root, dataYaml, counts: countsOf(manifest) };
  } catch (error) {
    for (const name of DATA_SET_ENTRIES) {
      await rm(path.join(root, name), { recursive: true, force: true });
    }
    throw error;
  }
}

/** The archive's entries, in order; images are opened from the blob store when packed. */
function* archiveEntries(
  manifest: DatasetManifest,
  datasetId: string,
  format: ExportFormat,
  folder: string,
  sizes: ReadonlyMap<string, number>,
  blobs: BlobStore,
): Generator<ArchiveEntry> {
  const at = (name: string) => `${folder}/${name}`;
  yield { name: at('manifest.json'), data: manifestText(manifest) };
  const stage = hasStageLabels(manifest);
  if (stage.crops) yield { name: at('crops.csv'), data: cropsCsvText(manifest) };
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
    if (format === 'yolo') {
      yield { name: at(labelPath(image)), data: labelText(image) };
      if ((image.segments?.length ?? 0) > 0) {
        yield { name: at(segmentLabelPath(image)), data: segmentText(image) };
      }
    }
  }
}

/**
 * A streamed .tar.gz of snapshot `id` (default: every reviewed label now), in the YOLO
 * layout or as COCO instances JSON beside the images. Every image is checked to be in the
 * blob store before the first byte is produced. NOT_FOUND when there is nothing to export.
 */
export async function exportDatasetArchive(
  store: SnapshotStore,
  blobs: BlobStore,
  format: ExportFormat,
  id?: string,
): Promise<DatasetArchive> {
  const { manifest, datasetId } =
    id === undefined
      ? await store.currentManifest().then(({ id: current, manifest: m }) => ({
          manifest: m,
          datasetId: current,
        }))
      : { manifest: await store.manifest(id), datasetId: id };
  if (manifest.images.length === 0) {
    throw new VisionLoopError('NOT_FOUND', 'no approved labels to export yet');
  }
  const sizes = new Map<string, number>();
  await mapLimited(manifest.images, 8, async (image) => {
    const info = await blobs.stat(image.id);
    if (info === null) {
      throw new VisionLoopError('INTERNAL', `image ${image.id} is missing from the blob store`);
    }
    sizes.set(image.id, info.bytes);
  });
  const folder = `visionloop-${datasetId.slice(0, 12)}-${format}`;
  const entries = archiveEntries(manifest, datasetId, format, folder, sizes, blobs);
  return { id: datasetId, filename: `${folder}.tar.gz`, stream: packTarGz(entries) };
}
