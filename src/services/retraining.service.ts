/**
 * The retraining loop's server side (issue 7, docs/retraining.md): the `retraining` settings,
 * the policy's conditions (what holds and why a training would or would not start), the
 * periodic policy evaluator that queues `training.run` jobs, the manual trigger and cancel, the
 * status of the current or last training, and the event history. The job itself is
 * retraining-run.ts.
 *
 * Over 500 lines on purpose: one class over one state (the settings, the training.run job,
 * retraining_events); the run (retraining-run.ts) and the rules (retraining-policy.ts,
 * retraining-gate.ts) are already apart.
 *
 * One training at a time: every training.run job carries the dedupe key `training.run`, so the
 * queue holds at most one queued or running; a trigger while one is active is refused with
 * RETRAINING_IN_PROGRESS. State lives in the database (jobs, retraining_events, settings), so
 * any server or worker process answers the same.
 *
 * It never trains or evaluates in the request path: it queues, and the job runs on a worker.
 */
import { randomBytes } from 'node:crypto';
import type { RetrainingEventRow } from '../db/schema.js';
import type { JobContext, JsonValue } from './jobs/job-context.js';
import type { JobQueue } from './jobs/job-queue.js';
import type { SettingsRepository } from '../repositories/settings.repository.js';
import type { JobView } from '../shared/api/jobs.js';
import {
  DEFAULT_RETRAINING_SETTINGS,
  TRAINING_DEDUPE_KEY,
  retrainingSettingsSchema,
  retrainingTriggerSchema,
  type RetrainingCancelRequest,
  type RetrainingCancelResponse,
  type RetrainingConditionsResponse,
  type RetrainingDecision,
  type RetrainingEvent,
  type RetrainingHistoryQuery,
  type RetrainingHistoryResponse,
  type RetrainingSettings,
  type RetrainingState,
  type RetrainingStatus,
  type RetrainingTriggerName,
  type RetrainingTriggerRequest,
  type RetrainingTriggerResponse,
  type TrainingRunPayload,
  type UpdateRetrainingSettingsRequest,
} from '../shared/api/retraining.js';
import { SYNTH_CLASSES } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import { DRIFT_STATUS_LOOKBACK_MS } from './drift/index.js';
import {
  decideRetraining,
  inputSettingsOf,
  type RetrainingPolicyState,
  type TrainingInputs,
} from './retraining-policy.js';
import {
  TrainingRun,
  trainingBasis,
  trainingInProgress,
  type TrainingRunDeps,
} from './retraining-run.js';
import type { RetrainingRepository } from '../repositories/retraining.repository.js';
import { stageDataProblem } from './retraining-stage-run.js';

/** Settings-table key of the retraining settings. */
export const RETRAINING_SETTINGS_KEY = 'retraining';
export const TRAINING_JOB_NAME = 'training.run';

export interface RetrainingServiceOptions {
  now?: () => number;
  /** Receives the state for `visionloop_retraining_state` (PrometheusExporter). */
  gauge?: { setRetrainingState(state: string): void };
}

/** What the training job needs besides this service's own repositories. */
export type RetrainingRunDeps = Omit<TrainingRunDeps, 'store' | 'now' | 'newEventId'>;

function newId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
}

