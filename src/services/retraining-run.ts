/**
 * One `training.run` job, step by step (docs/retraining.md):
 *
 *  1. snapshot: reviewed labels since the production model's own snapshot (all of them when
 *     production has none), plus a seeded replay sample of that snapshot; materialized as a
 *     YOLO data set in a scratch directory of this attempt;
 *  2. holdouts: `recent` = the snapshot's val images that are new reviewed labels (the split is
 *     a function of the image hash, so they are never trained on, in this or any later
 *     snapshot); `nominal` = synthetic nominal frames, generated once and cached (only for a
 *     deployment with the synthetic line's classes);
 *  3. training: warm start from production's weights.pt (from scratch without), epoch progress
 *     streamed into the job's progress (epoch, loss, val mAP@0.5, ETA); the job's signal
 *     cancels the trainer (SIGTERM);
 *  4. evaluation of the candidate and of production on both holdouts, through the runtime that
 *     serves;
 *  5. registration with lineage (dataset, parent, trainer parameters, both models' metrics, the
 *     gate, the training log), then the reviewed labels are marked as used, then the gate
 *     moves `staging` (and `production` with autoPromote).
 *
 * Every step writes a `retraining_events` row. Nothing reaches the registry before step 5: an
 * attempt that fails, is cancelled or dies earlier leaves it as it was, and its scratch
 * directory is removed. A retried attempt that finds its version already registered (the
 * previous attempt died after registering) does not train again: it applies the stored gate.
 *
 * It never spawns processes or loads models itself: the trainer, evaluator and holdout ports
 * do (src/main composes them).
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type {
  TrainRequest,
  TrainerDoneEvent,
  TrainerEvent,
} from '../repositories/trainer-process.js';
import { JobAbortedError, PermanentJobError } from '../jobs/job-handler.js';
import type { JobContext, JsonValue } from '../jobs/job-handler.js';
import type { ModelDetail } from '../shared/api/models.js';
import { PRODUCTION_ALIAS, STAGING_ALIAS } from '../shared/api/models.js';
import type { RetrainingSettings, TrainingRunPayload } from '../shared/api/retraining.js';
import { SYNTH_CLASSES } from '../shared/domain.js';
import { VisionLoopError, isVisionLoopError } from '../shared/errors.js';
import type { DatasetService } from './dataset.service.js';
import type { DatasetManifest, ManifestImage } from './dataset-manifest.js';
import { dataYamlText, imagePath, labelPath, labelText } from './dataset-manifest.js';
import type { ModelRegistryService } from './model-registry.service.js';
import {
  promotionGate,
  type GateResult,
  type HoldoutScore,
  type HoldoutScores,
} from './retraining-gate.js';
import type { FreshLabel, RetrainingRepository } from '../repositories/retraining.repository.js';

/** Runs the trainer process (src/repositories/trainer-process.ts behind it). */
export interface TrainerPort {
  train(
    request: TrainRequest,
    options: {
      onEvent: (event: TrainerEvent) => void;
      onLog: (line: string) => void;
      signal: AbortSignal;
    },
  ): Promise<TrainerDoneEvent>;
}

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

export interface TrainingRunDeps {
  datasets: Pick<DatasetService, 'createSnapshot' | 'manifest' | 'materialize' | 'get'>;
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
  /** Scratch space: one directory per attempt under `<workDir>/runs`. */
  workDir: string;
  now: () => number;
  newEventId: () => string;
}

/** Who the registry and the alias history name as having acted. */
export const RETRAINING_ACTOR = 'retraining';
/** The most training-log text kept with a model. */
const MAX_LOG_CHARS = 1_000_000;

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
      };
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
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

