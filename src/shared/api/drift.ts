/**
 * The drift-monitoring contract (issue 6): the latest drift state per camera, its history, an
 * on-demand check, the post-promotion baseline, and the `drift` settings. Browser-safe (zod
 * only). The statistics behind it are in src/vision/drift (docs/drift.md).
 *
 * A level is `green`, `yellow` (share of drifted features > driftShareThreshold), `red`
 * (> redShareThreshold) or `unknown` (nothing could be compared: no baseline yet, or too few
 * samples in the window; `status` says which).
 */
import { z } from 'zod';
import { cameraNameSchema, epochMsSchema, plainText } from './common.js';
import { jobViewSchema } from './jobs.js';
import { queryBooleanSchema, queryEpochMsSchema } from './query.js';

export const DRIFT_LEVELS = ['green', 'yellow', 'red', 'unknown'] as const;
export const driftLevelSchema = z.enum(DRIFT_LEVELS);
export type DriftLevelName = z.infer<typeof driftLevelSchema>;

export const DRIFT_STATUSES = ['ok', 'drift', 'insufficient_data', 'no_reference'] as const;
export const driftStatusSchema = z.enum(DRIFT_STATUSES);
export type DriftStatusName = z.infer<typeof driftStatusSchema>;

export const DRIFT_CORRECTIONS = ['none', 'bonferroni', 'benjamini-hochberg'] as const;

// ---------------------------------------------------------------------------------------------
// settings (`drift` in the settings table)

const driftSettingsFields = {
  /** Seconds between scheduled checks of each camera. */
  checkEverySeconds: z.number().int().min(5).max(86_400),
  /** Most thinned frames in a current window. */
  windowSamples: z.number().int().min(5).max(10_000),
  /** A current window only holds frames this recent (before the camera's newest frame), s. */
  windowSpanSeconds: z
    .number()
    .int()
    .min(60)
    .max(7 * 86_400),
  /** At most one frame per bucket of this many seconds (about the time a part stays in view). */
  minSpacingSeconds: z.number().min(0).max(3600),
  /** Thinned frames in a post-promotion baseline. */
  baselineSamples: z.number().int().min(10).max(10_000),
  /** A feature drifts when its (adjusted) p-value is below this. */
  alpha: z.number().gt(0).max(0.5),
  /** Yellow when the share of drifted features is above this. */
  driftShareThreshold: z.number().min(0).lt(1),
  /** Red when the share is above this. */
  redShareThreshold: z.number().min(0).lt(1),
  correction: z.enum(DRIFT_CORRECTIONS),
  /** Fewest finite values per side for a feature to be tested. */
  minSamples: z.number().int().min(2).max(10_000),
  /** Also compare model outputs: mean confidence, detections per frame, uncertain share, class mix. */
  includeModelOutputs: z.boolean(),
};

export const driftSettingsSchema = z
  .strictObject({ revision: z.number().int().min(0), ...driftSettingsFields })
  .meta({ id: 'DriftSettings' });
export type DriftSettings = z.infer<typeof driftSettingsSchema>;

/** Defaults (docs/drift.md): a 50-sample window of frames 10 s apart, a 200-sample baseline. */
export const DEFAULT_DRIFT_SETTINGS: DriftSettings = {
  revision: 0,
  checkEverySeconds: 60,
  windowSamples: 50,
  windowSpanSeconds: 1800,
  minSpacingSeconds: 10,
  baselineSamples: 200,
  alpha: 0.05,
  driftShareThreshold: 0.3,
  redShareThreshold: 0.7,
  correction: 'none',
  minSamples: 20,
  includeModelOutputs: true,
};

/** PUT /api/settings/drift: the fields to change; the server bumps `revision`. */
export const updateDriftSettingsRequestSchema = z
  .strictObject({
    checkEverySeconds: driftSettingsFields.checkEverySeconds.optional(),
    windowSamples: driftSettingsFields.windowSamples.optional(),
    windowSpanSeconds: driftSettingsFields.windowSpanSeconds.optional(),
    minSpacingSeconds: driftSettingsFields.minSpacingSeconds.optional(),
    baselineSamples: driftSettingsFields.baselineSamples.optional(),
    alpha: driftSettingsFields.alpha.optional(),
    driftShareThreshold: driftSettingsFields.driftShareThreshold.optional(),
    redShareThreshold: driftSettingsFields.redShareThreshold.optional(),
    correction: driftSettingsFields.correction.optional(),
    minSamples: driftSettingsFields.minSamples.optional(),
    includeModelOutputs: driftSettingsFields.includeModelOutputs.optional(),
  })
  .meta({ id: 'UpdateDriftSettings' });
export type UpdateDriftSettingsRequest = z.infer<typeof updateDriftSettingsRequestSchema>;

// ---------------------------------------------------------------------------------------------
// the drift.check job

export const driftCheckPayloadSchema = z.strictObject({
  camera: cameraNameSchema,
  trigger: z.enum(['schedule', 'manual']).default('manual'),
});
export type DriftCheckPayload = z.output<typeof driftCheckPayloadSchema>;

