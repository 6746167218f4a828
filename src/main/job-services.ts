/**
 * Composition of the job queue and the drift monitor, shared by the server
 * (`createServerServices`) and the worker (worker.main.ts), and the server's upkeep timers for
 * them: drift observers (events, Prometheus, level listeners) and the sweep of expired job
 * leases, so no job stays "running" even when no worker runs. Also the retraining loop
 * (`createRetrainingService`): its service with the trainer process, the evaluator and the
 * cached nominal holdout behind the ports the training job uses. And the rollout service
 * (`createRolloutService`), whose rules the `rollout.evaluate` job applies.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRuntimeConfig, type RuntimeConfig } from '../config/runtime.config.js';
import type { DatabaseHandle } from '../db/database.js';
import { JobRepository } from '../repositories/job.repository.js';
import { JobQueue } from '../services/jobs/job-queue.js';
import { isBlobKey, type BlobStore } from '../repositories/blob-store.js';
import { RetentionRepository } from '../repositories/retention.repository.js';
import { RetentionService, type FrameRemover } from '../services/retention.service.js';
import { DriftRepository } from '../repositories/drift.repository.js';
import { SettingsRepository } from '../repositories/settings.repository.js';
import { DriftService, type DriftObservers } from '../services/drift/index.js';
import {
  builtInTrainerCommand,
  findPythonAsync,
  parseTrainerCommand,
  runTrainer,
} from '../repositories/trainer-process.js';
import type { DatasetService } from '../services/dataset/index.js';
import type { ModelRegistryService } from '../services/registry/index.js';
import type {
  EvaluatorPort,
  NominalHoldoutPort,
  SeedDatasetPort,
  TrainerPort,
  TrainingRunDeps,
} from '../services/retraining-run.js';
import { SYNTH_CLASSES } from '../shared/domain.js';
import { datasetFeatures } from '../services/training-reference.js';
import { YoloDatasetRepository } from '../repositories/yolo-dataset.repository.js';
import { RetrainingRepository } from '../repositories/retraining.repository.js';
import { RetrainingService } from '../services/retraining.service.js';
import { RolloutRepository } from '../repositories/rollout.repository.js';
import { RolloutService, type RolloutRegistry } from '../services/rollout.service.js';
import type { EventBus } from '../services/event-bus.js';
import { calibrateModelFile } from './calibrate.main.js';
import { createEvaluation } from './evaluation.main.js';
import { ensureSynthDataset, SEED_RECIPE } from './train.main.js';

/**
 * The rollout service (docs/rollouts.md) on `database`, moving aliases through `models`. The
 * server's routes and the agents' model plan use it; the worker runs its `rollout.evaluate`.
 */
export function createRolloutService(
  database: DatabaseHandle,
  options: { models: RolloutRegistry; events: EventBus; now?: () => number },
): RolloutService {
  return new RolloutService(new RolloutRepository(database.db), options.models, options.events, {
    now: options.now,
  });
}

export interface JobServices {
  jobs: JobQueue;
  drift: DriftService;
}

export interface JobServicesOptions extends DriftObservers {
  blobStore: BlobStore;
  now?: () => number;
  onBackgroundError?: (error: unknown) => void;
}

export function createJobServices(
  database: DatabaseHandle,
  options: JobServicesOptions,
): JobServices {
  const jobs = new JobQueue(new JobRepository(database.db, database.dialect), {
    now: options.now,
  });
  const drift = new DriftService(
    new DriftRepository(database.db),
    new SettingsRepository(database.db),
    options.blobStore,
    jobs,
    { events: options.events, prometheus: options.prometheus },
    { now: options.now, onBackgroundError: options.onBackgroundError },
  );
  return { jobs, drift };
}

/** Drift observers are synced this often by a server, ms. */
export const DRIFT_SYNC_MS = 5_000;
/** Expired job leases are swept this often by a server, ms. */
export const JOB_SWEEP_MS = 30_000;

/**
 * Starts the server's timers: drift observers now and every `DRIFT_SYNC_MS`, the job sweep every
 * `JOB_SWEEP_MS`. Returns the function that stops them.
 */
