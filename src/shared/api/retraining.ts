/**
 * The retraining contract (issue 7, docs/retraining.md): the `retraining` settings, the policy's
 * conditions, the state of the current or last training, its event history, and the manual
 * trigger and cancel. Browser-safe (zod only).
 *
 * A training is one `training.run` job: snapshot → warm-started training → evaluation of the
 * candidate and production on the same holdouts → registration → promotion gate.
 */
import { z } from 'zod';
import { epochMsSchema, idSchema, plainText } from './common.js';
import { jobViewSchema } from './jobs.js';

export const RETRAINING_TRIGGERS = ['drift', 'labels', 'manual'] as const;
export const retrainingTriggerSchema = z.enum(RETRAINING_TRIGGERS);
export type RetrainingTriggerName = z.infer<typeof retrainingTriggerSchema>;

/**
 * The chain stage a training retrains: `detect` (the detector, the default) or one of the
 * later stages, trained from scratch on crops of the reviewed labels' boxes that carry a crop
 * class (`classify`) or a mask polygon (`segment`) and never promoted automatically.
 */
export const RETRAINING_STAGES = ['detect', 'classify', 'segment'] as const;
export const retrainingStageSchema = z.enum(RETRAINING_STAGES);
export type RetrainingStage = z.infer<typeof retrainingStageSchema>;

/** The dedupe key of every training.run job: at most one is queued or running. */
export const TRAINING_DEDUPE_KEY = 'training.run';

// ---------------------------------------------------------------------------------------------
// settings (`retraining` in the settings table)

const retrainingSettingsFields = {
  /** The periodic policy evaluator queues trainings (manual triggers work either way). */
  enabled: z.boolean(),
  /** Retrain when at least this many reviewed labels were not used by any training yet. */
  labelThreshold: z.number().int().min(1).max(1_000_000),
  /** Retrain when the latest drift report of some camera says drift… */
  retrainOnDrift: z.boolean(),
  /** …and at least this many new reviewed labels exist to learn from. */
  driftMinNewLabels: z.number().int().min(0).max(1_000_000),
  /** No automatic training until this long after the last one finished, minutes. */
  cooldownMinutes: z
    .number()
    .min(0)
    .max(7 * 24 * 60),
  /** How often the policy is evaluated, seconds. */
  evaluateEverySeconds: z.number().int().min(5).max(86_400),
  /** A candidate that passes the gate becomes `production` at once (else `staging` only). */
  autoPromote: z.boolean(),
  /** The gate: the most mAP@0.5 a candidate may lose on the nominal holdout (0.02 = 2 points). */
  maxNominalLoss: z.number().min(0).max(1),
  /** The gate: the candidate must beat production on the recent holdout by more than this. */
  minRecentGain: z.number().min(0).max(1),
  /**
   * Replay against forgetting: earlier images (production's own snapshot, the seed's
   * synthetic training set for the shipped seed) per new reviewed image in every training's
   * snapshot (1: as many earlier images as new ones, the drift experiment's recipe; 0: none).
   */
  replayRatio: z.number().min(0).max(10),
  /** Synthetic nominal frames in the nominal holdout (generated once, deterministically). */
  nominalHoldoutImages: z.number().int().min(1).max(5000),
  /** Trainer parameters. */
  epochs: z.number().int().min(1).max(1000),
  imgsz: z
    .number()
    .int()
    .min(32)
    .max(1280)
    .refine((value) => value % 32 === 0, 'a multiple of 32'),
  batch: z.number().int().min(1).max(512),
  /** Peak learning rate of the fine-tune (AdamW, warmup then cosine). */
  lr: z.number().gt(0).max(1),
  /** Train only the neck and heads of a warm start (faster, forgets less). */
  freezeBackbone: z.boolean(),
  /** Architecture preset when training from scratch (no production weights). */
  modelSize: z.enum(['n', 's']),
  seed: z.number().int().min(0).max(0x7fffffff),
  /**
   * PyTorch threads of the trainer; 0 = automatic (1 on a machine with ≤ 2 cores, so
   * inspection keeps a core; else cores − 1, at most 4).
   */
  threads: z.number().int().min(0).max(64),
  /** CPU niceness of the trainer process (0..19; higher yields more to inspection). */
  nice: z.number().int().min(0).max(19),
};