// ---------------------------------------------------------------------------------------------
// reports

/**
 * Reference and current distribution of one feature on shared bins, for charts: densities on
 * equal-width bins (numeric) or shares per category (categorical); each side sums to 1.
 */
export const driftDistributionSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('histogram'),
      /** bins + 1 ascending edges. */
      edges: z.array(z.number()),
      reference: z.array(z.number()),
      current: z.array(z.number()),
    }),
    z.strictObject({
      kind: z.literal('categories'),
      categories: z.array(z.string()),
      reference: z.array(z.number()),
      current: z.array(z.number()),
    }),
  ])
  .meta({ id: 'DriftDistribution' });
export type DriftDistribution = z.infer<typeof driftDistributionSchema>;

export const driftFeatureSchema = z
  .strictObject({
    feature: z.string(),
    kind: z.enum(['numeric', 'categorical']),
    test: z.enum(['ks', 'chi-square']),
    status: z.enum(['tested', 'insufficient_data']),
    /** KS D or the chi-square statistic. */
    statistic: z.number().nullable(),
    pValue: z.number().nullable(),
    adjustedPValue: z.number().nullable(),
    drifted: z.boolean(),
    method: z.string().nullable(),
    /** Wasserstein-1 distance in the feature's unit. */
    wasserstein: z.number().nullable(),
    /** wasserstein / the reference's spread: how many reference σ̂ it moved. */
    scaledMagnitude: z.number().nullable(),
    referenceMedian: z.number().nullable(),
    currentMedian: z.number().nullable(),
    nRef: z.number().int().min(0),
    nCur: z.number().int().min(0),
    /** NaN/Infinity values dropped (broken frames). */
    droppedRef: z.number().int().min(0),
    droppedCur: z.number().int().min(0),
    note: z.string().nullable(),
    /** Both sides on shared bins; null when a side had no values or the report predates it. */
    distribution: driftDistributionSchema.nullable(),
  })
  .meta({ id: 'DriftFeature' });
export type DriftFeature = z.infer<typeof driftFeatureSchema>;

export const driftReferenceInfoSchema = z
  .strictObject({
    id: z.string(),
    kind: z.enum(['baseline', 'training']),
    modelVersion: z.string().nullable(),
    description: z.string().nullable(),
    createdAt: epochMsSchema,
    samples: z.number().int().min(0),
    /** Capture time of the first and last baseline frame. */
    from: epochMsSchema.nullable(),
    to: epochMsSchema.nullable(),
  })
  .meta({ id: 'DriftReference' });
export type DriftReferenceInfo = z.infer<typeof driftReferenceInfoSchema>;

/** Where the camera's post-promotion baseline stands. */
export const driftBaselineProgressSchema = z
  .strictObject({
    state: z.enum(['collecting', 'ready']),
    /** Thinned frames collected so far (all of them once ready). */
    samples: z.number().int().min(0),
    needed: z.number().int().min(1),
    /** Frames captured from this time on count (the last promotion or baseline reset). */
    since: epochMsSchema,
  })
  .meta({ id: 'DriftBaselineProgress' });

export const driftCameraStatusSchema = z
  .strictObject({
    camera: z.string(),
    reportId: z.string(),
    jobId: z.string().nullable(),
    checkedAt: epochMsSchema,
    /** The model version whose traffic was compared. */
    modelVersion: z.string().nullable(),
    status: driftStatusSchema,
    level: driftLevelSchema,
    drifted: z.boolean(),
    /** Drifted ÷ tested features (the overall score); null when nothing was tested. */
    driftShare: z.number().min(0).max(1).nullable(),
    driftedFeatures: z.array(z.string()),
    testedFeatures: z.number().int().min(0),
    /** p-value per feature (null: not tested). */
    pValues: z.record(z.string(), z.number().nullable()),
    features: z.array(driftFeatureSchema),
    reference: driftReferenceInfoSchema.nullable(),
    window: z.strictObject({
      startMs: epochMsSchema.nullable(),
      endMs: epochMsSchema.nullable(),
      /** Frames in the window's span before thinning. */
      framesSeen: z.number().int().min(0).nullable(),
      /** Thinned frames compared. */
      samples: z.number().int().min(0),
    }),
    baseline: driftBaselineProgressSchema.nullable(),
    /** Why it decided, for people. */
    reason: z.string(),
  })
  .meta({ id: 'DriftCameraStatus' });
export type DriftCameraStatus = z.infer<typeof driftCameraStatusSchema>;

export const trainingReferenceSummarySchema = z
  .strictObject({
    id: z.string(),
    modelVersion: z.string().nullable(),
    createdAt: epochMsSchema,
    samples: z.number().int().min(0),
    /** Median of each image feature over the training images. */
    medians: z.record(z.string(), z.number().nullable()),
  })
  .meta({ id: 'DriftTrainingReference' });
export type TrainingReferenceSummary = z.infer<typeof trainingReferenceSummarySchema>;