export function startJobUpkeep(
  services: JobServices,
  onError: (message: string, error: unknown) => void,
  periods: { driftSyncMs?: number; jobSweepMs?: number } = {},
): () => void {
  const sync = (): void => {
    services.drift.syncObservers().catch((error: unknown) => onError('drift sync failed', error));
  };
  sync();
  const driftTimer = setInterval(sync, periods.driftSyncMs ?? DRIFT_SYNC_MS);
  driftTimer.unref();
  const sweepTimer = setInterval(() => {
    services.jobs.sweep().catch((error: unknown) => onError('job sweep failed', error));
  }, periods.jobSweepMs ?? JOB_SWEEP_MS);
  sweepTimer.unref();
  return () => {
    clearInterval(driftTimer);
    clearInterval(sweepTimer);
  };
}

// ---------------------------------------------------------------------------------------------
// retraining

/** Seed of the synthetic nominal holdout (far from the seed model's training seeds). */
export const NOMINAL_HOLDOUT_SEED = 300_000;

export interface RetrainingCompositionOptions {
  jobs: JobQueue;
  models: ModelRegistryService;
  datasets: DatasetService;
  /** The drift monitor, which keeps each registered version's training reference. */
  drift?: Pick<DriftService, 'storeTrainingReference'>;
  /** Scratch space of training runs and the cached nominal holdout. Default: the OS temp dir. */
  workDir?: string;
  /** Python, ONNX Runtime threads, ffmpeg. Default: from the environment. */
  runtime?: RuntimeConfig;
  gauge?: { setRetrainingState(state: string): void };
  now?: () => number;
}

/**
 * The trainer process behind the training job's port: the configured command
 * (VISIONLOOP_TRAINER_COMMAND) when there is one, else the built-in PyTorch trainer.
 */
export function trainerPort(runtime: RuntimeConfig): TrainerPort {
  const configured = runtime.VISIONLOOP_TRAINER_COMMAND;
  return {
    // The probe for a Python with PyTorch must not block the server's event loop.
    train: async (request, options) =>
      runTrainer(
        configured === undefined
          ? builtInTrainerCommand(await findPythonAsync(runtime.VISIONLOOP_PYTHON))
          : parseTrainerCommand(configured),
        request,
        options,
      ),
  };
}

/** Evaluation through the serving runtime (one detector per evaluation, released after). */
export function evaluatorPort(runtime: RuntimeConfig): EvaluatorPort {
  const { evaluation, createDetector } = createEvaluation(runtime);
  return {
    async evaluate(modelPath, dataDir, split, signal) {
      const detector = createDetector();
      try {
        await detector.load(modelPath);
        const report = await evaluation.evaluateModel(detector, dataDir, { split, signal });
        return {
          map50: report.map50,
          map50_95: report.map50_95,
          images: report.images,
          objects: report.gtCount,
          // Per-class AP for the models page (classes without ground truth here are left out).
          perClass: Object.fromEntries(
            report.perClass.filter((c) => c.ap50 >= 0).map((c) => [c.className, c.ap50]),
          ),
        };
      } finally {
        await detector.dispose();
      }
    },
  };
}

/**
 * The nominal holdout, generated once per size under `<workDir>/holdouts` (into a temporary
 * directory renamed into place, so concurrent workers never read a half-written one).
 */
