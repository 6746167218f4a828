/**
 * The labeling-queue contract: the items sampled frames become, the reviewer's actions on them
 * (claim, label, skip, flag, approve, reject), the history and statistics, and the labeling
 * and class settings. Browser-safe (zod only). docs/labeling.md describes the workflow.
 *
 * Boxes are in frame pixels, corner form, like detections. A label is either a list of boxes
 * or an explicit "no defects" (an empty list alone is refused, so a reviewer cannot submit an
 * empty label by accident).
 */
import { z } from 'zod';
import {
  cameraNameSchema,
  epochMsSchema,
  idSchema,
  modelVersionSchema,
  plainText,
} from './common.js';
import { MAX_POLYGON_POINTS, detectionSchema } from './ingest.js';
import { pageCursorSchema, queryEpochMsSchema } from './query.js';

/** Where an item is in the review. `claimed` with an expired lease is reported as `pending`. */
export const LABELING_STATUSES = [
  'pending',
  'claimed',
  'labeled',
  'approved',
  'rejected',
  'skipped',
  'flagged',
] as const;
export const labelingStatusSchema = z.enum(LABELING_STATUSES);
export type LabelingStatusName = z.infer<typeof labelingStatusSchema>;

/** Most boxes one label may hold (as many as a frame result may carry). */
export const MAX_LABEL_BOXES = 300;
/** Most characters of reviewer notes. */
export const MAX_NOTES_LENGTH = 2000;
/** Default and longest lease on a claimed item, seconds. */
export const DEFAULT_LEASE_SECONDS = 300;
export const MAX_LEASE_SECONDS = 86_400;
/** A box may overshoot the image by at most this many pixels; it is clipped. */
export const BOX_OVERSHOOT_PX = 1;
/** The smallest box side a reviewer may draw, pixels. */
export const MIN_BOX_SIDE_PX = 1;

/** Free text with line breaks and tabs allowed (but no other control characters). */
const notesSchema = z
  .string()
  .max(MAX_NOTES_LENGTH)
  .regex(/^(?:[^\p{Cc}\p{Cs}]|[\n\t])*$/u, 'no control characters other than line breaks');

/** A class name as the deployment knows it. */
export const classNameSchema = plainText(z.string().min(1).max(64));

const coordinate = z.number().min(-1e6).max(1e6);

/** Fewest points of a mask outline (a triangle). */
export const MIN_POLYGON_POINTS = 3;
export { MAX_POLYGON_POINTS };

/**
 * A defect's mask outline in frame pixels, flat `[x0, y0, x1, y1, …]`: 3 to 64 points, each
 * inside the frame (1 px overshoot clipped) and inside its box (checked by the service).
 */
export const labelPolygonSchema = z
  .array(coordinate)
  .min(MIN_POLYGON_POINTS * 2, `a polygon needs at least ${MIN_POLYGON_POINTS} points (x, y pairs)`)
  .max(MAX_POLYGON_POINTS * 2, `a polygon has at most ${MAX_POLYGON_POINTS} points`)
  .refine((values) => values.length % 2 === 0, 'a polygon is flat x, y pairs (an even count)');

export const labelBoxSchema = z
  .strictObject({
    className: classNameSchema,
    box: z.strictObject({ x1: coordinate, y1: coordinate, x2: coordinate, y2: coordinate }),
    /** The defect's mask outline (segment stage training data); optional. */
    polygon: labelPolygonSchema.optional(),
    /**
     * The crop classifier's class for this box (classify stage training data), e.g. a
     * severity `minor`/`major`; optional.
     */
    cropClass: classNameSchema.optional(),
  })
  .meta({ id: 'LabelBox' });
export type LabelBox = z.infer<typeof labelBoxSchema>;

export const labelRequestSchema = z
  .strictObject({
    /** The reviewer's boxes: the pre-labels moved, resized, relabelled or deleted, plus misses. */
    boxes: z.array(labelBoxSchema).max(MAX_LABEL_BOXES),
    /** Set (with no boxes) to say the frame shows no defect. */
    noDefects: z.boolean().optional(),
    notes: notesSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.boxes.length === 0 && value.noDefects !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['noDefects'],
        message: 'send at least one box, or noDefects: true for a frame without defects',
      });
    }
    if (value.boxes.length > 0 && value.noDefects === true) {
      ctx.addIssue({
        code: 'custom',
        path: ['noDefects'],
        message: 'noDefects: true cannot come with boxes',
      });
    }
  })
  .meta({ id: 'LabelRequest' });
export type LabelRequest = z.infer<typeof labelRequestSchema>;

export const skipRequestSchema = z
  .strictObject({ notes: notesSchema.optional() })
  .meta({ id: 'SkipRequest' });
