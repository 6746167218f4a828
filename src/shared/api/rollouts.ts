/**
 * The safe-rollout contract (docs/rollouts.md). Browser-safe (zod only).
 *
 * - A **shadow** rollout runs a candidate detector beside production on `share` of the frames
 *   of its cameras (all cameras when `cameras` is null). Its outputs are stored apart
 *   (`shadow_predictions`), never decide, and frames where it disagrees with production go to
 *   the labeling queue (strategy `committee`). It ends by hand (promote or rollback/stop).
 * - A **canary** rollout moves `production` to the candidate for `cameras`, or for `share` of
 *   the cameras (chosen by a stable hash of the camera name), first. The canary cameras also run
 *   the baseline as a shadow on 20 % of their frames, so disagreement is measured. Every
 *   `evaluate` compares the canary's live metrics with the baseline cameras' over the frames
 *   since the rollout started; once the canary has `minFrames` frames, a metric beyond its
 *   threshold rolls the rollout back automatically, and `promoteAfterFrames` clean canary frames
 *   promote it (production moves for every camera). Either can be done by hand at any time.
 *   Each step lands in the alias history with its reason.
 *
 * One running rollout per stage at a time.
 */
import { z } from 'zod';
import { cameraNameSchema, epochMsSchema, idSchema, plainText } from './common.js';
import { modelTaskSchema } from './inspection-chain.js';
import { registryVersionSchema } from './models.js';

export const rolloutKindSchema = z.enum(['shadow', 'canary']);
export type RolloutKind = z.infer<typeof rolloutKindSchema>;

export const rolloutStateSchema = z.enum(['running', 'promoted', 'rolled-back']);
export type RolloutState = z.infer<typeof rolloutStateSchema>;

/** The thresholds of a canary's automatic verdict. */
export const rolloutRulesSchema = z
  .strictObject({
    /** Canary frames needed before any automatic verdict. */
    minFrames: z.number().int().min(1).max(10_000_000),
    /** Roll back when canary defect rate − baseline defect rate exceeds this (absolute, 0..1). */
    maxDefectRateDelta: z.number().min(0).max(1),
    /** Roll back when canary uncertain rate − baseline uncertain rate exceeds this. */
    maxUncertainRateDelta: z.number().min(0).max(1),
    /** Roll back when the canary's mean disagreement with the baseline exceeds this (0..1). */
    maxDisagreement: z.number().min(0).max(1),
    /** Roll back when canary p50 inference latency / baseline p50 exceeds this. */
    maxLatencyRatio: z.number().min(1).max(100),
    /** Promote after this many canary frames without a breach; null: promote only by hand. */
    promoteAfterFrames: z.number().int().min(1).max(10_000_000).nullable(),
  })
  .meta({ id: 'RolloutRules' });
export type RolloutRules = z.infer<typeof rolloutRulesSchema>;

export const DEFAULT_ROLLOUT_RULES: RolloutRules = Object.freeze({
  minFrames: 200,
  maxDefectRateDelta: 0.1,
  maxUncertainRateDelta: 0.15,
  maxDisagreement: 0.35,
  maxLatencyRatio: 1.5,
  promoteAfterFrames: null,
});

/** Share of a canary camera's frames on which the baseline runs as its shadow. */
export const CANARY_BASELINE_SHADOW_SHARE = 0.2;

const reasonSchema = plainText(z.string().max(1000));

export const startRolloutRequestSchema = z
  .strictObject({
    kind: rolloutKindSchema,
    /** The stage whose model rolls out; shadow rollouts are `detect` only. Default `detect`. */
    stage: modelTaskSchema.optional(),
    candidateVersion: registryVersionSchema,
    /** The cameras taking part (canary: the canary cameras; shadow: where it runs). */
    cameras: z.array(cameraNameSchema).min(1).max(1000).optional(),
    /** Canary: share of the cameras (0..1, exclusive of `cameras`). Shadow: share of frames. */
    share: z.number().gt(0).max(1).optional(),
    /** Canary thresholds; missing fields take DEFAULT_ROLLOUT_RULES. */
    rules: rolloutRulesSchema.partial().optional(),
    reason: reasonSchema.optional(),
  })
  .meta({ id: 'StartRollout' });
