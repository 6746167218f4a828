/**
 * The health contract (GET /api/health): can the server reach its database and blob store,
 * which agents it has heard from, and which versions are running. A load balancer reads the
 * status code (200 ok, 503 when a dependency is down); people read the body.
 */
import { z } from 'zod';
import { agentStatusSchema } from './agents.js';
import { epochMsSchema } from './common.js';

export const healthResponseSchema = z
  .strictObject({
    /** `ok` when the database and the blob store answer; `degraded` otherwise (HTTP 503). */
    status: z.enum(['ok', 'degraded']),
    serverTime: epochMsSchema,
    uptimeSeconds: z.number().min(0),
    database: z.strictObject({
      ok: z.boolean(),
      dialect: z.enum(['sqlite', 'postgres']),
      /** One `select 1` round trip, ms. */
      roundTripMs: z.number().min(0).nullable(),
      error: z.string().optional(),
    }),
    blobStore: z.strictObject({
      ok: z.boolean(),
      kind: z.string(),
      error: z.string().optional(),
    }),
    agents: z.array(agentStatusSchema),
    versions: z.strictObject({
      server: z.string(),
      /** Model versions carried by results received in the last few minutes. */
      models: z.array(z.string()),
    }),
  })
  .meta({ id: 'Health' });
export type HealthResponse = z.infer<typeof healthResponseSchema>;
