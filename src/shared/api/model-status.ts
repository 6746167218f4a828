/**
 * The model-status contract (GET /api/model-status): which model versions the agents report
 * running and which versions recent results carry. The model registry (a later issue) adds
 * its aliases (`production`, `staging`) as new top-level fields; clients must ignore fields
 * they do not know.
 */
import { z } from 'zod';
import { cameraNameSchema, epochMsSchema, idSchema } from './common.js';
import { modelAliasSchema, servingStatusSchema } from './models.js';

export const modelVersionUsageSchema = z
  .strictObject({
    version: z.string(),
    /** Online agents whose last heartbeat or registration reported this version. */
    agents: z.array(idSchema),
    /** Cameras whose results in the window carry this version. */
    cameras: z.array(cameraNameSchema),
    /** Results in the window that carry this version. */
    recentResults: z.number().int().min(0),
    /** Capture time of the newest stored result carrying this version; null if none. */
    lastResultAt: epochMsSchema.nullable(),
  })
  .meta({ id: 'ModelVersionUsage' });
export type ModelVersionUsage = z.infer<typeof modelVersionUsageSchema>;

export const modelStatusResponseSchema = z
  .strictObject({
    serverTime: epochMsSchema,
    /** The window `recentResults` and `cameras` cover: results captured at or after this. */
    windowStart: epochMsSchema,
    /**
     * False when the window held more results than the server counts per request: then
     * `recentResults` and `cameras` cover only the newest of them.
     */
    countsComplete: z.boolean(),
    /** Newest first by last result. */
    versions: z.array(modelVersionUsageSchema),
    /** The registry's `production` and `staging` aliases (null: not set). */
    production: modelAliasSchema.nullable().optional(),
    staging: modelAliasSchema.nullable().optional(),
    /** What this server's /api/predict serves. */
    serving: servingStatusSchema.optional(),
  })
  .meta({ id: 'ModelStatus' });
export type ModelStatusResponse = z.infer<typeof modelStatusResponseSchema>;
