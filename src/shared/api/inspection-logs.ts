/**
 * The inspection-logs contract: stored frame results, newest first, filtered and paged with an
 * opaque cursor. Query values arrive as strings and are coerced here.
 */
import { z } from 'zod';
import { cameraNameSchema, epochMsSchema, idSchema, modelVersionSchema } from './common.js';
import { frameResultSchema } from './ingest.js';
import { pageCursorSchema, queryBooleanSchema, queryEpochMsSchema } from './query.js';

export const INSPECTION_LOGS_DEFAULT_LIMIT = 50;
export const INSPECTION_LOGS_MAX_LIMIT = 500;

export const inspectionLogsQuerySchema = z
  .strictObject({
    /** Captured at or after, epoch ms. */
    from: queryEpochMsSchema.optional(),
    /** Captured before, epoch ms. */
    to: queryEpochMsSchema.optional(),
    camera: cameraNameSchema.optional(),
    /** Results with at least one detection of this class. */
    class: z.string().min(1).max(64).optional(),
    decision: z.enum(['PASS', 'FAIL']).optional(),
    uncertain: queryBooleanSchema.optional(),
    modelVersion: modelVersionSchema.optional(),
    /** Results failed by this decision rule (`decidedBy`, e.g. `fail-threshold`). */
    decidedBy: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,63}$/, 'a decision rule id (lowercase letters, digits and -)')
      .optional(),
    /**
     * true: results whose shadow model disagreed with the serving model; false: results whose
     * shadow agreed. Results without a shadow match neither.
     */
    shadowDisagrees: queryBooleanSchema.optional(),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(INSPECTION_LOGS_MAX_LIMIT)
      .default(INSPECTION_LOGS_DEFAULT_LIMIT),
    /** `nextCursor` of the previous page. */
    cursor: pageCursorSchema.optional(),
  })
  .meta({ id: 'InspectionLogsQuery' });
export type InspectionLogsQuery = z.output<typeof inspectionLogsQuerySchema>;

/**
 * A stored result as sent (FrameResult: `stages`, `decidedBy` and `shadow` present when the
 * result carried them) and what the server adds.
 */
export const inspectionLogItemSchema = frameResultSchema
  .extend({
    /** Server time the result was stored, epoch ms. */
    receivedAt: epochMsSchema,
    /** The agent that sent it, when it said. */
    agentId: idSchema.nullable(),
    /** Whether the frame's JPEG was uploaded (GET /api/frames/{id}). */
    hasFrame: z.boolean(),
  })
  .meta({ id: 'InspectionLogItem' });
export type InspectionLogItem = z.infer<typeof inspectionLogItemSchema>;

export const inspectionLogsResponseSchema = z
  .strictObject({
    items: z.array(inspectionLogItemSchema),
    /** Pass as `cursor` for the next (older) page; null on the last page. */
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'InspectionLogs' });
export type InspectionLogsResponse = z.infer<typeof inspectionLogsResponseSchema>;

/** `GET /api/inspection-logs/{id}`: one stored result (a frame's detail page). */
export const inspectionLogParamsSchema = z.strictObject({ id: idSchema });
export type InspectionLogParams = z.infer<typeof inspectionLogParamsSchema>;
