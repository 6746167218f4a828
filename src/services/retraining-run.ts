/**
 * One `training.run` job, step by step (docs/retraining.md):
 *
 *  1. snapshot: reviewed labels since the production model's own snapshot (all of them when
 *     production has none, or when its snapshot holds no reviewed labels, like the seed's
 *     synthetic training set), plus a seeded replay sample of that snapshot — `replayRatio`
 *     earlier images per new one, against forgetting; the shipped seed's training set is
 *     registered as its snapshot the first time a training needs it. When there is nothing to
 *     replay the snapshot event says so. Materialized as a YOLO data set in a scratch
 *     directory of this attempt;
 *  2. holdouts: `recent` = the snapshot's val images that are new reviewed labels (the split is
 *     a function of the image hash, so they are never trained on, in this or any later
 *     snapshot); `nominal` = synthetic nominal frames, generated once and cached (only for a
 *     deployment with the synthetic line's classes);
 *  3. training: warm start from production's weights.pt (from scratch without), epoch progress
 *     streamed into the job's progress (epoch, loss, val mAP@0.5, ETA); the job's signal
 *     cancels the trainer (SIGTERM);
 *  3b. calibration: the candidate's confidence calibration is fitted on the snapshot's val
 *     split and stamped into its model.onnx (the `calibrator` port, docs/calibration.md), so
 *     what is evaluated, hashed and served is the calibrated file;
 *  4. evaluation of the candidate and of production on both holdouts, through the runtime that
 *     serves;
 *  5. registration with lineage (dataset, parent, trainer parameters and the training's inputs
 *     with how many labels the simulated reviewer gave, both models' metrics, the calibration,
 *     the gate, the training log), then the gate: a passed candidate
 *     moves `staging` (and `production` with autoPromote) and its reviewed labels are marked as
 *     used; a rejected one moves nothing, leaves its labels available for the next training,
 *     and records its inputs so the policy does not train on the same inputs again.
 *
 * A payload with `stage: 'classify' | 'segment'` runs retraining-stage-run.ts instead (crops of
 * the reviewed labels' crop classes / polygons, trained from scratch, registered, never
 * promoted), with the same events, cancellation and scratch directory.
 *
 * Every step writes a `retraining_events` row. Nothing reaches the registry before step 5: an
 * attempt that fails, is cancelled or dies earlier leaves it as it was, and its scratch
 * directory is removed. A retried attempt that finds its version already registered (the
 * previous attempt died after registering) does not train again: it applies the stored gate.
 *
 * It never spawns processes or loads models itself: the trainer, evaluator and holdout ports
 * do (src/main composes them).
 *
 * Over 500 lines on purpose: the steps above are this class's methods, one each, in the order
 * they run, so one training reads top to bottom in one file; the pieces shared with other
 * modules (snapshot, trainer process, evaluation, registry) live in their own services.
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TrainerDoneEvent } from '../repositories/trainer-process.js';
import { JobAbortedError, PermanentJobError } from './jobs/job-context.js';
import type { JobContext, JsonValue } from './jobs/job-context.js';
import type { DatasetInfo } from '../shared/api/datasets.js';
import type { ModelDetail } from '../shared/api/models.js';
import { PRODUCTION_ALIAS, STAGING_ALIAS } from '../shared/api/models.js';
import type { RetrainingSettings, TrainingRunPayload } from '../shared/api/retraining.js';
import { SYNTH_CLASSES } from '../shared/domain.js';
import { VisionLoopError, isVisionLoopError, messageOf } from '../shared/errors.js';
import type { DatasetService } from './dataset/index.js';
import type { DatasetManifest, ManifestImage } from './dataset-manifest.js';
import { dataYamlText, imagePath, labelPath, labelText } from './dataset-manifest.js';
import type { ModelRegistryService } from './registry/index.js';
import {
  promotionGate,
  type GateResult,
  type HoldoutScore,
  type HoldoutScores,
} from './retraining-gate.js';
import { inputSettingsOf, type TrainingInputs } from './retraining-policy.js';
import { runStageTraining, stageResult } from './retraining-stage-run.js';
import {
  describeTrainerDevice,
  trainerDeviceOf,
  trainerDeviceParams,
  trainerProcessLog,
  type TrainerDevice,
  type TrainerPort,
} from './trainer-process-log.js';
import type { FreshLabel, RetrainingRepository } from '../repositories/retraining.repository.js';

/** The trainer port, declared beside the trainer-process log both training runs share. */
export type { TrainerPort } from './trainer-process-log.js';