export type StartRolloutRequest = z.infer<typeof startRolloutRequestSchema>;

export const rolloutSchema = z
  .strictObject({
    id: idSchema,
    kind: rolloutKindSchema,
    stage: modelTaskSchema,
    candidateVersion: z.string(),
    /** What `production` served when the rollout started (what a rollback returns to). */
    baselineVersion: z.string(),
    cameras: z.array(z.string()).nullable(),
    share: z.number().nullable(),
    state: rolloutStateSchema,
    rules: rolloutRulesSchema,
    reason: z.string().nullable(),
    createdBy: z.string().nullable(),
    startedAt: epochMsSchema,
    endedAt: epochMsSchema.nullable(),
    /** Why it ended: the breach of an automatic rollback, or the hand-given reason. */
    endReason: z.string().nullable(),
  })
  .meta({ id: 'Rollout' });
export type Rollout = z.infer<typeof rolloutSchema>;

/** Live metrics of one side of a rollout (or of one camera), since the rollout started. */
export const rolloutGroupMetricsSchema = z
  .strictObject({
    cameras: z.array(z.string()),
    frames: z.number().int().min(0),
    /** Share of inferred frames that FAILed. */
    defectRate: z.number().nullable(),
    /** Share of inferred frames flagged uncertain. */
    uncertainRate: z.number().nullable(),
    /** Mean shadow disagreement on this side's shadowed frames; null when none. */
    disagreement: z.number().nullable(),
    shadowFrames: z.number().int().min(0),
    inferenceMsP50: z.number().nullable(),
  })
  .meta({ id: 'RolloutGroupMetrics' });
export type RolloutGroupMetrics = z.infer<typeof rolloutGroupMetricsSchema>;

export const rolloutBreachSchema = z.strictObject({
  metric: z.enum(['defectRateDelta', 'uncertainRateDelta', 'disagreement', 'latencyRatio']),
  value: z.number(),
  threshold: z.number(),
});
export type RolloutBreach = z.infer<typeof rolloutBreachSchema>;

export const rolloutMetricsSchema = z
  .strictObject({
    /** The candidate's side (canary cameras; for a shadow: the shadow's own outputs). */
    candidate: rolloutGroupMetricsSchema,
    baseline: rolloutGroupMetricsSchema,
    perCamera: z.array(
      rolloutGroupMetricsSchema.omit({ cameras: true }).extend({
        camera: z.string(),
        role: z.enum(['canary', 'baseline', 'shadow']),
      }),
    ),
    /** `waiting`: fewer than `minFrames` canary frames; `breach`: a threshold is crossed. */
    verdict: z.enum(['waiting', 'healthy', 'breach']),
    breaches: z.array(rolloutBreachSchema),
    at: epochMsSchema,
  })
  .meta({ id: 'RolloutMetrics' });
export type RolloutMetrics = z.infer<typeof rolloutMetricsSchema>;

export const rolloutDetailSchema = z
  .strictObject({ rollout: rolloutSchema, metrics: rolloutMetricsSchema })
  .meta({ id: 'RolloutDetail' });
export type RolloutDetail = z.infer<typeof rolloutDetailSchema>;

export const rolloutListResponseSchema = z
  .strictObject({ rollouts: z.array(rolloutSchema) })
  .meta({ id: 'RolloutList' });
export type RolloutListResponse = z.infer<typeof rolloutListResponseSchema>;

export const rolloutIdParamsSchema = z.strictObject({ id: idSchema });

/** `POST /api/rollouts/{id}/promote` and `/rollback`. */
export const endRolloutRequestSchema = z
  .strictObject({ reason: reasonSchema.optional() })
  .meta({ id: 'EndRollout' });
export type EndRolloutRequest = z.infer<typeof endRolloutRequestSchema>;
