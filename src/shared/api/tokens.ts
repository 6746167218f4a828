/**
 * API token contracts. A token is `vl_` followed by 43 base64url characters (32 random bytes);
 * the server stores only its sha256 and shows the secret once, in the answer that creates it.
 * No answer after that ever carries the secret or its hash.
 */
import { z } from 'zod';
import { epochMsSchema, idSchema, scopeSchema } from './common.js';

/** The shape of every token the server issues. */
export const TOKEN_PATTERN = /^vl_[A-Za-z0-9_-]{43}$/;

/** A person-readable label for a token: who or what holds it. */
export const tokenNameSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^\P{Cc}+$/u, 'no control characters');

export const createTokenRequestSchema = z
  .strictObject({
    name: tokenNameSchema,
    scope: scopeSchema,
    /** When the token stops working, epoch ms; omit for a token that does not expire. */
    expiresAt: epochMsSchema.optional(),
  })
  .meta({ id: 'CreateToken' });
export type CreateTokenRequest = z.infer<typeof createTokenRequestSchema>;

/** A token as listed: never the secret. */
export const tokenInfoSchema = z
  .strictObject({
    id: idSchema,
    name: z.string(),
    scope: scopeSchema,
    createdAt: epochMsSchema,
    createdBy: z.string().nullable(),
    lastUsedAt: epochMsSchema.nullable(),
    expiresAt: epochMsSchema.nullable(),
    revokedAt: epochMsSchema.nullable(),
  })
  .meta({ id: 'TokenInfo' });
export type TokenInfo = z.infer<typeof tokenInfoSchema>;

/** The answer to POST /api/tokens: the only time the secret is shown. */
export const createdTokenSchema = tokenInfoSchema
  .extend({
    /** The secret, `vl_…`. Store it now: the server keeps only its hash. */
    token: z.string().regex(TOKEN_PATTERN),
  })
  .meta({ id: 'CreatedToken' });
export type CreatedToken = z.infer<typeof createdTokenSchema>;

export const tokenListResponseSchema = z
  .strictObject({ tokens: z.array(tokenInfoSchema) })
  .meta({ id: 'TokenList' });
export type TokenListResponse = z.infer<typeof tokenListResponseSchema>;

export const tokenIdParamsSchema = z.strictObject({ id: idSchema });