/** Scores a model file on a YOLO data set split through the serving runtime. */
export interface EvaluatorPort {
  evaluate(
    modelPath: string,
    dataDir: string,
    split: 'train' | 'val',
    signal: AbortSignal,
  ): Promise<HoldoutScore>;
}

/** The cached synthetic nominal holdout: a YOLO data set whose `split` holds every image. */
export interface NominalHoldoutPort {
  ensure(images: number): Promise<{ dir: string; split: 'train' | 'val' }>;
}

/**
 * The shipped seed's training set as a dataset snapshot: rendered from the synthetic line
 * (it is deterministic), stored once and attached to the seed's registry entry. Returns the
 * dataset id, or null when `model` is not the shipped seed.
 */
export interface SeedDatasetPort {
  ensure(model: ModelDetail): Promise<string | null>;
}

export interface TrainingRunDeps {
  datasets: Pick<
    DatasetService,
    'createSnapshot' | 'manifest' | 'materialize' | 'get' | 'currentManifest'
  >;
  models: Pick<
    ModelRegistryService,
    'resolveAlias' | 'readWeights' | 'readArtifact' | 'register' | 'promote' | 'get'
  >;
  store: RetrainingRepository;
  trainer: TrainerPort;
  evaluator: EvaluatorPort;
  nominal: NominalHoldoutPort;
  /**
   * Stores the drift monitor's training reference of a registered version from the data set it
   * was trained on (optional: without it no reference is stored).
   */
  references?: { storeFromDataset(version: string, dataDir: string): Promise<void> };
  /**
   * Fits the candidate's confidence calibration on the snapshot's val split and stamps it into
   * the exported model file (docs/calibration.md), before evaluation and registration. Optional:
   * without it the candidate serves raw scores. Returns what it fitted (stored in the metrics).
   */
  calibrator?: {
    calibrate(modelPath: string, dataDir: string, signal: AbortSignal): Promise<JsonValue>;
  };
  /** Registers the seed's training set as its snapshot (optional: without it, no seed replay). */
  seedDataset?: SeedDatasetPort;
  /** Scratch space: one directory per attempt under `<workDir>/runs`. */
  workDir: string;
  now: () => number;
  newEventId: () => string;
}

/** Who the registry and the alias history name as having acted. */
export const RETRAINING_ACTOR = 'retraining';

/** The registry version a training job registers (the same for every attempt of the job). */
export function candidateVersionOf(jobId: string): string {
  const suffix = jobId.replace(/^job_/, '').replace(/[^A-Za-z0-9._-]/g, '-');
  return `retrain-${suffix}`.slice(0, 64);
}