export function nominalHoldoutPort(workDir: string): NominalHoldoutPort {
  return {
    async ensure(images) {
      const dir = join(workDir, 'holdouts', `nominal-${images}-s${NOMINAL_HOLDOUT_SEED}`);
      if ((await stat(join(dir, 'export.json')).catch(() => null)) === null) {
        const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
        await mkdir(tmp, { recursive: true });
        try {
          await ensureSynthDataset(tmp, {
            presets: 'nominal',
            count: images,
            seed: NOMINAL_HOLDOUT_SEED,
            valFraction: 0,
          });
          // data.yaml names its own directory: point it at where it is about to be.
          const yaml = join(tmp, 'data.yaml');
          await writeFile(yaml, (await readFile(yaml, 'utf8')).split(tmp).join(dir));
          await rename(tmp, dir).catch(async (error: unknown) => {
            // Another process finished first: its copy is identical.
            if ((await stat(join(dir, 'export.json')).catch(() => null)) === null) throw error;
          });
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
      }
      return { dir, split: 'train' };
    },
  };
}

/**
 * Frames of the seed recipe's training set registered as the seed's snapshot: enough to replay
 * as many nominal frames as 400 new labels (replayRatio 1). Measured: ~0.2 s per frame to render
 * on a 2-core machine under heavy load (100 in 21.7 s), ~93 KB per frame in the blob store.
 */
export const SEED_TRAINING_SET_IMAGES = 400;

/**
 * The shipped seed's training set as its dataset snapshot (retraining-run.ts): the seed
 * recipe's first `images` frames (synthetic `nominal`, data seed 1), rendered into `workDir`,
 * stored in the blob store as a snapshot that adds no reviewed labels, attached to the seed's
 * registry entry, and the rendered copy removed. Only for the recipe's own seed version with
 * the synthetic line's classes; any other model answers null.
 */
export function seedDatasetPort(
  workDir: string,
  datasets: Pick<DatasetService, 'importYolo'>,
  models: Pick<ModelRegistryService, 'attachDataset' | 'get'>,
  images = SEED_TRAINING_SET_IMAGES,
): SeedDatasetPort {
  return {
    async ensure(model) {
      if (model.datasetId !== null) return model.datasetId;
      const synthClasses =
        model.classNames.length === SYNTH_CLASSES.length &&
        model.classNames.every((name, i) => name === SYNTH_CLASSES[i]);
      if (model.source !== 'seed' || model.version !== SEED_RECIPE.version || !synthClasses) {
        return null;
      }
      const dir = join(
        workDir,
        `seed-training-set-${SEED_RECIPE.preset}-${images}-s${SEED_RECIPE.dataSeed}-${process.pid}`,
      );
      try {
        await ensureSynthDataset(dir, {
          presets: SEED_RECIPE.preset,
          count: images,
          seed: SEED_RECIPE.dataSeed,
          valFraction: SEED_RECIPE.valFraction,
        });
        const imported = await datasets.importYolo(
          dir,
          {
            name: `${images} synthetic ${SEED_RECIPE.preset} frames of the seed recipe (data seed ${SEED_RECIPE.dataSeed})`,
            reviewedLabels: false,
          },
          null,
        );
        await models.attachDataset(model.version, imported.dataset.id);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      return (await models.get(model.version)).datasetId;
    },
  };
}

/** Training references from a materialized data set's train split (training-reference.ts). */
export function trainingReferencePort(
  drift: Pick<DriftService, 'storeTrainingReference'>,
): NonNullable<TrainingRunDeps['references']> {
  const datasets = new YoloDatasetRepository();
  return {
    async storeFromDataset(version, dataDir) {
      const features = await datasetFeatures(datasets, dataDir);
      await drift.storeTrainingReference(version, features, {
        description: `${features.length} training images of ${version}`,
      });
    },
  };
}

/** A candidate's score calibration, fitted on its snapshot's val split (calibrate.main.ts). */
export function calibratorPort(): NonNullable<TrainingRunDeps['calibrator']> {
  return {
    async calibrate(modelPath, dataDir, signal) {
      return { ...(await calibrateModelFile(modelPath, dataDir, { signal })) };
    },
  };
}

/** The retraining service with its repository and the training job's ports. */
export function createRetrainingService(
  database: DatabaseHandle,
  options: RetrainingCompositionOptions,
): RetrainingService {
  const runtime = options.runtime ?? loadRuntimeConfig();
  const workDir = options.workDir ?? join(tmpdir(), 'visionloop-retraining');
  return new RetrainingService(
    new RetrainingRepository(database.db),
    new SettingsRepository(database.db),
    options.jobs,
    {
      datasets: options.datasets,
      models: options.models,
      trainer: trainerPort(runtime),
      evaluator: evaluatorPort(runtime),
      nominal: nominalHoldoutPort(workDir),
      references: options.drift === undefined ? undefined : trainingReferencePort(options.drift),
      seedDataset: seedDatasetPort(workDir, options.datasets, options.models),
      calibrator: calibratorPort(),
      workDir,
    },
    { now: options.now, gauge: options.gauge },
  );
}

// ---------------------------------------------------------------------------------------------
// retention

/** How frames leave the blob store (local or S3): the store's own `delete(key)`. */
export function frameRemoverOf(store: BlobStore): FrameRemover {
  return {
    async remove(key) {
      if (isBlobKey(key)) await store.delete(key);
    },
  };
}

/** The retention job's service (docs/operations.md, Retention). */
export function createRetentionService(
  database: DatabaseHandle,
  blobStore: BlobStore,
  options: { days: number | null; now?: () => number },
): RetentionService {
  return new RetentionService(
    new RetentionRepository(database.db),
    blobStore,
    frameRemoverOf(blobStore),
    options,
  );
}