export type SkipRequest = z.infer<typeof skipRequestSchema>;

export const flagRequestSchema = z
  .strictObject({
    /** What the model got wrong, e.g. "crack called a scratch", "missed a dent". */
    reason: plainText(z.string().trim().min(1).max(500)),
    notes: notesSchema.optional(),
  })
  .meta({ id: 'FlagRequest' });
export type FlagRequest = z.infer<typeof flagRequestSchema>;

export const approveRequestSchema = z
  .strictObject({ notes: notesSchema.optional() })
  .meta({ id: 'ApproveRequest' });
export type ApproveRequest = z.infer<typeof approveRequestSchema>;

export const rejectRequestSchema = z
  .strictObject({
    notes: notesSchema.optional(),
    /** Put the item back in the queue to be labelled again (default: it stays rejected). */
    requeue: z.boolean().optional(),
  })
  .meta({ id: 'RejectRequest' });
export type RejectRequest = z.infer<typeof rejectRequestSchema>;

/** Most items one bulk review may hold. */
export const MAX_BULK_REVIEW_ITEMS = 200;

export const BULK_REVIEW_ACTIONS = ['approve', 'reject'] as const;

export const bulkReviewRequestSchema = z
  .strictObject({
    action: z.enum(BULK_REVIEW_ACTIONS),
    /** The labelled items to approve or reject, each at most once. */
    ids: z
      .array(idSchema)
      .min(1)
      .max(MAX_BULK_REVIEW_ITEMS)
      .refine((ids) => new Set(ids).size === ids.length, 'each id at most once'),
    notes: notesSchema.optional(),
    /** Reject only: put the items back in the queue (see RejectRequest). */
    requeue: z.boolean().optional(),
  })
  .superRefine((value, ctx) => {
    if (value.action === 'approve' && value.requeue !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['requeue'],
        message: 'requeue goes with action reject only',
      });
    }
  })
  .meta({ id: 'BulkReviewRequest' });
export type BulkReviewRequest = z.infer<typeof bulkReviewRequestSchema>;

/** Token names of the demo's simulated reviewer identities (`visionloop up`) start with this. */
export const SIMULATED_REVIEWER_PREFIX = 'simulated-';

/** Whether a reviewer token's name marks it as the demo's simulated reviewer. */
export function isSimulatedReviewerName(name: string | null | undefined): boolean {
  return typeof name === 'string' && name.startsWith(SIMULATED_REVIEWER_PREFIX);
}

/**
 * Another model's boxes for the same frame, shown beside the pre-labels: the output of the
 * shadow model that ran beside the serving one (a `committee` item: they disagreed).
 */
export const labelingAlternativeSchema = z
  .strictObject({
    source: z.literal('shadow'),
    modelVersion: modelVersionSchema,
    /** In the frame's pixels, like `preLabels`. */
    detections: z.array(detectionSchema),
    decision: z.enum(['PASS', 'FAIL']),
    /** 1 − F1 of these boxes against the pre-labels' model, 0..1. */
    disagreement: z.number().min(0).max(1),
  })
  .meta({ id: 'LabelingAlternative' });
export type LabelingAlternative = z.infer<typeof labelingAlternativeSchema>;

/** A token that acted on an item: its id and (when the token still exists) its name. */
export const reviewerSchema = z
  .strictObject({
    id: z.string(),
    name: z.string().nullable(),
    /**
     * True for the demo's simulated reviewer (`simulated-reviewer`, `simulated-approver`):
     * labels it gave come from the synthetic line's ground truth, not from a person.
     */
    simulated: z.boolean().optional(),
  })
  .meta({ id: 'Reviewer' });
export type Reviewer = z.infer<typeof reviewerSchema>;

