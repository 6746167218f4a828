/**
 * Composition of the labeling review and the dataset snapshots: repositories and services on
 * an open database, for the server (`createLabelingServices`, called by createServerServices)
 * and for the `visionloop dataset …` commands working straight on the database
 * (`openLocalDatasets`, like `visionloop token` without `--server`).
 */
import type { ServerConfig } from '../config/server.config.js';
import { openDatabase } from '../db/database.js';
import type { DatabaseHandle } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { LocalBlobStore } from '../repositories/blob-store.js';
import type { BlobStore } from '../repositories/blob-store.js';
import { directoryEntries, extractArchive, packTarGz } from '../repositories/dataset-archive.js';
import type { ExtractLimits } from '../repositories/dataset-archive.js';
import { DatasetRepository } from '../repositories/dataset.repository.js';
import { LabelingRepository } from '../repositories/labeling.repository.js';
import { SettingsRepository } from '../repositories/settings.repository.js';
import { YoloDatasetRepository } from '../repositories/yolo-dataset.repository.js';
import { DatasetService } from '../services/dataset.service.js';
import type { EventBus } from '../services/event-bus.js';
import { InProcessEventBus } from '../services/event-bus.js';
import { LabelingService } from '../services/labeling.service.js';

export interface LabelingServicesOptions {
  blobStore: BlobStore;
  events: EventBus;
  /** Receives the queue depth per status (PrometheusExporter). */
  gauge?: { setLabelingQueueDepth(status: string, depth: number): void };
  now?: () => number;
  onBackgroundError?: (error: unknown) => void;
  /** Where archive imports are unpacked (default: the OS temp directory). */
  tmpDir?: string;
  extractLimits?: ExtractLimits;
}

export interface LabelingServices {
  labeling: LabelingService;
  datasets: DatasetService;
}

/** The labeling and dataset services on an open, migrated database. */
export function createLabelingServices(
  database: DatabaseHandle,
  options: LabelingServicesOptions,
): LabelingServices {
  const gauge = options.gauge;
  const labeling = new LabelingService(
    new LabelingRepository(database.db, database.dialect),
    new SettingsRepository(database.db),
    options.events,
    {
      now: options.now,
      onQueueDepth: gauge === undefined ? undefined : (s, n) => gauge.setLabelingQueueDepth(s, n),
      onBackgroundError: options.onBackgroundError,
    },
  );
  const datasets = new DatasetService(
    new DatasetRepository(database.db),
    options.blobStore,
    new YoloDatasetRepository(),
    labeling,
    { now: options.now, tmpDir: options.tmpDir, extractLimits: options.extractLimits },
  );
  return { labeling, datasets };
}

export interface LocalDatasets extends LabelingServices {
  readonly location: string;
  close(): Promise<void>;
}

/**
 * The dataset service straight on the configured database and blob directory, migrating the
 * database first. For `visionloop dataset …` without `--server`.
 */
export async function openLocalDatasets(config: ServerConfig): Promise<LocalDatasets> {
  const database = await openDatabase(config.databaseUrl);
  try {
    await migrateToLatest(database);
  } catch (error) {
    await database.close();
    throw error;
  }
  const services = createLabelingServices(database, {
    blobStore: new LocalBlobStore(config.blobDir),
    events: new InProcessEventBus(),
  });
  return { ...services, location: database.location, close: () => database.close() };
}

/** Archive helpers for the CLI's remote mode (the CLI does not import repositories). */
export const datasetArchives = { extractArchive, packTarGz, directoryEntries };

/** How often the queue-depth gauge is refreshed in the background (expired leases, new items). */
export const QUEUE_DEPTH_REFRESH_MS = 15_000;

/**
 * Refreshes `visionloop_labeling_queue_depth` now and every `intervalMs`: a lease that runs out
 * moves an item back to pending without any request. Returns the stop function.
 */
export function startQueueDepthRefresh(
  labeling: LabelingService,
  intervalMs: number = QUEUE_DEPTH_REFRESH_MS,
): () => void {
  void labeling.refreshQueueDepth();
  const timer = setInterval(() => void labeling.refreshQueueDepth(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
