/**
 * Query-string building blocks shared by the list contracts: values arrive as strings and are
 * coerced here. Browser-safe (zod only).
 */
import { z } from 'zod';
import { epochMsSchema } from './common.js';

/** An epoch-ms time in a query string ("1733580000000"). */
export const queryEpochMsSchema = z.coerce.number().pipe(epochMsSchema);

/** The opaque `nextCursor` of a previous page, passed back as `cursor`. */
export const pageCursorSchema = z
  .string()
  .min(1)
  .max(400)
  .regex(/^[A-Za-z0-9_-]+$/, 'a cursor from a previous page');

/** A boolean in a query string: true/false or 1/0. */
export const queryBooleanSchema = z
  .enum(['true', 'false', '1', '0'])
  .transform((value) => value === 'true' || value === '1');