export const retrainingSettingsSchema = z
  .strictObject({ revision: z.number().int().min(0), ...retrainingSettingsFields })
  .meta({ id: 'RetrainingSettings' });
export type RetrainingSettings = z.infer<typeof retrainingSettingsSchema>;

/**
 * Defaults (docs/retraining.md). The trainer's budget is the demo's: a warm-start fine-tune that
 * brings the seed back on `night` within minutes on 2 cores (bench/retraining-recipe.bench.ts).
 */
export const DEFAULT_RETRAINING_SETTINGS: RetrainingSettings = {
  revision: 0,
  enabled: true,
  labelThreshold: 50,
  retrainOnDrift: true,
  driftMinNewLabels: 1,
  cooldownMinutes: 30,
  evaluateEverySeconds: 60,
  autoPromote: false,
  maxNominalLoss: 0.02,
  minRecentGain: 0,
  replayRatio: 1,
  nominalHoldoutImages: 100,
  // The drift experiment's fine-tune (20 epochs at 1e-3: night 0.866, nominal −0.018) cut to
  // fit the demo's minutes; a higher rate forgets nominal (5 epochs at 2e-3: −0.061).
  epochs: 12,
  imgsz: 320,
  batch: 16,
  lr: 1e-3,
  // A frozen backbone cannot learn night's dark, noisy low-level features (0.22 night mAP@0.5
  // after 10 epochs, bench/retraining-recipe.bench.ts): the whole network is fine-tuned.
  freezeBackbone: false,
  modelSize: 'n',
  seed: 0,
  threads: 0,
  nice: 10,
};

/**
 * The tiny trainer budget of `visionloop up --fast` (the end-to-end test): still a warm start
 * with replay that beats the seed on `night` by ≥ 0.5 mAP@0.5, in about a minute.
 */
export const FAST_RETRAINING_SETTINGS = {
  epochs: 5,
  lr: 2e-3,
  freezeBackbone: false,
} as const satisfies UpdateRetrainingSettingsRequest;

/** PUT /api/settings/retraining: the fields to change; the server bumps `revision`. */
export const updateRetrainingSettingsRequestSchema = z
  .strictObject({
    enabled: retrainingSettingsFields.enabled.optional(),
    labelThreshold: retrainingSettingsFields.labelThreshold.optional(),
    retrainOnDrift: retrainingSettingsFields.retrainOnDrift.optional(),
    driftMinNewLabels: retrainingSettingsFields.driftMinNewLabels.optional(),
    cooldownMinutes: retrainingSettingsFields.cooldownMinutes.optional(),
    evaluateEverySeconds: retrainingSettingsFields.evaluateEverySeconds.optional(),
    autoPromote: retrainingSettingsFields.autoPromote.optional(),
    maxNominalLoss: retrainingSettingsFields.maxNominalLoss.optional(),
    minRecentGain: retrainingSettingsFields.minRecentGain.optional(),
    replayRatio: retrainingSettingsFields.replayRatio.optional(),
    nominalHoldoutImages: retrainingSettingsFields.nominalHoldoutImages.optional(),
    epochs: retrainingSettingsFields.epochs.optional(),
    imgsz: retrainingSettingsFields.imgsz.optional(),
    batch: retrainingSettingsFields.batch.optional(),
    lr: retrainingSettingsFields.lr.optional(),
    freezeBackbone: retrainingSettingsFields.freezeBackbone.optional(),
    modelSize: retrainingSettingsFields.modelSize.optional(),
    seed: retrainingSettingsFields.seed.optional(),
    threads: retrainingSettingsFields.threads.optional(),
    nice: retrainingSettingsFields.nice.optional(),
  })
  .meta({ id: 'UpdateRetrainingSettings' });
export type UpdateRetrainingSettingsRequest = z.infer<typeof updateRetrainingSettingsRequestSchema>;

