/**
 * A `training.run` job for a later stage of the chain (payload `stage: 'classify' | 'segment'`,
 * docs/retraining.md "Retraining a stage"):
 *
 *  1. snapshot of every reviewed label (stage models are small and trained from scratch, so
 *     there is no replay and no "new since" cut); the boxes with a crop class / a mask polygon
 *     are counted, and fewer than MIN_STAGE_CROPS — or none on the held-out images — end the
 *     job with a permanent error that says how many exist;
 *  2. the crop set (src/services/dataset/stage-crops.ts) cut from the materialized snapshot as
 *     the runtime cuts crops, split by image as the snapshot is;
 *  3. `train-classify` / `train-segment` from scratch, epochs streamed into the job's progress;
 *  4. the trainer's evaluation on the held-out split (the snapshot's val images' crops: accuracy
 *     per class, or mask IoU and area error), stored as the model's `val` metrics;
 *  5. registration (the registry probes the file: task classify / segment, its own classes).
 *
 * Never promotes: the run record names the command that does
 * (`visionloop models promote V --alias classify-production`). It never spawns processes
 * itself: the trainer port does.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PermanentJobError } from './jobs/job-context.js';
import type { JobContext, JsonValue } from './jobs/job-context.js';
import type { ModelDetail } from '../shared/api/models.js';
import type { RetrainingSettings, TrainingRunPayload } from '../shared/api/retraining.js';
import type { DatasetManifest } from './dataset-manifest.js';
import {
  MIN_STAGE_CROPS,
  selectStageCrops,
  writeStageCrops,
  type StageCropSelection,
  type StageTask,
} from './dataset/stage-crops.js';
import type { DatasetService } from './dataset/index.js';
import type { ModelRegistryService } from './registry/index.js';
import {
  describeTrainerDevice,
  trainerDeviceOf,
  trainerDeviceParams,
  trainerProcessLog,
  type TrainerPort,
} from './trainer-process-log.js';

/** What a stage training uses (a subset of retraining-run.ts `TrainingRunDeps`). */
export interface StageRunDeps {
  datasets: Pick<DatasetService, 'createSnapshot' | 'manifest' | 'materialize'>;
  models: Pick<ModelRegistryService, 'register'>;
  trainer: TrainerPort;
}

/** Peak learning rate of a stage model trained from scratch (the shipped recipes' rate). */
export const STAGE_TRAINING_LR = 3e-3;
/** Most crops per batch (the shipped recipes' batch). */
const STAGE_MAX_BATCH = 64;

/** The alias a registered stage model is promoted to by hand. */
export function stageProductionAlias(task: StageTask): string {
  return `${task}-production`;
}

/** How the crop counts read in messages ("12 boxes with a crop class"). */
function labelledWhat(task: StageTask): string {
  return task === 'classify' ? 'with a crop class' : 'with a mask polygon';
}

/**
 * How many labelled crops `manifest` offers a `task` stage, and the error that refuses a
 * training with too few (null when there are enough).
 */
export function stageDataProblem(
  manifest: DatasetManifest,
  task: StageTask,
): { selection: StageCropSelection; problem: string | null } {
  const selection = selectStageCrops(manifest, task);
  const count = selection.sources.length;
  const held = selection.sources.filter((source) => source.image.split === 'val').length;
  let problem: string | null = null;
  if (count < MIN_STAGE_CROPS) {
    problem =
      `cannot retrain the ${task} stage: ${count} reviewed box${count === 1 ? '' : 'es'} ` +
      `${labelledWhat(task)} exist, at least ${MIN_STAGE_CROPS} are needed ` +
      `(${selection.skipped} labelled boxes have none); label more in the labeling page`;
  } else if (held === 0) {
    problem =
      `cannot retrain the ${task} stage: none of the ${count} boxes ${labelledWhat(task)} is on a ` +
      'held-out (val) image, so the model could not be evaluated; label more frames';
  } else if (held === count) {
    problem = `cannot retrain the ${task} stage: all ${count} boxes ${labelledWhat(task)} are on held-out (val) images; label more frames`;
  } else if (task === 'classify') {
    const classes = new Set(selection.sources.map((source) => source.cropClass));
    if (classes.size < 2) {
      problem = `cannot retrain the classify stage: all ${count} crops have the class '${[...classes].join('')}'; a classifier needs at least two crop classes`;
    }
  }
  return { selection, problem };
}

