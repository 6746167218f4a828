/**
 * Building blocks of the HTTP API contracts: the error body, token scopes, identifier rules.
 * Browser-safe (zod only). The schemas are the single source of request/response types and
 * of the OpenAPI document served at /docs.
 */
import { z } from 'zod';

/** Every 4xx/5xx answer: `{"error":{"code","message"}}` with a code from the catalogue. */
export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().describe('UPPER_SNAKE code from the error catalogue'),
      message: z.string().describe('what went wrong, for people'),
    }),
  })
  .meta({ id: 'ErrorBody' });
export type ErrorBody = z.infer<typeof errorBodySchema>;

/**
 * Token scopes. `agent` may only ingest and read its settings; `viewer` reads everything;
 * `labeler` also works the labeling queue; `admin` may do anything.
 */
export const SCOPES = ['agent', 'viewer', 'labeler', 'admin'] as const;
export const scopeSchema = z.enum(SCOPES);
export type Scope = z.infer<typeof scopeSchema>;

/**
 * Client-generated identifiers (frame results, agents): letters, digits and `._:-`, starting
 * with a letter or digit, at most 128 characters. Never a path: no `/`, no leading dot.
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const idSchema = z
  .string()
  .regex(
    ID_PATTERN,
    'letters, digits and . _ : - only, starting with a letter or digit, at most 128',
  );

/** Camera names follow the id rules, at most 64 characters. */
export const cameraNameSchema = z
  .string()
  .max(64)
  .regex(ID_PATTERN, 'letters, digits and . _ : - only, starting with a letter or digit');

/** Epoch milliseconds. */
export const epochMsSchema = z.number().int().min(0).max(8.64e15);

/**
 * Free text the server stores (class names, versions, host names): no control characters
 * (PostgreSQL text cannot hold NUL) and no unpaired UTF-16 surrogates (not valid Unicode, and
 * stored differently by each database).
 */
export const PLAIN_TEXT_PATTERN = /^[^\p{Cc}\p{Cs}]*$/u;
const PLAIN_TEXT_MESSAGE = 'no control characters or unpaired surrogates';

/** `schema` (a string schema) restricted to PLAIN_TEXT_PATTERN. */
export function plainText(schema: z.ZodString): z.ZodString {
  return schema.regex(PLAIN_TEXT_PATTERN, PLAIN_TEXT_MESSAGE);
}

/** A model version label as the runtime reports it. */
export const modelVersionSchema = plainText(z.string().min(1).max(128));