function parseObject(text: string | null): Record<string, unknown> {
  if (text === null) return {};
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function resultOf(job: JobView | null): Record<string, unknown> {
  return job !== null && typeof job.result === 'object' && job.result !== null
    ? (job.result as Record<string, unknown>)
    : {};
}

/** The inputs a rejected training recorded in its job result (null: it was not rejected). */
function rejectedInputsOf(job: JobView | undefined): TrainingInputs | null {
  if (job === undefined || job.status !== 'succeeded') return null;
  const result = resultOf(job);
  if (result.decision !== 'rejected') return null;
  const inputs = result.inputs;
  if (typeof inputs !== 'object' || inputs === null) {
    // Rejected before inputs were recorded (an older build): nothing to compare with.
    return {
      production: null,
      replaySource: null,
      labels: { count: -1, latestAt: null },
      settings: {},
    };
  }
  return inputs as TrainingInputs;
}

function triggerOf(job: JobView | null): RetrainingTriggerName | null {
  if (job === null || typeof job.payload !== 'object' || job.payload === null) return null;
  const parsed = retrainingTriggerSchema.safeParse((job.payload as { trigger?: unknown }).trigger);
  return parsed.success ? parsed.data : null;
}

export class RetrainingService {
  private readonly now: () => number;

  constructor(
    private readonly store: RetrainingRepository,
    private readonly settingsStore: SettingsRepository,
    private readonly queue: JobQueue,
    private readonly runDeps: RetrainingRunDeps,
    private readonly options: RetrainingServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  // --- settings ---------------------------------------------------------------------------

  async settings(): Promise<RetrainingSettings> {
    const row = await this.settingsStore.get(RETRAINING_SETTINGS_KEY);
    if (row === undefined) return DEFAULT_RETRAINING_SETTINGS;
    return this.decode(row.value, row.revision);
  }

  /** Applies `changes` and bumps the revision (compare-and-set on the settings row). */
  async updateSettings(
    changes: UpdateRetrainingSettingsRequest,
    actor: string | null,
  ): Promise<RetrainingSettings> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await this.settingsStore.get(RETRAINING_SETTINGS_KEY);
      const current =
        row === undefined ? DEFAULT_RETRAINING_SETTINGS : this.decode(row.value, row.revision);
      const { revision: _revision, ...values } = { ...current, ...changes };
      const value = JSON.stringify(values);
      const now = this.now();
      const won =
        row === undefined
          ? await this.settingsStore.insertFirst(RETRAINING_SETTINGS_KEY, value, now, actor)
          : await this.settingsStore.replaceIfRevision(
              RETRAINING_SETTINGS_KEY,
              row.revision,
              value,
              now,
              actor,
            );
      if (won) return { ...values, revision: row === undefined ? 1 : row.revision + 1 };
    }
    throw new VisionLoopError('CONFLICT', 'the retraining settings kept changing; try again');
  }

  /**
   * Stores `values` as the first retraining settings when none are stored yet (`visionloop up`
   * turns autoPromote on for the demo this way); later changes by admins are kept.
   */
  async initSettings(
    values: UpdateRetrainingSettingsRequest,
    actor: string | null,
  ): Promise<RetrainingSettings> {
    const { revision: _revision, ...defaults } = { ...DEFAULT_RETRAINING_SETTINGS, ...values };
    await this.settingsStore.insertFirst(
      RETRAINING_SETTINGS_KEY,
      JSON.stringify(defaults),
      this.now(),
      actor,
    );
    return this.settings();
  }

  /** The policy evaluator's period, ms (the schedule reads it every tick). */
  async policyIntervalMs(): Promise<number> {
    return (await this.settings()).evaluateEverySeconds * 1000;
  }

  // --- policy -----------------------------------------------------------------------------

  /** What holds now, and what the evaluator and a manual trigger would do. */
  async conditions(): Promise<RetrainingConditionsResponse> {
    const { state, settings } = await this.policyState(false);
    const automatic = decideRetraining(state);
    const manual = decideRetraining({ ...state, manual: true });
    const latestReportAt = state.drift.reduce<number | null>(
      (latest, report) => (latest === null || report.at > latest ? report.at : latest),
      null,
    );
    return {
      generatedAt: state.now,
      automatic,
      manual,
      labels: { ...state.labels, threshold: settings.labelThreshold },
      drift: {
        drifting: state.drift.filter((report) => report.drifted).map((report) => report.camera),
        latestReportAt,
      },
      lastTraining:
        state.lastTraining === null
          ? null
          : {
              jobId: state.lastTraining.jobId,
              status: state.lastTraining.status,
              finishedAt: state.lastTraining.finishedAt,
            },
      activeJobId: state.activeTraining?.jobId ?? null,
      settings,
    };
  }

  /**
   * The periodic evaluator: queues a training when the policy says so (deduplicated: at most
   * one queued or running) and records why. Returns the decision and the job it queued.
   */
  async evaluatePolicy(): Promise<{ decision: RetrainingDecision; job: JobView | null }> {
    const { state } = await this.policyState(false);
    const decision = decideRetraining(state);
    if (!decision.shouldRun || decision.trigger === null) return { decision, job: null };
    const reason = decision.reasons.join('; ');
    const { job, created } = await this.queue.enqueue(
      TRAINING_JOB_NAME,
      { trigger: decision.trigger, reason: reason.slice(0, 2000), requestedBy: null },
      { dedupeKey: TRAINING_DEDUPE_KEY },
    );
    if (!created) return { decision, job: null };
    await this.event(job.id, 'queued', decision.trigger, reason, null, { by: 'policy' });
    return { decision, job };
  }

  /** For the job scheduler: runs the evaluator (which queues by itself, recording why). */
  async scheduledTrainings(): Promise<[]> {
    await this.evaluatePolicy();
    return [];
  }

  /**
   * Queues a training by hand (admins). RETRAINING_IN_PROGRESS when one is queued or running;
   * CONFLICT when there is nothing to train on.
   */
  async trigger(
    request: RetrainingTriggerRequest,
    actor: string | null,
  ): Promise<RetrainingTriggerResponse> {
    const stage = request.stage ?? 'detect';
    const { state } = await this.policyState(true);
    let decision = decideRetraining(state);
    if (state.activeTraining !== null) {
      throw trainingInProgress(state.activeTraining.jobId, state.activeTraining.status);
    }
    if (stage !== 'detect') {
      // The detector's conditions (new labels, drift) do not concern a stage: its data does.
      const { manifest } = await this.runDeps.datasets.currentManifest();
      const { selection, problem } = stageDataProblem(manifest, stage);
      if (problem !== null) throw new VisionLoopError('CONFLICT', problem);
      decision = {
        ...decision,
        shouldRun: true,
        trigger: 'manual',
        reasons: [
          `${selection.sources.length} reviewed boxes can train the ${stage} stage ` +
            `(${selection.skipped} labelled boxes without the field are skipped)`,
        ],
      };
    } else if (!decision.shouldRun) {
      throw new VisionLoopError('CONFLICT', `cannot retrain now: ${decision.reasons.join('; ')}`);
    }
    const reason = request.reason ?? `requested by ${actor ?? 'an admin'}`;
    const { job, created } = await this.queue.enqueue(
      TRAINING_JOB_NAME,
      {
        trigger: 'manual',
        reason,
        requestedBy: actor,
        ...(stage === 'detect' ? {} : { stage }),
      },
      { dedupeKey: TRAINING_DEDUPE_KEY, priority: 1 },
    );
    if (!created) throw trainingInProgress(job.id, job.status);
    await this.event(job.id, 'queued', 'manual', reason, actor, { by: 'manual', stage });
    return { job, decision };
  }

  /**
   * Cancels the queued or running training (or `jobId`): a queued one at once, a running one
   * stops its trainer and ends `cancelled`. RETRAINING_NOT_RUNNING when none is active.
   */
  async cancel(
    request: RetrainingCancelRequest,
    actor: string | null,
  ): Promise<RetrainingCancelResponse> {
    let target: JobView;
    if (request.jobId !== undefined) {
      target = await this.queue.get(request.jobId);
      if (target.name !== TRAINING_JOB_NAME) {
        throw new VisionLoopError('NOT_FOUND', `job ${request.jobId} is not a training job`);
      }
    } else {
      const active = await this.activeJob();
      if (active === null) {
        throw new VisionLoopError(
          'RETRAINING_NOT_RUNNING',
          'no training is queued or running; nothing to cancel',
        );
      }
      target = active;
    }
    if (target.status !== 'queued' && target.status !== 'running') {
      throw new VisionLoopError(
        'RETRAINING_NOT_RUNNING',
        `training job ${target.id} already ${target.status}; nothing to cancel`,
      );
    }
    const job = await this.queue.cancel(target.id);
    await this.event(
      job.id,
      job.status === 'cancelled' ? 'cancelled' : 'cancel_requested',
      triggerOf(job),
      job.status === 'cancelled' ? 'cancelled before it started' : 'the trainer is being stopped',
      actor,
      {},
    );
    return { job };
  }

  // --- status and history -------------------------------------------------------------------

  /** The current training, or the last one: its state, stage, epoch and ETA. */
  async status(): Promise<RetrainingStatus> {
    const [job] = (await this.queue.list({ name: TRAINING_JOB_NAME, limit: 1 })).jobs;
    const snapshot =
      job === undefined ? undefined : await this.store.latestEvent(job.id, 'snapshot');
    const status = this.statusOf(job ?? null, snapshot?.reason ?? null);
    this.options.gauge?.setRetrainingState(status.state);
    return status;
  }

  async history(query: RetrainingHistoryQuery): Promise<RetrainingHistoryResponse> {
    let before: { at: number; id: string } | undefined;
    if (query.before !== undefined) {
      const colon = query.before.indexOf(':');
      before = { at: Number(query.before.slice(0, colon)), id: query.before.slice(colon + 1) };
    }
    const rows = await this.store.listEvents({
      jobId: query.jobId,
      before,
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      events: page.map((row) => this.eventView(row)),
      nextCursor:
        rows.length > query.limit && last !== undefined ? `${last.created_at}:${last.id}` : null,
    };
  }

  /**
   * Prepares the replay source of the next training ahead of time: registers the shipped
   * seed's training set as its snapshot when production is the seed and has none (rendering
   * its frames, tens of seconds). `visionloop up` may call it in the background at first start
   * so the first training does not wait for it. Returns what the next training would replay,
   * for people.
   */
  async prepareReplay(): Promise<string> {
    const basis = await trainingBasis(this.runDeps, true);
    // The nominal holdout the gate scores on is rendered here too (cached): rendered by the
    // first training's evaluation, each frame blocked the server's event loop for ~0.1–0.2 s.
    let holdout = '';
    const classes = basis.production?.classNames ?? [];
    if (
      classes.length === SYNTH_CLASSES.length &&
      classes.every((name, i) => name === SYNTH_CLASSES[i])
    ) {
      const { nominalHoldoutImages } = await this.settings();
      await this.runDeps.nominal.ensure(nominalHoldoutImages);
      holdout = `; nominal holdout of ${nominalHoldoutImages} frames ready`;
    }
    return basis.parent === null
      ? `no replay: ${basis.noReplay ?? 'no earlier data'}${holdout}`
      : `replay from ${basis.production?.version ?? 'production'}'s dataset ${basis.parent.id.slice(0, 12)} (${basis.parent.counts.images} images)${holdout}`;
  }

  // --- the job --------------------------------------------------------------------------------

  /** The `training.run` job (retraining-run.ts). */
  async runTraining(payload: TrainingRunPayload, context: JobContext): Promise<JsonValue> {
    const settings = await this.settings();
    this.options.gauge?.setRetrainingState('running');
    try {
      return await new TrainingRun(
        { ...this.runDeps, store: this.store, now: this.now, newEventId: () => newId('rte') },
        settings,
        payload,
        context,
      ).run();
    } finally {
      await this.status().catch(() => undefined);
    }
  }

  // ------------------------------------------------------------------------------------------

  private async activeJob(): Promise<JobView | null> {
    const [job] = (
      await this.queue.list({ name: TRAINING_JOB_NAME, status: ['queued', 'running'], limit: 1 })
    ).jobs;
    return job ?? null;
  }

  private async policyState(
    manual: boolean,
  ): Promise<{ state: RetrainingPolicyState; settings: RetrainingSettings }> {
    const now = this.now();
    const [settings, labels, drift, active, finished] = await Promise.all([
      this.settings(),
      this.store.labelCounts(),
      this.store.latestDriftReports(now - DRIFT_STATUS_LOOKBACK_MS),
      this.activeJob(),
      this.queue.list({
        name: TRAINING_JOB_NAME,
        status: ['succeeded', 'failed', 'cancelled'],
        limit: 1,
      }),
    ]);
    const last = finished.jobs[0];
    const rejectedInputs = rejectedInputsOf(last);
    // What a training would be trained on now: only needed to compare with a rejected one.
    let inputs: TrainingInputs | null = null;
    if (rejectedInputs !== null) {
      const basis = await trainingBasis(this.runDeps, false);
      inputs = {
        production: basis.production?.version ?? null,
        replaySource: basis.parent?.id ?? null,
        labels: await this.store.labelSummary(basis.reviewedSince),
        settings: inputSettingsOf(settings),
      };
    }
    return {
      settings,
      state: {
        now,
        settings,
        inputs,
        labels,
        drift: drift.map((report) => ({
          camera: report.camera,
          drifted: report.drifted,
          at: report.createdAt,
        })),
        lastTraining:
          last === undefined
            ? null
            : {
                jobId: last.id,
                status: last.status,
                startedAt: last.startedAt,
                finishedAt: last.finishedAt ?? last.updatedAt,
                rejectedInputs,
              },
        activeTraining:
          active === null || (active.status !== 'queued' && active.status !== 'running')
            ? null
            : { jobId: active.id, status: active.status },
        manual,
      },
    };
  }

  private statusOf(job: JobView | null, replay: string | null): RetrainingStatus {
    const progress = job?.progress ?? {};
    const result = resultOf(job);
    const stage = stringOrNull(progress.stage);
    let state: RetrainingState = 'idle';
    if (job !== null) {
      switch (job.status) {
        case 'queued':
          state = 'queued';
          break;
        case 'running':
          state =
            stage === 'evaluating' || stage === 'registering' || stage === 'gate'
              ? 'evaluating'
              : 'running';
          break;
        case 'succeeded':
          // The job did its work; the candidate it made was turned down.
          state = result.decision === 'rejected' ? 'rejected' : 'completed';
          break;
        case 'failed':
          state = 'failed';
          break;
        case 'cancelled':
          state = 'cancelled';
          break;
      }
    }
    const epoch = numberOrNull(progress.epoch);
    return {
      state,
      job,
      trigger: triggerOf(job),
      stage,
      epoch: epoch === null ? null : Math.max(0, Math.round(epoch)),
      epochs: numberOrNull(progress.epochs),
      loss: numberOrNull(progress.loss),
      valMap50: numberOrNull(progress.valMap50),
      etaSeconds: job?.status === 'running' ? numberOrNull(progress.etaSeconds) : null,
      candidateVersion:
        stringOrNull(result.version) ?? stringOrNull(progress.candidateVersion) ?? null,
      decision: stringOrNull(result.decision),
      gateReasons: Array.isArray(result.reasons)
        ? result.reasons.filter((reason): reason is string => typeof reason === 'string')
        : null,
      replay,
      device: job?.status === 'running' ? stringOrNull(progress.device) : null,
      error: job?.error ?? null,
    };
  }

  private eventView(row: RetrainingEventRow): RetrainingEvent {
    return {
      id: row.id,
      jobId: row.job_id,
      kind: row.kind,
      trigger: row.trigger,
      reason: row.reason,
      modelVersion: row.model_version,
      details: parseObject(row.details),
      actor: row.actor,
      at: row.created_at,
    };
  }

  private async event(
    jobId: string,
    kind: string,
    trigger: RetrainingTriggerName | null,
    reason: string | null,
    actor: string | null,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.store.insertEvent({
      id: newId('rte'),
      job_id: jobId,
      kind,
      trigger,
      reason,
      model_version: null,
      details: JSON.stringify(details),
      actor,
      created_at: this.now(),
    });
  }

  private decode(text: string, revision: number): RetrainingSettings {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = {};
    }
    // Stored settings from an older build may lack newer fields (defaults fill them in) or
    // hold retired ones (replayFraction): only the known fields are kept.
    const stored = Object.fromEntries(
      Object.entries(typeof value === 'object' && value !== null ? value : {}).filter(
        ([key]) => key in DEFAULT_RETRAINING_SETTINGS,
      ),
    );
    const merged = { ...DEFAULT_RETRAINING_SETTINGS, ...stored, revision };
    const parsed = retrainingSettingsSchema.safeParse(merged);
    return parsed.success ? parsed.data : { ...DEFAULT_RETRAINING_SETTINGS, revision };
  }
}
