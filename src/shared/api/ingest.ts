/**
 * The ingest contract between agents and the server: batches of frame results (the
 * FrameResult of src/shared/domain.ts) with client-generated ids. The server answers only after
 * the batch is committed; a result whose id is already stored is counted as a duplicate and
 * not stored again, so a batch sent twice is stored once.
 */
import { z } from 'zod';
import type { FrameResult } from '../domain.js';
import {
  cameraNameSchema,
  epochMsSchema,
  idSchema,
  modelVersionSchema,
  plainText,
} from './common.js';
import { frameSamplingSchema } from './sampling.js';

/** Largest batch the server accepts. */
export const MAX_INGEST_BATCH = 1000;
/** Most detections a frame result may carry. */
export const MAX_DETECTIONS_PER_FRAME = 300;
/** Largest frame side in pixels a result may describe. */
export const MAX_FRAME_SIDE = 16384;
/** Most class scores a detection may carry (agents drop them for models with more classes). */
export const MAX_CLASS_SCORES = 1024;

const finite = z.number();

export const boxSchema = z.strictObject({ x1: finite, y1: finite, x2: finite, y2: finite });

export const detectionSchema = z.strictObject({
  classId: z.number().int().min(0).max(10_000),
  className: plainText(z.string().min(1).max(64)),
  confidence: z.number().min(0).max(1),
  box: boxSchema,
  /** Class scores in class-id order; only on sampled results (see Detection). */
  classScores: z.array(z.number()).max(MAX_CLASS_SCORES).optional(),
});

export const frameFeaturesSchema = z.strictObject({
  brightness: finite,
  contrast: finite,
  sharpness: finite,
  saturation: finite,
  noise: finite,
  colorCast: finite,
  edgeDensity: finite,
});

export const frameLatenciesSchema = z.strictObject({
  queueMs: z.number().min(0),
  preprocessMs: z.number().min(0),
  inferenceMs: z.number().min(0),
  postprocessMs: z.number().min(0),
  totalMs: z.number().min(0),
});

/** Most points of a segmented outline (x, y pairs). */
export const MAX_POLYGON_POINTS = 64;

export const cropClassificationSchema = z.strictObject({
  classId: z.number().int().min(0).max(10_000),
  className: plainText(z.string().min(1).max(64)),
  confidence: z.number().min(0).max(1),
});

export const cropSegmentationSchema = z.strictObject({
  areaPx: z.number().min(0),
  areaMm2: z.number().min(0).nullable(),
  polygon: z.array(finite).max(MAX_POLYGON_POINTS * 2),
});

export const detectionStagesSchema = z.strictObject({
  classification: cropClassificationSchema.optional(),
  segmentation: cropSegmentationSchema.optional(),
  vetoed: z.boolean(),
});

export const inspectionStagesSchema = z
  .strictObject({
    versions: z.strictObject({
      classify: modelVersionSchema.optional(),
      segment: modelVersionSchema.optional(),
    }),
    detections: z.array(detectionStagesSchema).max(MAX_DETECTIONS_PER_FRAME),
    totalAreaPx: z.number().min(0).nullable(),
    totalAreaMm2: z.number().min(0).nullable(),
    maxSeverity: z.number().int().min(0).nullable(),
    timings: z.strictObject({
      classifyMs: z.number().min(0).optional(),
      segmentMs: z.number().min(0).optional(),
    }),
  })
  .meta({ id: 'InspectionStages' });

export const shadowResultSchema = z
  .strictObject({
    version: modelVersionSchema,
    detections: z.array(detectionSchema).max(MAX_DETECTIONS_PER_FRAME),
    decision: z.enum(['PASS', 'FAIL']),
    disagreement: z.number().min(0).max(1),
    disagrees: z.boolean(),
    inferenceMs: z.number().min(0),
  })
  .meta({ id: 'ShadowResult' });

/** Rule ids (`decidedBy`): as chain rule ids (inspection-chain.ts). */
const ruleIdSchema = z.string().regex(/^[a-z][a-z0-9-]{0,63}$/);

export const frameResultSchema = z
  .strictObject({
    id: idSchema,
    camera: cameraNameSchema,
    frameIndex: z.number().int().min(0),
    capturedAt: epochMsSchema,
    width: z.number().int().min(1).max(MAX_FRAME_SIDE),
    height: z.number().int().min(1).max(MAX_FRAME_SIDE),
    detections: z.array(detectionSchema).max(MAX_DETECTIONS_PER_FRAME),
    uncertain: z.boolean(),
    decision: z.enum(['PASS', 'FAIL']),
    features: frameFeaturesSchema,
    latencies: frameLatenciesSchema,
    modelVersion: modelVersionSchema,
    inferred: z.boolean(),
    sampling: frameSamplingSchema.optional(),
    stages: inspectionStagesSchema.optional(),
    decidedBy: ruleIdSchema.optional(),
    shadow: shadowResultSchema.optional(),
  })
  .meta({ id: 'FrameResult' });

// The wire schema and the domain type must not drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const frameResultMatchesDomain: Same<z.infer<typeof frameResultSchema>, FrameResult> = true;
void frameResultMatchesDomain;

export const ingestBatchRequestSchema = z
  .strictObject({
    /** The registered agent sending the batch (from POST /api/agents/register). */
    agentId: idSchema.optional(),
    results: z.array(frameResultSchema).min(1).max(MAX_INGEST_BATCH),
  })
  .meta({ id: 'IngestBatch' });
export type IngestBatchRequest = z.infer<typeof ingestBatchRequestSchema>;

export const ingestBatchResponseSchema = z
  .strictObject({
    /** Results stored by this request. */
    accepted: z.number().int().min(0),
    /** Results whose id was already stored (a retried batch); not stored again. */
    duplicates: z.number().int().min(0),
    /** Server time of the commit, epoch ms. */
    committedAt: epochMsSchema,
  })
  .meta({ id: 'IngestAck' });
export type IngestBatchResponse = z.infer<typeof ingestBatchResponseSchema>;

/** Answer to PUT /api/frames/{id} (body: the JPEG bytes, Content-Type image/jpeg). */
export const frameUploadResponseSchema = z
  .strictObject({
    id: idSchema,
    /** sha256 of the stored JPEG, the blob store key. */
    blob: z.string().regex(/^[0-9a-f]{64}$/),
    width: z.number().int(),
    height: z.number().int(),
    bytes: z.number().int(),
  })
  .meta({ id: 'FrameUpload' });
export type FrameUploadResponse = z.infer<typeof frameUploadResponseSchema>;

/** Largest JPEG the server accepts for a frame, bytes. */
export const MAX_FRAME_UPLOAD_BYTES = 8 * 1024 * 1024;
/** Largest decoded frame the server accepts, pixels (guards against decompression bombs). */
export const MAX_FRAME_PIXELS = 40_000_000;

/** Path parameters of /api/frames/{id}: the frame result's id. */
export const frameIdParamsSchema = z.strictObject({ id: idSchema });