function messageOf(error: unknown): string {
  if (isVisionLoopError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
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
      },
      this.payload.reason ?? null,
    );
    try {
      const existing = await this.deps.models.get(this.version).catch((error: unknown) => {
        if (isVisionLoopError(error) && error.code === 'MODEL_NOT_FOUND') return null;
        throw error;
      });
      if (existing !== null) return await this.resume(existing);
      return await this.trainEvaluateRegister();
    } catch (error) {
      await this.recordEnd(error).catch(() => undefined);
      throw error;
    } finally {
      await rm(this.runDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async trainEvaluateRegister(): Promise<JsonValue> {
    const { deps, settings, context } = this;
    const signal = context.signal;
    await rm(this.runDir, { recursive: true, force: true });
    await mkdir(this.runDir, { recursive: true });

    // 1. snapshot
    context.reportProgress({ stage: 'snapshot', fraction: 0.01, candidateVersion: this.version });
    const production = await deps.models.resolveAlias(PRODUCTION_ALIAS);
    const parent =
      production?.datasetId == null
        ? null
        : await deps.datasets.get(production.datasetId).catch(() => null);
    const reviewedSince = parent?.createdAt ?? null;
    const fresh = await deps.store.freshLabels(reviewedSince);
    const snapshot = await deps.datasets.createSnapshot(
      {
        name: `retraining ${this.jobId}`.slice(0, 100),
        ...(reviewedSince === null ? {} : { reviewedSince }),
        ...(parent === null ? {} : { parentId: parent.id }),
        ...(parent !== null && settings.replayFraction > 0
          ? { replay: { fraction: settings.replayFraction, seed: settings.seed } }
          : {}),
      },
      null,
    );
    const datasetId = snapshot.dataset.id;
    const manifest = await deps.datasets.manifest(datasetId);
    const freshImages = new Set(fresh.map((label) => label.imageBlob));
    const holdoutImages = manifest.images.filter(
      (image) => image.split === 'val' && freshImages.has(image.id),
    );
    const counts = snapshot.dataset.counts;
    await this.event('snapshot', {
      datasetId,
      created: snapshot.created,
      parentDatasetId: parent?.id ?? null,
      reviewedSince,
      freshLabels: fresh.length,
      counts,
      replay: snapshot.dataset.provenance.replay,
      recentHoldoutImages: holdoutImages.length,
    });
    if (counts.train === 0) {
      throw new PermanentJobError(
        `snapshot ${datasetId.slice(0, 12)} has no training images (${counts.images} images, all in val): label more frames`,
      );
    }
    const dataDir = path.join(this.runDir, 'data');
    await deps.datasets.materialize(datasetId, dataDir);
    const recentDir =
      holdoutImages.length === 0 ? null : await this.writeHoldout(manifest, holdoutImages, dataDir);
    signal.throwIfAborted();

    // 2. warm start
    let base: string | undefined;
    const weights =
      production !== null && production.hasWeights
        ? await deps.models.readWeights(production.version)
        : null;
    if (weights !== null) {
      base = path.join(this.runDir, 'base.pt');
      await writeFile(base, weights);
    }

    // 3. training
    const trainerParams = {
      epochs: settings.epochs,
      imgsz: settings.imgsz,
      batch: settings.batch,
      seed: settings.seed,
      threads: settings.threads,
      model: settings.modelSize,
      warmStartFrom: weights === null ? null : (production?.version ?? null),
      replayFraction: settings.replayFraction,
      jobId: this.jobId,
      attempt: context.attempt,
      trigger: this.trigger,
    };
    const log: string[] = [];
    let logChars = 0;
    const keep = (line: string): void => {
      if (logChars > MAX_LOG_CHARS) return;
      log.push(line);
      logChars += line.length + 1;
    };
    const startedAt = Date.now();
    context.reportProgress({
      stage: 'training',
      fraction: 0.05,
      epoch: 0,
      epochs: settings.epochs,
      candidateVersion: this.version,
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
        datasetHash: datasetId,
        parentVersion: production?.version,
        version: this.version,
        extraArgs: ['--model', settings.modelSize],
      },
      {
        signal,
        onLog: keep,
        onEvent: (event) => {
          if (event.event !== 'start') keep(JSON.stringify(event));
          if (event.event !== 'epoch') return;
          const epoch = Number(event.epoch);
          const epochs = Number(event.epochs) || settings.epochs;
          const elapsed = (Date.now() - startedAt) / 1000;
          const valMap50 = typeof event.val_map50 === 'number' ? event.val_map50 : null;
          context.reportProgress({
            stage: 'training',
            fraction: 0.05 + (0.8 * epoch) / epochs,
            epoch,
            epochs,
            loss: typeof event.loss === 'number' ? event.loss : null,
            valMap50,
            etaSeconds: Math.max(0, Math.round((elapsed / Math.max(1, epoch)) * (epochs - epoch))),
            candidateVersion: this.version,
          });
        },
      },
    );
    signal.throwIfAborted();

    // 4. evaluation of both models on the same holdouts
    context.reportProgress({ stage: 'evaluating', fraction: 0.86, candidateVersion: this.version });
    const nominal = sameClasses(manifest.classNames, SYNTH_CLASSES)
      ? await deps.nominal.ensure(settings.nominalHoldoutImages)
      : null;
    await this.event('evaluating', {
      recentHoldoutImages: holdoutImages.length,
      nominalHoldoutImages: nominal === null ? 0 : settings.nominalHoldoutImages,
      production: production?.version ?? null,
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

    // 5. registration, labels, gate
    context.reportProgress({
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
      trainer: (done.metrics as { [key: string]: JsonValue } | undefined) ?? null,
      gate: gateJson(gate),
    };
    const { model } = await deps.models.register({
      artifact: await readFile(done.model),
      weights: await readFile(done.weights),
      trainingLog: log.join('\n'),
      version: this.version,
      source: 'trained',
      parentVersion: production?.version ?? null,
      datasetId,
      trainerParams,
      metrics,
      notes: `retraining job ${this.jobId} (${this.trigger})`,
      actor: RETRAINING_ACTOR,
    });
    await this.markLabels(fresh, manifest, model.version);
    // The reference only feeds the drift view: a failure must not undo a registered candidate.
    await deps.references?.storeFromDataset(model.version, dataDir).catch(() => undefined);
    await this.event(
      'registered',
      {
        datasetId,
        parentVersion: production?.version ?? null,
        metrics: { holdouts: metrics.holdouts, baseline: metrics.baseline },
        gate: metrics.gate,
        trainingSeconds: Math.round(done.elapsed_s),
      },
      null,
      model.version,
    );
    return this.applyGate(model.version, gate, datasetId);
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
    if (model.datasetId !== null) {
      const parent =
        model.parentVersion === null
          ? null
          : await this.deps.models.get(model.parentVersion).catch(() => null);
      const parentDataset =
        parent?.datasetId == null
          ? null
          : await this.deps.datasets.get(parent.datasetId).catch(() => null);
      const fresh = await this.deps.store.freshLabels(parentDataset?.createdAt ?? null);
      const manifest = await this.deps.datasets.manifest(model.datasetId);
      await this.markLabels(fresh, manifest, model.version);
    }
    await this.event(
      'registered',
      { resumed: true, datasetId: model.datasetId },
      'registered by an earlier attempt',
      model.version,
    );
    return this.applyGate(model.version, gate, model.datasetId);
  }

  private async applyGate(
    version: string,
    gate: GateResult,
    datasetId: string | null,
  ): Promise<JsonValue> {
    const { deps, context } = this;
    context.reportProgress({ stage: 'gate', fraction: 0.98, candidateVersion: version });
    const reason = gate.reasons.join('; ');
    if (!gate.passed) {
      await this.event('rejected', { gate: gateJson(gate) }, reason, version);
    } else {
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
    context.reportProgress({ stage: 'done', fraction: 1, candidateVersion: version });
    return {
      version,
      datasetId,
      decision: gate.decision,
      passed: gate.passed,
      recentGain: gate.recentGain === null ? null : round(gate.recentGain),
      nominalLoss: gate.nominalLoss === null ? null : round(gate.nominalLoss),
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
      messageOf(error),
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