export const driftBaselineStateSchema = z
  .strictObject({
    /** Baselines are built from frames captured at or after this time. */
    since: epochMsSchema,
    reason: z.string().nullable(),
    actor: z.string().nullable(),
    /** Cameras whose baseline was reset on its own, later than `since`. */
    cameras: z.record(
      z.string(),
      z.strictObject({
        since: epochMsSchema,
        reason: z.string().nullable(),
        actor: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'DriftBaselineState' });
export type DriftBaselineState = z.infer<typeof driftBaselineStateSchema>;

export const driftStatusQuerySchema = z.strictObject({
  camera: cameraNameSchema.optional().describe('only this camera'),
});
export type DriftStatusQuery = z.infer<typeof driftStatusQuerySchema>;

export const driftStatusResponseSchema = z
  .strictObject({
    generatedAt: epochMsSchema,
    overall: z.strictObject({
      /** The worst level of any camera (`unknown` when no camera was compared). */
      level: driftLevelSchema,
      /** The highest drift share of any camera. */
      driftShare: z.number().min(0).max(1).nullable(),
      /** Cameras at yellow or red. */
      drifting: z.array(z.string()),
      cameras: z.number().int().min(0),
    }),
    thresholds: z.strictObject({
      alpha: z.number(),
      driftShareThreshold: z.number(),
      redShareThreshold: z.number(),
      correction: z.enum(DRIFT_CORRECTIONS),
    }),
    baseline: driftBaselineStateSchema,
    /** The newest report of each camera. */
    cameras: z.array(driftCameraStatusSchema),
    /** Training-image references stored at model registration (display only). */
    trainingReferences: z.array(trainingReferenceSummarySchema),
  })
  .meta({ id: 'DriftStatus' });
export type DriftStatusResponse = z.infer<typeof driftStatusResponseSchema>;

export const DRIFT_HISTORY_MAX_LIMIT = 10_000;

export const driftHistoryQuerySchema = z.strictObject({
  camera: cameraNameSchema.optional().describe('only this camera'),
  from: queryEpochMsSchema
    .optional()
    .describe('reports made at or after, epoch ms (default: 24 h ago)'),
  to: queryEpochMsSchema.optional().describe('reports made before, epoch ms (default: now)'),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(DRIFT_HISTORY_MAX_LIMIT)
    .default(1000)
    .describe('most points (the newest ones of the range)'),
});
export type DriftHistoryQuery = z.output<typeof driftHistoryQuerySchema>;

export const driftHistoryPointSchema = z
  .strictObject({
    reportId: z.string(),
    camera: z.string().nullable(),
    /** When the check ran. */
    at: epochMsSchema,
    windowStart: epochMsSchema,
    windowEnd: epochMsSchema,
    modelVersion: z.string().nullable(),
    status: driftStatusSchema,
    level: driftLevelSchema,
    driftShare: z.number().min(0).max(1).nullable(),
    driftedFeatures: z.array(z.string()),
    pValues: z.record(z.string(), z.number().nullable()),
  })
  .meta({ id: 'DriftHistoryPoint' });
export type DriftHistoryPoint = z.infer<typeof driftHistoryPointSchema>;

export const driftHistoryResponseSchema = z
  .strictObject({
    from: epochMsSchema,
    to: epochMsSchema,
    /** Oldest first. */
    points: z.array(driftHistoryPointSchema),
    /** More reports than `limit` were in the range; the oldest were left out. */
    truncated: z.boolean(),
  })
  .meta({ id: 'DriftHistory' });
export type DriftHistoryResponse = z.infer<typeof driftHistoryResponseSchema>;

export const driftCheckQuerySchema = z.strictObject({
  camera: cameraNameSchema
    .optional()
    .describe('check this camera (default: every camera with recent traffic)'),
  wait: queryBooleanSchema
    .default(false)
    .describe('wait for the checks to finish (only while a worker that runs them is alive)'),
  timeoutSeconds: z.coerce
    .number()
    .int()
    .min(1)
    .max(120)
    .default(30)
    .describe('with wait: longest wait, seconds'),
});
export type DriftCheckQuery = z.output<typeof driftCheckQuerySchema>;

export const driftCheckResponseSchema = z
  .strictObject({
    /** Every job finished (only with wait). */
    complete: z.boolean(),
    jobs: z.array(jobViewSchema),
    /** With wait: the reports the finished jobs wrote. */
    cameras: z.array(driftCameraStatusSchema),
    /** Why the answer did not wait (no worker runs drift checks), else null. */
    message: z.string().nullable(),
  })
  .meta({ id: 'DriftCheck' });
export type DriftCheckResponse = z.infer<typeof driftCheckResponseSchema>;

export const driftBaselineRequestSchema = z
  .strictObject({
    camera: cameraNameSchema.optional(),
    reason: plainText(z.string().max(500)).optional(),
  })
  .meta({ id: 'ResetDriftBaseline' });
export type DriftBaselineRequest = z.infer<typeof driftBaselineRequestSchema>;