export interface StageRunHooks {
  event(
    kind: string,
    details: { [key: string]: JsonValue },
    reason?: string | null,
    modelVersion?: string | null,
  ): Promise<void>;
}

/** Steps 1–5 of a stage training (module comment); returns the job's result. */
export async function runStageTraining(
  deps: StageRunDeps,
  settings: RetrainingSettings,
  payload: TrainingRunPayload,
  context: JobContext,
  run: { task: StageTask; runDir: string; version: string; hooks: StageRunHooks },
): Promise<JsonValue> {
  const { task, runDir, version, hooks } = run;
  const alias = stageProductionAlias(task);
  const promoteHint = `promote with visionloop models promote ${version} --alias ${alias}`;

  // 1. snapshot
  context.reportProgress({ stage: 'snapshot', fraction: 0.01, candidateVersion: version, task });
  const snapshot = await deps.datasets.createSnapshot(
    { name: `retraining ${context.jobId} (${task})`.slice(0, 100) },
    null,
  );
  const datasetId = snapshot.dataset.id;
  const manifest = await deps.datasets.manifest(datasetId);
  const { selection, problem } = stageDataProblem(manifest, task);
  const heldOut = selection.sources.filter((source) => source.image.split === 'val').length;
  await hooks.event(
    'snapshot',
    {
      stage: task,
      datasetId,
      created: snapshot.created,
      counts: snapshot.dataset.counts,
      labelledCrops: selection.sources.length,
      heldOutCrops: heldOut,
      skippedBoxes: selection.skipped,
      unmatchedPolygons: selection.unmatched,
      minimumCrops: MIN_STAGE_CROPS,
    },
    `${selection.sources.length} boxes ${labelledWhat(task)} (${heldOut} held out); ` +
      `${selection.skipped} labelled boxes without one skipped`,
  );
  if (problem !== null) throw new PermanentJobError(problem);

  // 2. crops
  context.reportProgress({ stage: 'crops', fraction: 0.03, candidateVersion: version, task });
  const dataDir = path.join(runDir, 'data');
  await deps.datasets.materialize(datasetId, dataDir);
  const cropDir = path.join(runDir, 'crops');
  const crops = await writeStageCrops(selection, dataDir, cropDir, { datasetId });
  context.signal.throwIfAborted();

  // 3. training
  const batch = Math.min(STAGE_MAX_BATCH, Math.max(1, crops.train.count));
  const trainerParams: { [key: string]: JsonValue } = {
    stage: task,
    epochs: settings.epochs,
    batch,
    lr: STAGE_TRAINING_LR,
    seed: settings.seed,
    threads: settings.threads === 0 ? 'auto' : settings.threads,
    nice: settings.nice,
    warmStartFrom: null,
    cropSize: crops.size,
    crops: {
      names: crops.names,
      train: crops.train,
      val: crops.val,
      skippedBoxes: crops.skipped,
      unmatchedPolygons: crops.unmatched,
    },
    jobId: context.jobId,
    attempt: context.attempt,
    trigger: payload.trigger,
  };
  const progress = (fields: Record<string, JsonValue>): void =>
    context.reportProgress({ stage: 'training', candidateVersion: version, task, ...fields });
  progress({ fraction: 0.05, epoch: 0, epochs: settings.epochs });
  const trainerLog = trainerProcessLog({
    epochs: settings.epochs,
    onStart: (device) => {
      if (device === null) return;
      progress({
        fraction: 0.05,
        epoch: 0,
        epochs: settings.epochs,
        device: describeTrainerDevice(device),
      });
    },
    onEpoch: ({ epoch, epochs, loss, etaSeconds }) => {
      const device = trainerLog.device();
      progress({
        fraction: 0.05 + (0.85 * epoch) / epochs,
        epoch,
        epochs,
        loss,
        etaSeconds,
        ...(device === null ? {} : { device: describeTrainerDevice(device) }),
      });
    },
  });
  const done = await deps.trainer.train(
    {
      subcommand: task === 'classify' ? 'train-classify' : 'train-segment',
      data: cropDir,
      out: path.join(runDir, 'out'),
      epochs: settings.epochs,
      batch,
      seed: settings.seed,
      threads: settings.threads,
      nice: settings.nice,
      lr: STAGE_TRAINING_LR,
      version,
    },
    { signal: context.signal, onLog: trainerLog.onLog, onEvent: trainerLog.onEvent },
  );
  context.signal.throwIfAborted();
  // Lineage: where it trained ("cpu", "cuda:0" and the GPU's name; null when not reported).
  const device = trainerLog.device() ?? trainerDeviceOf(done);
  Object.assign(trainerParams, trainerDeviceParams(device));

  // 4. the held-out evaluation, written by the trainer beside the model
  context.reportProgress({ stage: 'evaluating', fraction: 0.92, candidateVersion: version, task });
  const trainerMetrics = await readTrainerMetrics(
    path.join(path.dirname(done.model), 'metrics.json'),
  );
  const val = trainerMetrics?.val ?? null;
  await hooks.event('evaluating', {
    stage: task,
    heldOutCrops: crops.val.count,
    perClass: crops.val.perClass,
    val,
  });

  // 5. registration, no promotion
  context.reportProgress({ stage: 'registering', fraction: 0.96, candidateVersion: version, task });
  const metrics: { [key: string]: JsonValue } = {
    task,
    val,
    heldOut: {
      crops: crops.val.count,
      images: new Set(
        selection.sources.filter((s) => s.image.split === 'val').map((s) => s.image.id),
      ).size,
      split: 'the snapshot val images (by image hash), never trained on',
    },
    trainer: (done.metrics as { [key: string]: JsonValue } | undefined) ?? null,
    promotion: promoteHint,
  };
  const registered: ModelDetail = (
    await deps.models.register({
      artifact: await readFile(done.model),
      weights: done.weights === '' ? null : await readFile(done.weights),
      trainingLog: trainerLog.text(),
      version,
      source: 'trained',
      parentVersion: null,
      datasetId,
      trainerParams,
      metrics,
      notes: `retraining job ${context.jobId} (${payload.trigger}, ${task} stage)`,
      actor: 'retraining',
    })
  ).model;
  await hooks.event(
    'registered',
    {
      stage: task,
      task: registered.task,
      datasetId,
      metrics: { val },
      promotion: promoteHint,
      trainingSeconds: Math.round(done.elapsed_s),
      ...trainerDeviceParams(device),
    },
    `not promoted (stage models never are automatically); ${promoteHint}`,
    registered.version,
  );
  context.reportProgress({ stage: 'done', fraction: 1, candidateVersion: version, task });
  return stageResult(registered.version, task, datasetId, promoteHint);
}

/** The job result of a stage training (also what a resumed attempt returns). */
export function stageResult(
  version: string,
  task: StageTask,
  datasetId: string | null,
  promoteHint = `promote with visionloop models promote ${version} --alias ${stageProductionAlias(task)}`,
): JsonValue {
  return {
    version,
    stage: task,
    datasetId,
    decision: 'registered',
    passed: true,
    reasons: [`${task} models are never promoted automatically; ${promoteHint}`],
    promotion: promoteHint,
  };
}

async function readTrainerMetrics(file: string): Promise<{ [key: string]: JsonValue } | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as { [key: string]: JsonValue })
      : null;
  } catch {
    return null;
  }
}
