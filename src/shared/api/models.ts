/**
 * The model registry contract: versions with lineage, aliases (`production`, `staging`, any
 * name) with their history, uploads, downloads, promotion and rollback, plus the server's own
 * inference (`POST /api/predict`, `POST /api/reload`). Browser-safe (zod only).
 *
 * Names:
 * - a version is 1–64 characters of letters, digits and `._-`, starting with a letter or digit
 *   (it names files on agents, so no `/`, `:` or spaces); `aliases` and `events` are reserved
 *   (they are route segments);
 * - an alias is 1–64 characters of lowercase letters, digits, `_` and `-`, starting with a
 *   letter, as MLflow's aliases; `latest` and `v<digits>` are reserved (MLflow's rule: they
 *   would read as version references).
 */
import { z } from 'zod';
import { epochMsSchema, modelVersionSchema, plainText } from './common.js';
import { detectionSchema } from './ingest.js';

/** Largest ONNX upload, bytes (ONNX files of detection models run from 5 to ~250 MB). */
export const MAX_MODEL_UPLOAD_BYTES = 256 * 1024 * 1024;

export const MODEL_VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const RESERVED_VERSION_NAMES = ['aliases', 'events'] as const;
export const ALIAS_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;

/** The aliases every deployment has a meaning for. */
export const PRODUCTION_ALIAS = 'production';
export const STAGING_ALIAS = 'staging';

export const registryVersionSchema = z
  .string()
  .regex(
    MODEL_VERSION_PATTERN,
    'letters, digits and . _ - only, starting with a letter or digit, at most 64',
  )
  .refine(
    (value) => !(RESERVED_VERSION_NAMES as readonly string[]).includes(value),
    `'aliases' and 'events' are reserved`,
  );

export const aliasNameSchema = z
  .string()
  .regex(
    ALIAS_PATTERN,
    'lowercase letters, digits, _ and - only, starting with a letter, at most 64',
  )
  .refine(
    (value) => value !== 'latest' && !/^v\d+$/.test(value),
    `'latest' and 'v<number>' are reserved alias names`,
  );

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 hex digest');
const reasonSchema = plainText(z.string().max(1000));
const notesSchema = plainText(z.string().max(4000));

export const modelSourceSchema = z.enum(['seed', 'trained', 'uploaded']);
/** Detector layouts, then the stage models' (`classify`, `crop-mask`, `yolo-seg`). */
export const outputLayoutSchema = z.enum([
  'yolov8',
  'yolov8-transposed',
  'yolov5',
  'end2end',
  'classify',
  'crop-mask',
  'yolo-seg',
]);
/** What a registered model does in an inspection chain (docs/pipeline.md). */
export const registryModelTaskSchema = z.enum(['detect', 'classify', 'segment']);
/**
 * `canary`: production moved for some cameras only (the entry's `scope` names them);
 * `canary-rollback`: those cameras went back to the baseline. A canary that passes ends with
 * a `promote` (production moves for every camera).
 */
export const aliasActionSchema = z.enum(['promote', 'rollback', 'canary', 'canary-rollback']);

/** JSON objects stored as given (trainer parameters, evaluation metrics). */
export const jsonObjectSchema = z.record(z.string(), z.unknown());

export const modelSummarySchema = z
  .strictObject({
    version: z.string(),
    source: modelSourceSchema,
    /** sha256 of model.onnx as stored (after the registry wrote `visionloop_version` into it). */
    sha256: sha256Schema,
    bytes: z.number().int().min(0),
    task: registryModelTaskSchema,
    layout: outputLayoutSchema,
    classNames: z.array(z.string()),
    /** Network input size (the larger side when not square); null when the model did not say. */
    imgsz: z.number().int().nullable(),
    /** Whether weights.pt (for warm starts) is stored. */
    hasWeights: z.boolean(),
    parentVersion: z.string().nullable(),
    /** The dataset snapshot (manifest hash) it was trained on. */
    datasetId: z.string().nullable(),
    /** Aliases pointing at it now. */
    aliases: z.array(z.string()),
    notes: z.string().nullable(),
    createdBy: z.string().nullable(),
    createdAt: epochMsSchema,
  })
  .meta({ id: 'ModelSummary' });