export const labelingItemSchema = z
  .strictObject({
    id: idSchema,
    /** The frame result this item was sampled from. */
    predictionId: idSchema.nullable(),
    camera: z.string(),
    capturedAt: epochMsSchema.nullable(),
    /** `GET` it with the same token: the frame's JPEG. Null when the frame is not linked. */
    frameUrl: z.string().nullable(),
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
    status: labelingStatusSchema,
    /** Higher first: the sampler's informativeness score. */
    priority: z.number(),
    /** Why it was sampled (`low_confidence`, `random`, `drift`, …). */
    reason: z.string(),
    /**
     * The ranking strategy that contributed most to its priority (`uncertainty`,
     * `candidates`, `diversity`, `class_balance`, `random`, or `committee` when a shadow
     * model disagreed, scored by its disagreement) and that strategy's score 0..1;
     * null for items queued without a ranking (docs/sampling.md, "Ranking").
     */
    strategy: z.string().nullable(),
    strategyScore: z.number().nullable(),
    /** The model version whose detections are the pre-labels. */
    modelVersion: modelVersionSchema.nullable(),
    /** The model's detections, for the reviewer to correct. */
    preLabels: z.array(detectionSchema),
    /**
     * Other models' boxes for the frame (a shadow model's, for `committee` items), to compare
     * with the pre-labels; empty when there are none. Absent from servers before issue 18.
     */
    alternatives: z.array(labelingAlternativeSchema).optional(),
    /** The live claim; null when nobody holds one (an expired lease is no claim). */
    claim: z
      .strictObject({
        reviewer: reviewerSchema,
        claimedAt: epochMsSchema,
        expiresAt: epochMsSchema,
      })
      .nullable(),
    /** The reviewer's boxes; `[]` means "no defects"; null until labelled. */
    labels: z.array(labelBoxSchema).nullable(),
    labeledBy: reviewerSchema.nullable(),
    labeledAt: epochMsSchema.nullable(),
    /** Claim to submission, ms. */
    leadTimeMs: z.number().int().nullable(),
    notes: z.string().nullable(),
    flaggedReason: z.string().nullable(),
    reviewedBy: reviewerSchema.nullable(),
    reviewedAt: epochMsSchema.nullable(),
    reviewNotes: z.string().nullable(),
    createdAt: epochMsSchema,
    updatedAt: epochMsSchema,
  })
  .meta({ id: 'LabelingItem' });
export type LabelingItem = z.infer<typeof labelingItemSchema>;

/**
 * One item of a bulk review: done (the item as it is now), or refused with the code and message
 * the single-item route would have answered (FORBIDDEN for one's own label, CONFLICT, …).
 */
export const bulkReviewResultSchema = z
  .discriminatedUnion('ok', [
    z.strictObject({ id: idSchema, ok: z.literal(true), item: labelingItemSchema }),
    z.strictObject({
      id: idSchema,
      ok: z.literal(false),
      error: z.strictObject({ code: z.string(), message: z.string() }),
    }),
  ])
  .meta({ id: 'BulkReviewResult' });
export type BulkReviewResult = z.infer<typeof bulkReviewResultSchema>;

export const bulkReviewResponseSchema = z
  .strictObject({
    action: z.enum(BULK_REVIEW_ACTIONS),
    /** In the order of the request's ids. */
    results: z.array(bulkReviewResultSchema),
    succeeded: z.number().int().min(0),
    failed: z.number().int().min(0),
  })
  .meta({ id: 'BulkReviewResponse' });
export type BulkReviewResponse = z.infer<typeof bulkReviewResponseSchema>;

export const LABELING_DEFAULT_LIMIT = 50;
export const LABELING_MAX_LIMIT = 500;

const limitSchema = z.coerce
  .number()
  .int()
  .min(1)
  .max(LABELING_MAX_LIMIT)
  .default(LABELING_DEFAULT_LIMIT);

export const queueListQuerySchema = z
  .strictObject({
    /** Items with this status (default `pending`: waiting, including expired claims). */
    status: z.enum([...LABELING_STATUSES, 'all']).default('pending'),
    camera: cameraNameSchema.optional(),
    /** Only items sampled for this reason. */
    reason: plainText(z.string().min(1).max(64)).optional(),
    /** Only items of this strategy (`committee`: a shadow model disagreed). */
    strategy: plainText(z.string().min(1).max(64)).optional(),
    limit: limitSchema,
    offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  })
  .meta({ id: 'LabelingQueueQuery' });
export type QueueListQuery = z.output<typeof queueListQuerySchema>;

export const queueListResponseSchema = z
  .strictObject({
    /** Highest priority first, then oldest first. */
    items: z.array(labelingItemSchema),
    /** Items matching the filter. */
    total: z.number().int().min(0),
    limit: z.number().int(),
    offset: z.number().int(),
  })
  .meta({ id: 'LabelingQueuePage' });
export type QueueListResponse = z.infer<typeof queueListResponseSchema>;

/** The answer to `GET /api/labeling-queue/next`: the claimed item, or null when none waits. */
export const nextItemResponseSchema = z
  .strictObject({ item: labelingItemSchema.nullable() })
  .meta({ id: 'LabelingNext' });
export type NextItemResponse = z.infer<typeof nextItemResponseSchema>;

export const labelingItemParamsSchema = z.strictObject({ id: idSchema });

export const historyQuerySchema = z
  .strictObject({
    /** Only items this token (id) labelled, skipped or flagged. */
    reviewer: idSchema.optional(),
    status: z.enum(['labeled', 'approved', 'rejected', 'skipped', 'flagged']).optional(),
    limit: limitSchema,
    /** `nextCursor` of the previous page. */
    cursor: pageCursorSchema.optional(),
  })
  .meta({ id: 'LabelingHistoryQuery' });
