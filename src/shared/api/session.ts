/**
 * The `/api/session` contract: who the presented token belongs to. The dashboard calls it at
 * sign-in to check a token and learn its scope (what to show); any valid token may ask.
 * Browser-safe (zod only).
 */
import { z } from 'zod';
import { epochMsSchema, idSchema, scopeSchema } from './common.js';

export const sessionResponseSchema = z
  .strictObject({
    tokenId: idSchema,
    name: z.string(),
    scope: scopeSchema,
    /** The server's clock, epoch ms (the dashboard shows times in the browser's zone). */
    serverTime: epochMsSchema,
  })
  .meta({ id: 'Session' });
export type SessionResponse = z.infer<typeof sessionResponseSchema>;