function scoreJson(score: HoldoutScore | null): JsonValue {
  return score === null
    ? null
    : {
        map50: round(score.map50),
        map50_95: round(score.map50_95),
        images: score.images,
        objects: score.objects,
        ...(score.perClass === undefined
          ? {}
          : {
              perClass: Object.fromEntries(
                Object.entries(score.perClass).map(([name, ap]) => [name, round(ap)]),
              ),
            }),
      };
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/** What a training starts from: production, the snapshot it was trained on, what is new. */
export interface TrainingBasis {
  production: ModelDetail | null;
  /** Production's snapshot: the replay source and the parent of the new snapshot. */
  parent: DatasetInfo | null;
  /** Reviewed labels created at or after this are new (null: all of them). */
  reviewedSince: number | null;
  /** Why there is nothing to replay (null when `parent` is set). */
  noReplay: string | null;
}

/**
 * The basis of a training now. With `ensureSeed`, the shipped seed's training set is
 * registered as its snapshot first (rendering it when it is not stored yet).
 */
export async function trainingBasis(
  deps: Pick<TrainingRunDeps, 'models' | 'datasets' | 'seedDataset'>,
  ensureSeed: boolean,
): Promise<TrainingBasis> {
  const production = await deps.models.resolveAlias(PRODUCTION_ALIAS);
  if (production === null) {
    return {
      production,
      parent: null,
      reviewedSince: null,
      noReplay: 'nothing is in production, so there is no earlier data to replay',
    };
  }
  let datasetId = production.datasetId;
  let seedProblem: string | null = null;
  if (datasetId === null && ensureSeed && deps.seedDataset !== undefined) {
    datasetId = await deps.seedDataset.ensure(production).catch((error: unknown) => {
      seedProblem = failureMessage(error);
      return null;
    });
  }
  if (datasetId === null) {
    const why =
      seedProblem !== null
        ? `the seed's training set could not be registered (${String(seedProblem)})`
        : production.source === 'seed'
          ? `production ${production.version} is a seed without a registered training set`
          : `production ${production.version} was ${production.source === 'uploaded' ? 'uploaded' : 'registered'} ` +
            'without a dataset snapshot, and no earlier reviewed labels were trained into it';
    return { production, parent: null, reviewedSince: null, noReplay: why };
  }
  const parent = await deps.datasets.get(datasetId).catch(() => null);
  if (parent === null) {
    return {
      production,
      parent: null,
      reviewedSince: null,
      noReplay: `production ${production.version}'s dataset ${datasetId.slice(0, 12)} is missing`,
    };
  }
  // A snapshot of reviewed labels covers those made before it; the seed's synthetic training
  // set covers none, so every reviewed label is new to it.
  const reviewedSince = parent.provenance.reviewedImages > 0 ? parent.createdAt : null;
  return { production, parent, reviewedSince, noReplay: null };
}

/** The replay source as people read it. */
function describeSource(parent: DatasetInfo, production: ModelDetail | null): string {
  const id = parent.id.slice(0, 12);
  if (parent.provenance.reviewedImages === 0) {
    return `${production?.version ?? 'production'}'s training set (${parent.name ?? 'a data set'}; dataset ${id})`;
  }
  return `${production?.version ?? 'production'}'s snapshot ${id}`;
}

function inputsJson(inputs: TrainingInputs): { [key: string]: JsonValue } {
  return {
    production: inputs.production,
    replaySource: inputs.replaySource,
    labels: { count: inputs.labels.count, latestAt: inputs.labels.latestAt },
    settings: inputs.settings,
  };
}

/** The inputs stored with a registered candidate (its trainer parameters), when they parse. */
function storedInputs(model: ModelDetail): TrainingInputs | null {
  const value = model.trainerParams?.inputs;
  if (typeof value !== 'object' || value === null) return null;
  const inputs = value as Partial<TrainingInputs>;
  if (typeof inputs.labels !== 'object' || typeof inputs.settings !== 'object') return null;
  return inputs as TrainingInputs;
}

function gateJson(gate: GateResult): { [key: string]: JsonValue } {
  return {
    decision: gate.decision,
    passed: gate.passed,
    reasons: gate.reasons,
    recentGain: gate.recentGain === null ? null : round(gate.recentGain),
    nominalLoss: gate.nominalLoss === null ? null : round(gate.nominalLoss),
  };
}

/** messageOf, with the catalogue code in front when there is one. */
function failureMessage(error: unknown): string {
  return isVisionLoopError(error) ? `${error.code}: ${error.message}` : messageOf(error);
}

/** The gate stored with a registered candidate, when it parses. */
function storedGate(model: ModelDetail): GateResult | null {
  const gate = model.metrics?.gate;
  if (typeof gate !== 'object' || gate === null) return null;
  const { decision, passed, reasons } = gate as Record<string, unknown>;
  if (decision !== 'production' && decision !== 'staging' && decision !== 'rejected') return null;
  return {
    decision,
    passed: passed === true,
    reasons: Array.isArray(reasons)
      ? reasons.filter((r): r is string => typeof r === 'string')
      : [],
    recentGain: null,
    nominalLoss: null,
  };
}

/** What step 1 (the snapshot) hands to the later steps of an attempt. */
interface RunSnapshot {
  production: ModelDetail | null;
  fresh: FreshLabel[];
  datasetId: string;
  manifest: DatasetManifest;
  /** The snapshot's val images that are new reviewed labels (the recent holdout). */
  holdoutImages: ManifestImage[];
  counts: DatasetInfo['counts'];
  replayNote: string;
  inputs: TrainingInputs;
}

/** What step 3 (the trainer) made. */
interface TrainedCandidate {
  done: TrainerDoneEvent;
  trainerParams: { [key: string]: JsonValue };
  /** The training log stored with the model. */
  log: string;
  /** The device the trainer reported (null: it did not say). */
  device: TrainerDevice | null;
}

/** What step 4 (evaluation) measured and the gate decided. */
interface RunScores {
  candidate: HoldoutScores;
  baseline: (HoldoutScores & { version: string }) | null;
  gate: GateResult;
}

export class TrainingRun {
  private readonly jobId: string;
  private readonly trigger: TrainingRunPayload['trigger'];
  private readonly runDir: string;
  private readonly version: string;

  constructor(
    private readonly deps: TrainingRunDeps,
    private readonly settings: RetrainingSettings,
    private readonly payload: TrainingRunPayload,
    private readonly context: JobContext,
  ) {
    this.jobId = context.jobId;
    this.trigger = payload.trigger;
    this.runDir = path.join(deps.workDir, 'runs', `${context.jobId}-a${context.attempt}`);
    this.version = candidateVersionOf(context.jobId);
  }

  /** Runs the job; see the module comment. Events record how it ended. */
  async run(): Promise<JsonValue> {
    const { context } = this;
    await this.event(
      'started',
      {
        attempt: context.attempt,
        maxAttempts: context.maxAttempts,
        requestedBy: this.payload.requestedBy ?? null,
        stage: this.payload.stage ?? 'detect',
      },
      this.payload.reason ?? null,
    );
    try {
      const existing = await this.deps.models.get(this.version).catch((error: unknown) => {
        if (isVisionLoopError(error) && error.code === 'MODEL_NOT_FOUND') return null;
        throw error;
      });
      const stage = this.payload.stage ?? 'detect';
      if (stage !== 'detect') {
        // A later stage of the chain (retraining-stage-run.ts): no gate, never promoted.
        if (existing !== null) return stageResult(existing.version, stage, existing.datasetId);
        await rm(this.runDir, { recursive: true, force: true });
        await mkdir(this.runDir, { recursive: true });
        return await runStageTraining(this.deps, this.settings, this.payload, context, {
          task: stage,
          runDir: this.runDir,
          version: this.version,
          hooks: {
            event: (kind, details, reason, version) => this.event(kind, details, reason, version),
          },
        });
      }
      if (existing !== null) return await this.resume(existing);
      return await this.trainEvaluateRegister();
    } catch (error) {
      await this.recordEnd(error).catch(() => undefined);
      throw error;
    } finally {
      await rm(this.runDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** Steps 1–5 of a fresh attempt (see the module comment), one method per step. */
  private async trainEvaluateRegister(): Promise<JsonValue> {
    await rm(this.runDir, { recursive: true, force: true });
    await mkdir(this.runDir, { recursive: true });
    const snapshot = await this.snapshot();
    const { dataDir, recentDir } = await this.materialize(snapshot);
    this.context.signal.throwIfAborted();
    const base = await this.warmStart(snapshot.production);
    const trained = await this.train(snapshot, dataDir, base);
    const calibration = await this.calibrate(trained.done, dataDir);
    const scores = await this.evaluate(snapshot, trained.done, recentDir, calibration);
    const version = await this.register(snapshot, trained, dataDir, calibration, scores);
    return this.applyGate(version, scores.gate, snapshot.datasetId, snapshot.inputs, () =>
      this.markLabels(snapshot.fresh, snapshot.manifest, version),
    );
  }

  /** 1. The dataset snapshot: new reviewed labels plus the replay sample, and its event. */
  private async snapshot(): Promise<RunSnapshot> {
    const { deps, settings, context } = this;
    context.reportProgress({ stage: 'snapshot', fraction: 0.01, candidateVersion: this.version });
    const { production, parent, reviewedSince, noReplay } = await trainingBasis(deps, true);
    const fresh = await deps.store.freshLabels(reviewedSince);
    if (fresh.length === 0) {
      throw new PermanentJobError(
        `no reviewed labels are new to production ${production?.version ?? ''} ` +
          `(since ${reviewedSince === null ? 'ever' : new Date(reviewedSince).toISOString()}): label more frames`,
      );
    }
    const freshImages = new Set(fresh.map((label) => label.imageBlob));
    const replayWanted = parent === null ? 0 : Math.round(settings.replayRatio * freshImages.size);
    const snapshot = await deps.datasets.createSnapshot(
      {
        name: `retraining ${this.jobId}`.slice(0, 100),
        ...(reviewedSince === null ? {} : { reviewedSince }),
        ...(parent === null ? {} : { parentId: parent.id }),
        ...(parent !== null && replayWanted > 0
          ? { replay: { datasetIds: [parent.id], count: replayWanted, seed: settings.seed } }
          : {}),
      },
      null,
    );
    const replayed = snapshot.dataset.provenance.replay;
    const newImages = snapshot.dataset.provenance.reviewedImages;
    let replayNote: string;
    if (parent === null) {
      replayNote = `no replay: ${noReplay ?? 'no earlier data'}; the candidate sees only the ${newImages} new images and may forget what production knew`;
    } else if (replayWanted === 0 || replayed === null) {
      replayNote = `no replay: replayRatio is ${settings.replayRatio} (settings); the candidate sees only the ${newImages} new images`;
    } else {
      replayNote =
        `${replayed.sampled} earlier images replayed from ${describeSource(parent, production)} ` +
        `beside ${newImages} new reviewed images` +
        (replayed.sampled < replayWanted
          ? ` (${replayWanted} wanted; the source offered ${replayed.candidates})`
          : '');
    }
    const inputs: TrainingInputs = {
      production: production?.version ?? null,
      replaySource: parent?.id ?? null,
      labels: {
        count: fresh.length,
        latestAt: fresh.reduce<number | null>(
          (latest, label) =>
            latest === null || label.createdAt > latest ? label.createdAt : latest,
          null,
        ),
      },
      settings: inputSettingsOf(settings),
    };
    const datasetId = snapshot.dataset.id;
    const manifest = await deps.datasets.manifest(datasetId);
    const holdoutImages = manifest.images.filter(
      (image) => image.split === 'val' && freshImages.has(image.id),
    );
    const counts = snapshot.dataset.counts;
    await this.event(
      'snapshot',
      {
        datasetId,
        created: snapshot.created,
        parentDatasetId: parent?.id ?? null,
        reviewedSince,
        freshLabels: fresh.length,
        counts,
        simulatedLabels: counts.simulatedLabels ?? 0,
        replay: snapshot.dataset.provenance.replay,
        replayNote,
        recentHoldoutImages: holdoutImages.length,
      },
      replayNote,
    );
    if (counts.train === 0) {
      throw new PermanentJobError(
        `snapshot ${datasetId.slice(0, 12)} has no training images (${counts.images} images, all in val): label more frames`,
      );
    }
    return { production, fresh, datasetId, manifest, holdoutImages, counts, replayNote, inputs };
  }

  /** The snapshot as a YOLO data set in the attempt's directory, and the recent holdout. */
  private async materialize(
    snapshot: RunSnapshot,
  ): Promise<{ dataDir: string; recentDir: string | null }> {
    const dataDir = path.join(this.runDir, 'data');
    await this.deps.datasets.materialize(snapshot.datasetId, dataDir);
    const recentDir =
      snapshot.holdoutImages.length === 0
        ? null
        : await this.writeHoldout(snapshot.manifest, snapshot.holdoutImages, dataDir);
    return { dataDir, recentDir };
  }

  /** 2. Production's weights to warm-start from (undefined: train from scratch). */
  private async warmStart(production: ModelDetail | null): Promise<string | undefined> {
    if (production === null || !production.hasWeights) return undefined;
    const weights = await this.deps.models.readWeights(production.version);
    if (weights === null) return undefined;
    const base = path.join(this.runDir, 'base.pt');
    await writeFile(base, weights);
    return base;
  }

  /** 3. The trainer, its epochs streamed into the job's progress. */
  private async train(
    snapshot: RunSnapshot,
    dataDir: string,
    base: string | undefined,
  ): Promise<TrainedCandidate> {
    const { deps, settings, context } = this;
    const { production, counts } = snapshot;
    const warm = base !== undefined;
    const trainerParams: { [key: string]: JsonValue } = {
      epochs: settings.epochs,
      imgsz: settings.imgsz,
      batch: settings.batch,
      lr: settings.lr,
      freezeBackbone: settings.freezeBackbone && warm,
      seed: settings.seed,
      threads: settings.threads === 0 ? 'auto' : settings.threads,
      nice: settings.nice,
      model: settings.modelSize,
      warmStartFrom: warm ? (production?.version ?? null) : null,
      replayRatio: settings.replayRatio,
      replay: snapshot.replayNote,
      // Lineage: how many of its training set's labels the demo's simulated reviewer gave.
      simulatedLabels: counts.simulatedLabels ?? 0,
      images: counts.images,
      inputs: inputsJson(snapshot.inputs),
      jobId: this.jobId,
      attempt: context.attempt,
      trigger: this.trigger,
    };
    const reportStart = (device?: string) =>
      context.reportProgress({
        stage: 'training',
        fraction: 0.05,
        epoch: 0,
        epochs: settings.epochs,
        candidateVersion: this.version,
        ...(device === undefined ? {} : { device }),
      });
    reportStart();
    const trainerLog = trainerProcessLog({
      epochs: settings.epochs,
      onStart: (device) => {
        if (device !== null) reportStart(describeTrainerDevice(device));
      },
      onEpoch: (progress) => {
        const device = trainerLog.device();
        context.reportProgress({
          stage: 'training',
          fraction: 0.05 + (0.8 * progress.epoch) / progress.epochs,
          ...progress,
          candidateVersion: this.version,
          ...(device === null ? {} : { device: describeTrainerDevice(device) }),
        });
      },
    });
    const done = await deps.trainer.train(
      {
        data: dataDir,
        out: path.join(this.runDir, 'out'),
        base,
        epochs: settings.epochs,
        imgsz: settings.imgsz,
        batch: settings.batch,
        seed: settings.seed,
        threads: settings.threads,
        nice: settings.nice,
        lr: settings.lr,
        datasetHash: snapshot.datasetId,
        parentVersion: production?.version,
        version: this.version,
        extraArgs: [
          '--model',
          settings.modelSize,
          // Validation every epoch costs a pass over the val split; the gate scores the
          // candidate on its own holdouts afterwards.
          '--val-interval',
          '0',
          ...(settings.freezeBackbone && warm ? ['--freeze-backbone'] : []),
        ],
      },
      { signal: context.signal, onLog: trainerLog.onLog, onEvent: trainerLog.onEvent },
    );
    context.signal.throwIfAborted();
    // Lineage: where it trained ("cpu", "cuda:0" and the GPU's name; null when not reported).
    const device = trainerLog.device() ?? trainerDeviceOf(done);
    Object.assign(trainerParams, trainerDeviceParams(device));
    return { done, trainerParams, log: trainerLog.text(), device };
  }

  /**
   * 3b. Calibration of the candidate's scores, written into its model file (the registry
   * hashes the file after this, and the evaluation scores what will serve).
   */
  private async calibrate(done: TrainerDoneEvent, dataDir: string): Promise<JsonValue> {
    const { deps, context } = this;
    const signal = context.signal;
    let calibration: JsonValue = null;
    if (deps.calibrator !== undefined) {
      context.reportProgress({
        stage: 'calibrating',
        fraction: 0.85,
        candidateVersion: this.version,
      });
      calibration = await deps.calibrator
        .calibrate(done.model, dataDir, signal)
        .catch((error: unknown) => {
          signal.throwIfAborted();
          return { error: failureMessage(error) };
        });
    }
    signal.throwIfAborted();
    return calibration;
  }

  /** 4. The candidate and production scored on the same holdouts, and the gate's verdict. */
  private async evaluate(
    snapshot: RunSnapshot,
    done: TrainerDoneEvent,
    recentDir: string | null,
    calibration: JsonValue,
  ): Promise<RunScores> {
    const { deps, settings, context } = this;
    const { production } = snapshot;
    const signal = context.signal;
    context.reportProgress({ stage: 'evaluating', fraction: 0.86, candidateVersion: this.version });
    const nominal = sameClasses(snapshot.manifest.classNames, SYNTH_CLASSES)
      ? await deps.nominal.ensure(settings.nominalHoldoutImages)
      : null;
    await this.event('evaluating', {
      recentHoldoutImages: snapshot.holdoutImages.length,
      nominalHoldoutImages: nominal === null ? 0 : settings.nominalHoldoutImages,
      production: production?.version ?? null,
      // The candidate's fitted score calibration, already in its model file (or why not).
      calibration,
    });
    const score = async (model: string): Promise<HoldoutScores> => ({
      recent:
        recentDir === null ? null : await deps.evaluator.evaluate(model, recentDir, 'val', signal),
      nominal:
        nominal === null
          ? null
          : await deps.evaluator.evaluate(model, nominal.dir, nominal.split, signal),
    });
    const candidate = await score(done.model);
    let baseline: (HoldoutScores & { version: string }) | null = null;
    if (production !== null) {
      const file = path.join(this.runDir, 'production.onnx');
      await writeFile(file, await deps.models.readArtifact(production.version));
      context.reportProgress({
        stage: 'evaluating',
        fraction: 0.92,
        candidateVersion: this.version,
      });
      baseline = { version: production.version, ...(await score(file)) };
    }
    const gate = promotionGate({ candidate, production: baseline, settings });
    signal.throwIfAborted();
    return { candidate, baseline, gate };
  }

  /** 5. Registration with lineage and metrics, and the drift reference of the new version. */
  private async register(
    snapshot: RunSnapshot,
    trained: TrainedCandidate,
    dataDir: string,
    calibration: JsonValue,
    scores: RunScores,
  ): Promise<string> {
    const { deps } = this;
    const { production, datasetId } = snapshot;
    const { candidate, baseline, gate } = scores;
    this.context.reportProgress({
      stage: 'registering',
      fraction: 0.96,
      candidateVersion: this.version,
    });
    const metrics = {
      holdouts: { recent: scoreJson(candidate.recent), nominal: scoreJson(candidate.nominal) },
      baseline:
        baseline === null
          ? null
          : {
              version: baseline.version,
              holdouts: {
                recent: scoreJson(baseline.recent),
                nominal: scoreJson(baseline.nominal),
              },
            },
      trainer: (trained.done.metrics as { [key: string]: JsonValue } | undefined) ?? null,
      calibration,
      gate: gateJson(gate),
    };
    const { model } = await deps.models.register({
      artifact: await readFile(trained.done.model),
      // A configured trainer may write no weights.pt ('' then): the model has no warm start.
      weights: trained.done.weights === '' ? null : await readFile(trained.done.weights),
      trainingLog: trained.log,
      version: this.version,
      source: 'trained',
      parentVersion: production?.version ?? null,
      datasetId,
      trainerParams: trained.trainerParams,
      metrics,
      notes: `retraining job ${this.jobId} (${this.trigger})`,
      actor: RETRAINING_ACTOR,
    });
    // The reference only feeds the drift view: a failure must not undo a registered candidate.
    await deps.references?.storeFromDataset(model.version, dataDir).catch(() => undefined);
    await this.event(
      'registered',
      {
        datasetId,
        parentVersion: production?.version ?? null,
        metrics: { holdouts: metrics.holdouts, baseline: metrics.baseline },
        gate: metrics.gate,
        trainingSeconds: Math.round(trained.done.elapsed_s),
        ...trainerDeviceParams(trained.device),
      },
      null,
      model.version,
    );
    return model.version;
  }

  /** A previous attempt registered the candidate and died: apply its stored gate. */
  private async resume(model: ModelDetail): Promise<JsonValue> {
    const gate = storedGate(model) ?? {
      decision: 'rejected' as const,
      passed: false,
      reasons: ['the registered candidate has no stored gate decision'],
      recentGain: null,
      nominalLoss: null,
    };
    this.context.reportProgress({ stage: 'gate', fraction: 0.97, candidateVersion: model.version });
    // The earlier attempt may have died before marking its labels: mark them (idempotent).
    const markLabels = async (): Promise<void> => {
      if (model.datasetId === null) return;
      const parent =
        model.parentVersion === null
          ? null
          : await this.deps.models.get(model.parentVersion).catch(() => null);
      const parentDataset =
        parent?.datasetId == null
          ? null
          : await this.deps.datasets.get(parent.datasetId).catch(() => null);
      const since =
        parentDataset !== null && parentDataset.provenance.reviewedImages > 0
          ? parentDataset.createdAt
          : null;
      const fresh = await this.deps.store.freshLabels(since);
      const manifest = await this.deps.datasets.manifest(model.datasetId);
      await this.markLabels(fresh, manifest, model.version);
    };
    await this.event(
      'registered',
      { resumed: true, datasetId: model.datasetId },
      'registered by an earlier attempt',
      model.version,
    );
    return this.applyGate(model.version, gate, model.datasetId, storedInputs(model), markLabels);
  }

  /**
   * The gate's outcome: a pass moves the aliases and marks the labels used (`markLabels`); a
   * rejection moves nothing and leaves the labels available, recording the inputs it was
   * trained on.
   */
  private async applyGate(
    version: string,
    gate: GateResult,
    datasetId: string | null,
    inputs: TrainingInputs | null,
    markLabels: () => Promise<void>,
  ): Promise<JsonValue> {
    const { deps, context } = this;
    context.reportProgress({ stage: 'gate', fraction: 0.98, candidateVersion: version });
    const reason = gate.reasons.join('; ');
    if (!gate.passed) {
      await this.event(
        'rejected',
        {
          gate: gateJson(gate),
          datasetId,
          inputs: inputs === null ? null : inputsJson(inputs),
          labels: 'kept available for the next training (not marked used)',
        },
        reason,
        version,
      );
    } else {
      await markLabels();
      const aliases =
        gate.decision === 'production' ? [STAGING_ALIAS, PRODUCTION_ALIAS] : [STAGING_ALIAS];
      for (const alias of aliases) {
        const move = await deps.models.promote(version, alias, {
          actor: RETRAINING_ACTOR,
          reason: `retraining job ${this.jobId}: ${reason}`.slice(0, 1000),
        });
        await this.event(
          'promoted',
          {
            alias,
            fromVersion: move.fromVersion,
            changed: move.changed,
            serving: move.serving ?? null,
          },
          reason,
          version,
        );
      }
    }
    context.reportProgress({
      stage: gate.passed ? 'done' : 'rejected',
      fraction: 1,
      candidateVersion: version,
    });
    return {
      version,
      datasetId,
      decision: gate.decision,
      passed: gate.passed,
      reasons: gate.reasons,
      recentGain: gate.recentGain === null ? null : round(gate.recentGain),
      nominalLoss: gate.nominalLoss === null ? null : round(gate.nominalLoss),
      inputs: inputs === null ? null : inputsJson(inputs),
    };
  }

  /** Labels in the snapshot are used; those on its train side name the model they trained. */
  private async markLabels(
    fresh: readonly FreshLabel[],
    manifest: DatasetManifest,
    version: string,
  ): Promise<void> {
    const trainSplit = new Set(
      manifest.images.filter((image) => image.split === 'train').map((image) => image.id),
    );
    const inSnapshot = new Set(manifest.images.map((image) => image.id));
    await this.deps.store.markUsed(
      fresh.filter((label) => inSnapshot.has(label.imageBlob)).map((label) => label.id),
      fresh.filter((label) => trainSplit.has(label.imageBlob)).map((label) => label.id),
      version,
    );
  }

  /** The recent holdout: the held-out images copied from the materialized snapshot. */
  private async writeHoldout(
    manifest: DatasetManifest,
    images: readonly ManifestImage[],
    dataDir: string,
  ): Promise<string> {
    const root = path.join(this.runDir, 'recent-holdout');
    for (const part of ['images/train', 'images/val', 'labels/train', 'labels/val']) {
      await mkdir(path.join(root, part), { recursive: true });
    }
    for (const image of images) {
      await copyFile(path.join(dataDir, imagePath(image)), path.join(root, imagePath(image)));
      await writeFile(path.join(root, labelPath(image)), labelText(image));
    }
    await writeFile(
      path.join(root, 'data.yaml'),
      dataYamlText({ ...manifest, images: [...images] }, 'recent holdout', root),
    );
    return root;
  }

  /** The event that says how a failed attempt ended. */
  private async recordEnd(error: unknown): Promise<void> {
    const reason: unknown = this.context.signal.aborted ? this.context.signal.reason : null;
    if (reason instanceof JobAbortedError) {
      if (reason.kind === 'cancelled') {
        await this.event('cancelled', { attempt: this.context.attempt }, 'cancelled while running');
        return;
      }
      if (reason.kind !== 'timeout') {
        await this.event(
          'interrupted',
          { attempt: this.context.attempt, why: reason.kind },
          `${reason.message}; the job goes back to the queue`,
        );
        return;
      }
    }
    const permanent =
      error instanceof PermanentJobError ||
      (isVisionLoopError(error) && error.httpStatus >= 400 && error.httpStatus < 500);
    const retry = !permanent && this.context.attempt < this.context.maxAttempts;
    await this.event(
      'failed',
      { attempt: this.context.attempt, maxAttempts: this.context.maxAttempts, willRetry: retry },
      failureMessage(error),
    );
  }

  private async event(
    kind: string,
    details: { [key: string]: JsonValue },
    reason: string | null = null,
    modelVersion: string | null = null,
  ): Promise<void> {
    await this.deps.store.insertEvent({
      id: this.deps.newEventId(),
      job_id: this.jobId,
      kind,
      trigger: this.trigger,
      reason,
      model_version: modelVersion,
      details: JSON.stringify(details),
      actor: RETRAINING_ACTOR,
      created_at: this.deps.now(),
    });
  }
}

function sameClasses(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}

/** Thrown when a job would start while another training is active (for callers that check). */
export function trainingInProgress(jobId: string, status: string): VisionLoopError {
  return new VisionLoopError(
    'RETRAINING_IN_PROGRESS',
    `a training is already ${status} (job ${jobId}); wait for it, or cancel it with POST /api/retraining/cancel`,
  );
}