export type HistoryQuery = z.output<typeof historyQuerySchema>;

export const historyResponseSchema = z
  .strictObject({
    /** Newest action first. */
    items: z.array(labelingItemSchema),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'LabelingHistory' });
export type HistoryResponse = z.infer<typeof historyResponseSchema>;

export const statsQuerySchema = z
  .strictObject({
    /** Start of the throughput window, epoch ms (default: 24 hours ago). */
    since: queryEpochMsSchema.optional(),
    /** End of the throughput window, epoch ms (default: now). */
    until: queryEpochMsSchema.optional(),
  })
  .meta({ id: 'LabelingStatsQuery' });
export type StatsQuery = z.output<typeof statsQuerySchema>;

const countsShape = Object.fromEntries(
  LABELING_STATUSES.map((status) => [status, z.number().int().min(0)]),
) as Record<LabelingStatusName, z.ZodNumber>;

export const reviewerStatsSchema = z
  .strictObject({
    reviewer: reviewerSchema,
    /** Items this reviewer labelled in the window (whatever happened to them since). */
    labeled: z.number().int().min(0),
    skipped: z.number().int().min(0),
    flagged: z.number().int().min(0),
    /** Of the items labelled in the window, how many a second reviewer approved / rejected. */
    approvedOfTheirs: z.number().int().min(0),
    rejectedOfTheirs: z.number().int().min(0),
    /** Approvals and rejections this reviewer made in the window. */
    reviewed: z.number().int().min(0),
    /** Mean claim-to-submission time of their labels, skips and flags, ms. */
    meanLeadTimeMs: z.number().nullable(),
    /** Labels, skips and flags per hour of the window. */
    itemsPerHour: z.number(),
  })
  .meta({ id: 'ReviewerStats' });
export type ReviewerStats = z.infer<typeof reviewerStatsSchema>;

export const statsResponseSchema = z
  .strictObject({
    /** Items by status now (an expired claim counts as pending). */
    counts: z.strictObject({ ...countsShape, total: z.number().int().min(0) }),
    /** Approved labels ready for training (reviewed_labels, imports included). */
    reviewedLabels: z.number().int().min(0),
    window: z.strictObject({ since: epochMsSchema, until: epochMsSchema }),
    /** Labels, skips and flags in the window, all reviewers. */
    actions: z.number().int().min(0),
    actionsPerHour: z.number(),
    reviewers: z.array(reviewerStatsSchema),
  })
  .meta({ id: 'LabelingStats' });
export type StatsResponse = z.infer<typeof statsResponseSchema>;

/** The `labeling` setting: how the review works. */
export const labelingSettingsSchema = z
  .object({
    revision: z.number().int().min(0),
    /**
     * A labeler's label needs a second reviewer's approval before it becomes training data.
     * Labels submitted with an admin token are approved on submission.
     */
    requireApproval: z.boolean(),
    /** How long a claim lasts without being renewed (claiming again renews it), seconds. */
    leaseSeconds: z.number().int().min(10).max(MAX_LEASE_SECONDS),
  })
  .meta({ id: 'LabelingSettings' });
export type LabelingSettings = z.infer<typeof labelingSettingsSchema>;

export const DEFAULT_LABELING_SETTINGS: LabelingSettings = {
  revision: 0,
  requireApproval: true,
  leaseSeconds: DEFAULT_LEASE_SECONDS,
};

export const updateLabelingSettingsSchema = labelingSettingsSchema
  .omit({ revision: true })
  .partial()
  .strict()
  .meta({ id: 'UpdateLabelingSettings' });
export type UpdateLabelingSettings = z.infer<typeof updateLabelingSettingsSchema>;

/** The `classes` setting: the deployment's class names, in class-id order. */
export const classesSettingsSchema = z
  .object({
    revision: z.number().int().min(0),
    classes: z.array(classNameSchema).min(1).max(1000),
  })
  .meta({ id: 'ClassesSettings' });
export type ClassesSettings = z.infer<typeof classesSettingsSchema>;

export const updateClassesSettingsSchema = z
  .strictObject({ classes: z.array(classNameSchema).min(1).max(1000) })
  .meta({ id: 'UpdateClassesSettings' });
export type UpdateClassesSettings = z.infer<typeof updateClassesSettingsSchema>;

export const EXPORT_FORMATS = ['yolo', 'coco'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const exportQuerySchema = z
  .strictObject({
    format: z.enum(EXPORT_FORMATS).default('yolo'),
    /** A snapshot's id; default: every approved label now (newest label per image). */
    dataset: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'a dataset id (64 hex digits)')
      .optional(),
  })
  .meta({ id: 'LabelingExportQuery' });
export type ExportQuery = z.output<typeof exportQuerySchema>;