// ---------------------------------------------------------------------------------------------
// the training.run job

export const trainingRunPayloadSchema = z.strictObject({
  trigger: retrainingTriggerSchema.default('manual'),
  /** Why it was queued (the policy's reasons, or the admin's note). */
  reason: plainText(z.string().max(2000)).optional(),
  /** Who asked (token name), for manual triggers. */
  requestedBy: plainText(z.string().max(200)).nullable().optional(),
  /** The stage to retrain (default `detect`). */
  stage: retrainingStageSchema.optional(),
});
export type TrainingRunPayload = z.output<typeof trainingRunPayloadSchema>;

// ---------------------------------------------------------------------------------------------
// conditions

export const retrainingConditionSchema = z
  .strictObject({
    name: z.enum(['enabled', 'labels', 'drift', 'cooldown', 'one-at-a-time', 'data', 'inputs']),
    holds: z.boolean(),
    detail: z.string(),
  })
  .meta({ id: 'RetrainingCondition' });
export type RetrainingCondition = z.infer<typeof retrainingConditionSchema>;

export const retrainingDecisionSchema = z
  .strictObject({
    shouldRun: z.boolean(),
    /** What would start it (null when nothing would). */
    trigger: retrainingTriggerSchema.nullable(),
    /** Why it would or would not run, for people. */
    reasons: z.array(z.string()),
    conditions: z.array(retrainingConditionSchema),
    /** When the cooldown ends (null: no cooldown in force). */
    cooldownUntil: epochMsSchema.nullable(),
  })
  .meta({ id: 'RetrainingDecision' });
export type RetrainingDecision = z.infer<typeof retrainingDecisionSchema>;

export const retrainingConditionsResponseSchema = z
  .strictObject({
    generatedAt: epochMsSchema,
    /** What the periodic evaluator would do now. */
    automatic: retrainingDecisionSchema,
    /** What a manual trigger would do now. */
    manual: retrainingDecisionSchema,
    labels: z.strictObject({
      total: z.number().int().min(0),
      /** Reviewed labels no training used yet. */
      unused: z.number().int().min(0),
      threshold: z.number().int().min(1),
    }),
    drift: z.strictObject({
      /** Cameras whose latest report says drift. */
      drifting: z.array(z.string()),
      latestReportAt: epochMsSchema.nullable(),
    }),
    lastTraining: z
      .strictObject({ jobId: z.string(), status: z.string(), finishedAt: epochMsSchema })
      .nullable(),
    activeJobId: z.string().nullable(),
    settings: retrainingSettingsSchema,
  })
  .meta({ id: 'RetrainingConditions' });
export type RetrainingConditionsResponse = z.infer<typeof retrainingConditionsResponseSchema>;

// ---------------------------------------------------------------------------------------------
// status

export const RETRAINING_STATES = [
  'idle',
  'queued',
  'running',
  'evaluating',
  'completed',
  /** The last training finished, and the promotion gate rejected its candidate. */
  'rejected',
  'failed',
  'cancelled',
] as const;
export const retrainingStateSchema = z.enum(RETRAINING_STATES);
export type RetrainingState = z.infer<typeof retrainingStateSchema>;

export const retrainingStatusSchema = z
  .strictObject({
    state: retrainingStateSchema,
    /** The current training job, or the last one (null: never trained). */
    job: jobViewSchema.nullable(),
    trigger: retrainingTriggerSchema.nullable(),
    /** The job's stage: snapshot, training, evaluating, registering, gate, done. */
    stage: z.string().nullable(),
    epoch: z.number().int().min(0).nullable(),
    epochs: z.number().int().min(0).nullable(),
    loss: z.number().nullable(),
    valMap50: z.number().nullable(),
    etaSeconds: z.number().min(0).nullable(),
    /** The candidate version registered by it (when it got that far). */
    candidateVersion: z.string().nullable(),
    /** production, staging or rejected (when the gate ran). */
    decision: z.string().nullable(),
    /** The promotion gate's reasons, in full (when the gate ran). */
    gateReasons: z.array(z.string()).nullable(),
    /**
     * What the snapshot replayed against forgetting, for people ("200 earlier images of
     * dataset …", or why there was none); null before the snapshot step.
     */
    replay: z.string().nullable(),
    /**
     * The device the trainer reported while it trains ("cpu", "cuda:0 (NVIDIA A100-SXM4-40GB)";
     * its `--device`, docs/retraining.md "Training on a GPU"); null before the trainer started,
     * after training, or when a configured trainer does not say. The registered model keeps it
     * in `trainerParams.device` / `deviceName`.
     */
    device: z.string().nullable().optional(),
    error: z.string().nullable(),
  })
  .meta({ id: 'RetrainingStatus' });