export type ModelSummary = z.infer<typeof modelSummarySchema>;

export const modelDetailSchema = modelSummarySchema
  .extend({
    trainerParams: jsonObjectSchema.nullable(),
    metrics: jsonObjectSchema.nullable(),
    hasTrainingLog: z.boolean(),
    producer: z.string().nullable(),
    /** The ONNX `metadata_props` as stored. */
    metadata: z.record(z.string(), z.string()),
  })
  .meta({ id: 'ModelDetail' });
export type ModelDetail = z.infer<typeof modelDetailSchema>;

export const modelAliasSchema = z
  .strictObject({
    alias: z.string(),
    version: z.string(),
    sha256: sha256Schema,
    updatedAt: epochMsSchema,
    updatedBy: z.string().nullable(),
  })
  .meta({ id: 'ModelAlias' });
export type ModelAlias = z.infer<typeof modelAliasSchema>;

export const modelListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});
export type ModelListQuery = z.output<typeof modelListQuerySchema>;

export const modelListResponseSchema = z
  .strictObject({
    /** Newest first. */
    models: z.array(modelSummarySchema),
    total: z.number().int().min(0),
    aliases: z.array(modelAliasSchema),
  })
  .meta({ id: 'ModelList' });
export type ModelListResponse = z.infer<typeof modelListResponseSchema>;

/** One metric of a version beside production's (numeric leaves of `metrics`, dotted paths). */
export const metricComparisonSchema = z.strictObject({
  metric: z.string(),
  value: z.number().nullable(),
  production: z.number().nullable(),
  /** value − production, when both exist. */
  delta: z.number().nullable(),
});
export type MetricComparison = z.infer<typeof metricComparisonSchema>;

export const modelDetailResponseSchema = z
  .strictObject({
    model: modelDetailSchema,
    /** The production version the metrics are compared with; null when there is none. */
    production: z
      .strictObject({ version: z.string(), metrics: jsonObjectSchema.nullable() })
      .nullable(),
    comparison: z.array(metricComparisonSchema),
  })
  .meta({ id: 'ModelDetailResponse' });
export type ModelDetailResponse = z.infer<typeof modelDetailResponseSchema>;

export const modelVersionParamsSchema = z.strictObject({ version: registryVersionSchema });
export const aliasParamsSchema = z.strictObject({ alias: aliasNameSchema });

export const uploadModelQuerySchema = z.strictObject({
  /** Default: the model's `visionloop_version` metadata, else `model-<sha256 prefix>`. */
  version: registryVersionSchema.optional(),
  notes: notesSchema.optional(),
});
export type UploadModelQuery = z.output<typeof uploadModelQuerySchema>;

export const uploadModelResponseSchema = z
  .strictObject({
    model: modelDetailSchema,
    /** False when this exact version and artifact were already registered (idempotent). */
    created: z.boolean(),
  })
  .meta({ id: 'ModelUpload' });
export type UploadModelResponse = z.infer<typeof uploadModelResponseSchema>;

export const promoteRequestSchema = z
  .strictObject({
    alias: aliasNameSchema,
    reason: reasonSchema.optional(),
    /**
     * Override the promotion gate's rejection of this version (409 GATE_REJECTED without it);
     * needs a `reason`, kept in the alias history.
     */
    force: z.boolean().optional(),
  })
  .meta({ id: 'PromoteModel' });
export type PromoteRequest = z.infer<typeof promoteRequestSchema>;

export const rollbackRequestSchema = z
  .strictObject({ reason: reasonSchema.optional() })
  .meta({ id: 'RollbackAlias' });
export type RollbackRequest = z.infer<typeof rollbackRequestSchema>;

export const aliasHistoryEntrySchema = z
  .strictObject({
    id: z.string(),
    alias: z.string(),
    action: aliasActionSchema,
    fromVersion: z.string().nullable(),
    /** Null when the alias was removed. */
    toVersion: z.string().nullable(),
    actor: z.string().nullable(),
    reason: z.string().nullable(),
    at: epochMsSchema,
    /** Which cameras the move applied to (`canary` steps: e.g. `cameras cam-a, cam-b`); absent: all. */
    scope: z.string().nullable().optional(),
  })
  .meta({ id: 'AliasHistoryEntry' });
export type AliasHistoryEntry = z.infer<typeof aliasHistoryEntrySchema>;

export const aliasHistoryQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const aliasHistoryResponseSchema = z
  .strictObject({
    alias: z.string(),
    /** Where it points now; null when it does not exist (or was removed). */
    current: z.string().nullable(),
    /** Newest first. */
    history: z.array(aliasHistoryEntrySchema),
  })
  .meta({ id: 'AliasHistory' });
export type AliasHistoryResponse = z.infer<typeof aliasHistoryResponseSchema>;

export const errorInfoSchema = z.strictObject({ code: z.string(), message: z.string() });

/** What this server's inference did about a change of the model it should serve. */
export const servingOutcomeSchema = z
  .strictObject({
    /** True when a new session now answers /api/predict. */
    swapped: z.boolean(),
    /** The version serving now (the new one, or the old one after a failure). */
    version: z.string().nullable(),
    previousVersion: z.string().nullable(),
    /** Load + check + warm-up time of the new session, ms. */
    loadMs: z.number().min(0).nullable(),
    /** Why the new model is not serving; the old one keeps serving. */
    error: errorInfoSchema.nullable(),
  })
  .meta({ id: 'ServingOutcome' });
export type ServingOutcome = z.infer<typeof servingOutcomeSchema>;

export const aliasMoveResponseSchema = z
  .strictObject({
    alias: z.string(),
    /** False when the alias already pointed at the version (nothing recorded, nothing swapped). */
    changed: z.boolean(),
    fromVersion: z.string().nullable(),
    toVersion: z.string(),
    /** The history entry of this move; null when nothing changed. */
    entry: aliasHistoryEntrySchema.nullable(),
    /** Set when `production` moved: what this server's inference did about it. */
    serving: servingOutcomeSchema.nullable(),
  })
  .meta({ id: 'AliasMove' });
export type AliasMoveResponse = z.infer<typeof aliasMoveResponseSchema>;

/** This server's inference (one replica's view). */
export const servingStatusSchema = z
  .strictObject({
    version: z.string().nullable(),
    sha256: sha256Schema.nullable(),
    loadedAt: epochMsSchema.nullable(),
    /** Sessions swapped in since start. */
    swaps: z.number().int().min(0),
    /** /api/predict requests running now. */
    inFlight: z.number().int().min(0),
    /** The last swap that failed, while the previous model kept serving. */
    lastError: errorInfoSchema.extend({ version: z.string(), at: epochMsSchema }).nullable(),
  })
  .meta({ id: 'ServingStatus' });
export type ServingStatus = z.infer<typeof servingStatusSchema>;

export const predictQuerySchema = z.strictObject({
  conf: z.coerce.number().min(0).max(1).optional(),
  iou: z.coerce.number().min(0).max(1).optional(),
  maxDetections: z.coerce.number().int().min(1).max(1000).optional(),
});
export type PredictQuery = z.output<typeof predictQuerySchema>;

export const predictResponseSchema = z
  .strictObject({
    /** The version whose session produced these detections. */
    modelVersion: modelVersionSchema,
    modelSha256: sha256Schema,
    width: z.number().int().min(1),
    height: z.number().int().min(1),
    detections: z.array(detectionSchema),
    timings: z.strictObject({
      decodeMs: z.number().min(0),
      preprocessMs: z.number().min(0),
      inferenceMs: z.number().min(0),
      postprocessMs: z.number().min(0),
    }),
  })
  .meta({ id: 'Prediction' });
export type PredictResponse = z.infer<typeof predictResponseSchema>;

/** What an agent needs to follow `production` (heartbeat answers, model events). */
export const productionRefSchema = z
  .strictObject({ version: z.string(), sha256: sha256Schema })
  .meta({ id: 'ProductionRef' });
export type ProductionRef = z.infer<typeof productionRefSchema>;