export type RetrainingStatus = z.infer<typeof retrainingStatusSchema>;

// ---------------------------------------------------------------------------------------------
// history

export const RETRAINING_EVENT_KINDS = [
  'queued',
  'started',
  'snapshot',
  'evaluating',
  'registered',
  'promoted',
  'rejected',
  'failed',
  'cancel_requested',
  'cancelled',
  'interrupted',
] as const;
export type RetrainingEventKind = (typeof RETRAINING_EVENT_KINDS)[number];

export const retrainingEventSchema = z
  .strictObject({
    id: z.string(),
    jobId: z.string().nullable(),
    kind: z.string(),
    trigger: retrainingTriggerSchema.nullable(),
    reason: z.string().nullable(),
    modelVersion: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    actor: z.string().nullable(),
    at: epochMsSchema,
  })
  .meta({ id: 'RetrainingEvent' });
export type RetrainingEvent = z.infer<typeof retrainingEventSchema>;

export const RETRAINING_EVENT_CURSOR_PATTERN = /^\d{1,16}:[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export const retrainingHistoryQuerySchema = z.strictObject({
  jobId: idSchema.optional().describe('only the events of this training job'),
  limit: z.coerce.number().int().min(1).max(500).default(100).describe('page size'),
  before: z
    .string()
    .regex(RETRAINING_EVENT_CURSOR_PATTERN, 'a cursor from a previous page (nextCursor)')
    .optional()
    .describe('the nextCursor of the previous page'),
});
export type RetrainingHistoryQuery = z.output<typeof retrainingHistoryQuerySchema>;

export const retrainingHistoryResponseSchema = z
  .strictObject({
    /** Newest first. */
    events: z.array(retrainingEventSchema),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'RetrainingHistory' });
export type RetrainingHistoryResponse = z.infer<typeof retrainingHistoryResponseSchema>;

// ---------------------------------------------------------------------------------------------
// trigger and cancel

export const retrainingTriggerRequestSchema = z
  .strictObject({
    reason: plainText(z.string().trim().min(1).max(500)).optional(),
    /**
     * The stage to retrain (default `detect`). `classify` / `segment` need at least
     * MIN_STAGE_CROPS reviewed boxes with a crop class / a mask polygon (409 CONFLICT naming
     * how many exist otherwise); they ignore the detector's label and drift conditions.
     */
    stage: retrainingStageSchema.optional(),
  })
  .meta({ id: 'RetrainingTriggerRequest' });
export type RetrainingTriggerRequest = z.infer<typeof retrainingTriggerRequestSchema>;

export const retrainingTriggerResponseSchema = z
  .strictObject({ job: jobViewSchema, decision: retrainingDecisionSchema })
  .meta({ id: 'RetrainingTriggerResponse' });
export type RetrainingTriggerResponse = z.infer<typeof retrainingTriggerResponseSchema>;

export const retrainingCancelRequestSchema = z
  .strictObject({
    /** The training job to cancel (default: the one queued or running). */
    jobId: idSchema.optional(),
  })
  .meta({ id: 'RetrainingCancelRequest' });
export type RetrainingCancelRequest = z.infer<typeof retrainingCancelRequestSchema>;

export const retrainingCancelResponseSchema = z
  .strictObject({ job: jobViewSchema })
  .meta({ id: 'RetrainingCancelResponse' });
export type RetrainingCancelResponse = z.infer<typeof retrainingCancelResponseSchema>;
